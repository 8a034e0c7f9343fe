"""Hardware fingerprint, the determinism switches and the mixed-fingerprint warning."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness import environment, seeding


def test_fingerprint_names_cpu_threads_and_deterministic_flags_and_hashes_stably() -> None:
    fp = environment.hardware_fingerprint("cpu")
    for key in ("cpu", "isa", "torch", "torch_cpu_capability", "torch_threads", "numpy_blas",
                "deterministic_algorithms", "cuda"):
        assert key in fp and isinstance(fp[key], str), key
    assert environment.fingerprint_hash(fp) == environment.fingerprint_hash(dict(fp))
    changed = {**fp, "torch_threads": str(int(fp["torch_threads"]) + 1)}
    assert environment.fingerprint_hash(changed) != environment.fingerprint_hash(fp)
    column = environment.fingerprint_column(fp)
    short, payload = column.split(" ", 1)
    assert short == environment.fingerprint_hash(fp) and json.loads(payload) == fp


def test_make_deterministic_fixes_threads_and_turns_on_deterministic_algorithms(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    before = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled())
    monkeypatch.setenv(seeding.THREADS_ENV, "1")
    try:
        done = seeding.make_deterministic()
        assert done["threads"] == 1 and torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
        assert environment.hardware_fingerprint()["deterministic_algorithms"] == "True"
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1], warn_only=before[2])
    monkeypatch.setenv(seeding.THREADS_ENV, "zero")
    with pytest.raises(ValueError, match="HARNESS_THREADS must be a positive integer"):
        seeding.training_threads()


def test_loader_generator_is_derived_from_the_seed() -> None:
    import torch

    a = torch.randint(0, 1000, (5,), generator=seeding.loader_generator(3, "loader"))
    b = torch.randint(0, 1000, (5,), generator=seeding.loader_generator(3, "loader"))
    c = torch.randint(0, 1000, (5,), generator=seeding.loader_generator(4, "loader"))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_mixed_fingerprints_in_one_cell_are_reported_and_uniform_cells_are_not() -> None:
    rows = pd.DataFrame([
        {"run_id": "r1", "method": "lr", "dataset": "d", "config_hash": "h", "fingerprint": "aaa {}"},
        {"run_id": "r1", "method": "lr", "dataset": "d", "config_hash": "h", "fingerprint": "aaa {}"},
        {"run_id": "r2", "method": "lr", "dataset": "d", "config_hash": "h", "fingerprint": "bbb {}"},
        {"run_id": "r3", "method": "cmtl", "dataset": "d", "config_hash": "h", "fingerprint": "aaa {}"},
        {"run_id": "r4", "method": "cmtl", "dataset": "d", "config_hash": "h", "fingerprint": "aaa {}"},
        {"run_id": "r5", "method": "amtl", "dataset": "d", "config_hash": "h", "fingerprint": None},
        {"run_id": "r6", "method": "amtl", "dataset": "d", "config_hash": "h", "fingerprint": "ccc {}"},
    ])
    warnings = environment.mixed_fingerprint_warnings(rows)
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("cell amtl/d/h mixes") and "unknown (1 run)" in warnings[0]
    assert warnings[1].startswith("cell lr/d/h mixes") and "aaa (1 run)" in warnings[1] and "bbb (1 run)" in warnings[1]
    assert environment.mixed_fingerprint_warnings(rows.drop(columns="fingerprint")) == []
