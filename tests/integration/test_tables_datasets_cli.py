"""``harness table`` end to end on tiny specs in a --spec-dir: a column per data set (two multi-label
miniatures that ship features, Hamming loss: lower is better, ``select`` on the validation Hamming
loss), and a cell over UCF101 splits 1-3 with the reference method ``nearest_class_mean``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import results
from harness.cli import main

pytestmark = pytest.mark.slow

SPEC = """\
paper: toy
metric: hamming_loss
unit: ""
digits: 3
tables:
  multi:
    title: "Toy multi-label table: LR on provided features"
    columns:
      - {key: scene, label: Scene, dataset: [scene, scene-mini]}
      - {key: nus, label: NUS-WIDE, dataset: [nuswide, nuswide-mini]}
    rows:
      - {key: lr, label: LR, method: lr, settings: {backbone: provided, layer: all}, published: {scene: 0.090, nus: 0.020}}
    cells:
      lr:
        scene: {method: lr, settings: {backbone: provided, layer: all}, published: 0.090, select: {param: C, values: [0.01, 1.0]}}
  ucf:
    title: "Toy UCF101 table: nearest class mean over the three splits"
    metric: video_accuracy
    unit: "%"
    scale: 100
    digits: 2
    datasets: [ucf101, ucf101-mini]
    columns:
      - {key: mean, label: "Splits 1-3", over: {split: [1, 2, 3]}, dataset_options: {check_videos: none}}
    rows:
      - {key: ncm, label: NCM, method: nearest_class_mean, published: {mean: 60.0}}
"""


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "toy.yaml").write_text(SPEC)
    return folder


def test_a_column_per_multilabel_data_set(spec_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs"
    args = ["table", "toy.multi", "--spec-dir", str(spec_dir), "--dataset", "scene-mini", "--out", str(out), "--device", "cpu"]
    assert main(["table", "list", "--spec-dir", str(spec_dir)]) == 0
    assert capsys.readouterr().out.split() == ["toy.multi", "toy.ucf"]
    code = main(args)
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "Metric: hamming_loss (lower is better); data sets: Scene: scene-mini, NUS-WIDE: nuswide-mini" in stdout
    assert "0 failed, 0 missing" in stderr

    recorded = results.read_table(out)
    test_rows = recorded[(recorded.eval_split == "test") & (recorded.metric == "hamming_loss") & (recorded.concept == "")]
    assert sorted(test_rows.dataset) == ["nuswide-mini", "scene-mini"] and not test_rows.higher_is_better.any()
    val = recorded[(recorded.eval_split == "val") & (recorded.concept == "")]
    assert set(val.dataset) == {"scene-mini"} and len(val.run_id.unique()) == 2
    # select kept the C with the smaller validation Hamming loss (not the larger, as a higher-is-better rule would)
    val_loss = {json.loads(r.params_json)["config"]["C"]: r.value for r in val[val.metric == val.metric.iloc[0]].itertuples()}
    best_c = min(val_loss, key=val_loss.get)
    assert f"lr/scene: selected on validation seed 0: {best_c}" in stdout.replace("\\", "")

    summary = json.loads((out / "tables" / "toy.multi@scene-mini.json").read_text())
    cells = {c["column"]: c for c in summary["cells"]}
    assert {c: cells[c]["dataset"] for c in cells} == {"scene": "scene-mini", "nus": "nuswide-mini"}
    assert all(c["higher_is_better"] is False and c["n"] == 1 and c["miniature"] for c in cells.values())
    assert cells["scene"]["mean"] == pytest.approx(float(test_rows[test_rows.dataset == "scene-mini"].value.iloc[0]))

    assert main([*args, "--no-run"]) == 0
    assert "0 executed" in capsys.readouterr().err


def test_a_cell_over_the_three_ucf101_splits(spec_dir: Path, tmp_path: Path, shared_home: Path,
                                             monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))
    out = tmp_path / "runs"
    code = main(["table", "toy.ucf", "--spec-dir", str(spec_dir), "--dataset", "ucf101-mini", "--out", str(out),
                 "--device", "cpu"])  # fmt: skip
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "Cells over split 1, 2, 3 (every cell)" in stdout and "MINIATURE data set ucf101-mini" in stdout

    recorded = results.read_table(out)
    test_rows = recorded[(recorded.eval_split == "test") & (recorded.metric == "video_accuracy") & (recorded.concept == "")]
    assert sorted(json.loads(p)["dataset"]["split"] for p in test_rows.params_json) == [1, 2, 3]
    assert len(set(test_rows.config_hash)) == 3
    (cell,) = json.loads((out / "tables" / "toy.ucf@ucf101-mini.json").read_text())["cells"]
    per_split = 100 * test_rows.value.astype(float)
    assert cell["n"] == 3 and cell["over"] == "split 1, 2, 3" and cell["parts"] == 3
    assert cell["mean"] == pytest.approx(per_split.mean()) and cell["std"] == pytest.approx(per_split.std(ddof=1))
    assert sorted(cell["run_ids"]) == sorted(test_rows.run_id)
