"""``harness table mmdl_eg.table1`` end to end on the three miniatures (natural-scenes-mini over two of
its folds, nuswide-mini, iaprtc12-mini), tiny MMDL-EG settings; and ``harness run`` of mlknn /
all_negative on the real MULAN scene files when ../shared/data has them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import results
from harness.cli import main
from leaderboards import tables
from tests.conftest import shared_data

pytestmark = pytest.mark.slow

TINY = ["mmdl_eg.hidden=8", "mmdl_eg.epochs=1", "mmdl_eg.online_steps=20", "mmdl_eg.etas=0.1,1.0"]


def test_table1_on_the_three_miniatures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    text = (tables.SPEC_DIR / "mmdl_eg.yaml").read_text()
    assert "over: {fold: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}" in text
    (spec_dir / "mmdl_eg.yaml").write_text(text.replace("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", "[1, 2]"))  # two folds: time
    out = tmp_path / "runs"
    sets = [x for s in TINY for x in ("--set", s)]
    code = main(["table", "mmdl_eg.table1", "--spec-dir", str(spec_dir), "--dataset", "nuswide-mini", "--out", str(out),
                 "--device", "cpu", *sets])  # fmt: skip
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "0 failed, 0 missing" in stderr and "plot of fit.weights" in stderr
    assert "MMDL-EG (proposed) vs LL (ML-kNN), natural scenes: paired Wilcoxon signed-rank over 2 (seed, part) pairs" in stdout
    summary = json.loads((out / "tables" / "mmdl_eg.table1@nuswide-mini.json").read_text())
    cells = {(c["row"], c["column"]): c for c in summary["cells"]}
    assert {cells[("ours", c)]["dataset"] for c in ("scenes", "nuswide", "iapr")} == {
        "natural-scenes-mini", "nuswide-mini", "iaprtc12-mini"}  # fmt: skip
    assert cells[("ours", "scenes")]["parts"] == 2 and cells[("drc", "iapr")]["published"] == 0.0493
    paired = {t["column"]: t for t in summary["row_tests"]}  # the paired tests, as printed, in the JSON too
    assert paired["scenes"]["a"] == "ours" and paired["scenes"]["b"] == "ll" and paired["scenes"]["n_pairs"] == 2
    assert f"p = {paired['scenes']['pvalue']:.3g}" in stdout
    recorded = results.read_table(out)
    test_rows = recorded[(recorded.eval_split == "test") & (recorded.metric == "hamming_loss") & (recorded.concept == "")]
    # The trivial row equals the data's all-negative baseline that every run records beside its loss.
    baseline = recorded[(recorded.metric == "hamming_loss_all_negative") & (recorded.method == "all_negative")]
    trivial = test_rows[test_rows.method == "all_negative"]
    assert sorted(trivial.value) == pytest.approx(sorted(baseline.value))
    notes = [json.loads(n) for n in test_rows[test_rows.method == "mmdl_eg"].notes_json]
    assert {tuple(n["fit"]["modalities"][:3]) for n in notes} >= {("miml_bags/linear", "miml_bags/cosine", "miml_bags/rbf")}
    assert (out / "tables" / "mmdl_eg.table1@nuswide-mini.weights.png").stat().st_size > 0


def test_run_on_the_real_scene_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = shared_data("multilabel", "scene")
    for method in ("mlknn", "all_negative"):
        code = main(["run", "--method", method, "--dataset", "scene", "--data-root", str(root), "--out", str(tmp_path)])
        stdout, stderr = capsys.readouterr()
        assert code == 0, stderr
        assert "hamming_loss_all_negative  0.1810" in stdout  # the mandatory trivial baseline, printed
    rows = results.read_table(tmp_path)
    loss = rows[(rows.metric == "hamming_loss") & (rows.concept == "")].set_index("method").value.astype(float)
    assert loss["all_negative"] == pytest.approx(0.1810, abs=5e-5)
    assert loss["mlknn"] < 0.15  # measured 0.0989 (seed-free: ML-kNN has no randomness)
