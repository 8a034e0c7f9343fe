"""harness.repro: the golden-file comparison names the cells that moved."""

from __future__ import annotations

import json

import pytest

from harness import repro


def test_compare_passes_inside_the_band_and_names_moved_and_missing_cells() -> None:
    golden = {"cells": {"lr@d#s0": 24.0, "dmtl_lc@d#s0": 10.0, "dmtl_lc@d#s1": 11.0},
              "tolerance": {"lr": 0.1, "dmtl_lc": 1.0}}
    ok, lines = repro.compare({"lr@d#s0": 24.05, "dmtl_lc@d#s0": 10.9, "dmtl_lc@d#s1": 11.0}, golden)
    assert ok and all(line.lstrip().startswith("ok") for line in lines)
    ok, lines = repro.compare({"lr@d#s0": 24.2, "dmtl_lc@d#s0": 10.0}, golden)
    assert not ok
    text = "\n".join(lines)
    assert "MOVED lr@d#s0" in text and "diff +0.2000" in text and "MISSING dmtl_lc@d#s1" in text
    assert "ok    dmtl_lc@d#s0" in text


def test_the_committed_golden_file_covers_the_grid_with_a_documented_band() -> None:
    if not repro.GOLDEN.is_file():  # written by 'python -m harness.repro --write-golden'
        pytest.skip(f"no golden file {repro.GOLDEN} yet: write it with 'python -m harness.repro --write-golden'")
    golden = json.loads(repro.GOLDEN.read_text())
    expected = {f"{m}@{repro.DATASET}#s{s}" for m in repro.METHODS for s in range(repro.SEEDS)}
    assert set(golden["cells"]) == expected
    assert set(golden["tolerance"]) == set(repro.METHODS) and golden["tolerance_why"]
