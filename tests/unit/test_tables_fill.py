"""``harness.table_runs.fill`` without training: which runs it asks the runner for (data set per
column, ``over`` parts, data roots), and which ``select`` candidate it keeps in the metric's direction."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness import results, table_runs
from leaderboards import tables

SPEC = """\
paper: toy
metric: hamming_loss
unit: ""
tables:
  sel:
    title: "Select C"
    columns:
      - {key: scene, label: Scene, dataset: scene-mini}
    rows:
      - {key: lr, label: LR}
    cells:
      lr:
        scene: {method: lr, settings: {backbone: provided, layer: all}, select: {param: C, values: [0.1, 1.0, 10.0]}}
  mixed:
    title: "Two data sets and splits"
    datasets: [trecvid2013-mini]
    columns:
      - {key: sin, label: SIN}
      - {key: ucf, label: UCF101 1-3, dataset: ucf101-mini, metric: top1_accuracy, over: {split: [1, 2, 3]}}
    rows:
      - {key: base, label: Baseline}
    cells:
      base: {sin: {method: lr}, ucf: {method: nearest_class_mean}}
"""

VAL_SCORES = {0.1: 0.20, 1.0: 0.10, 10.0: 0.15}  # Hamming loss on the validation split


@pytest.fixture
def specs(tmp_path: Path) -> dict[str, tables.TableSpec]:
    (tmp_path / "toy.yaml").write_text(SPEC)
    return tables.load_spec("toy", tmp_path)


def _record_val_runs(spec: tables.TableSpec, out: Path, higher: bool) -> None:
    cell = spec.cells[("lr", "scene")]
    for i, (value, score) in enumerate(VAL_SCORES.items()):
        run = table_runs.make_run(spec, cell, "scene-mini", 0, True, extra={"C": value}, eval_split="val", candidate=value)
        row = {"run_id": f"val{i}", "status": "FINISHED", "dataset": run.dataset, "is_miniature": True,
               "method": run.method, "config_hash": run.config_hash, "seed": 0, "concept": "", "higher_is_better": higher,
               "timestamp": float(i), "params_json": "{}", "tags_json": "{}", "eval_split": "val"}  # fmt: skip
        # an extra output of the metric entry, recorded first and constant: never the validation score
        results.append_rows(out, [{**row, "metric": "hamming_loss_all_negative", "value": 0.5},
                                  {**row, "metric": "hamming_loss", "value": score}])  # fmt: skip


@pytest.mark.parametrize(("higher", "chosen"), [(False, 1.0), (True, 0.1)])
def test_select_keeps_the_best_validation_score_in_the_recorded_direction(
    specs: dict[str, tables.TableSpec], tmp_path: Path, higher: bool, chosen: float
) -> None:
    spec, out = specs["sel"], tmp_path / f"runs-{higher}"
    _record_val_runs(spec, out, higher)
    planned, report = table_runs.fill(spec, "scene-mini", [0], out_dir=out, run_missing=False, echo=lambda _m: None)
    assert report.reused == 3 and report.choices == {"lr/scene": {0: chosen}}
    (run,) = planned
    assert f"C={chosen!r}" in run.sets and run.eval_split == "test"
    assert report.missing == ["LR / Scene (seed 0)"]  # the test run itself was not recorded


def test_fill_runs_each_column_on_its_data_set_and_each_split(specs: dict[str, tables.TableSpec], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from harness import runner

    calls: list[Any] = []

    def fake_execute(request: Any) -> Any:
        calls.append(request)
        return SimpleNamespace(run_id=f"run{len(calls)}", overall={"x": 1.0})

    monkeypatch.setattr(runner, "execute", fake_execute)
    root = tmp_path / "sin-root"
    planned, report = table_runs.fill(specs["mixed"], "trecvid2013-mini", [0, 1], out_dir=tmp_path / "runs",
                                      data_root=root, device="cpu", echo=lambda _m: None)  # fmt: skip
    assert report.executed == len(calls) == 8 and not report.failed
    got = [(r.dataset, r.seed, r.data_root, tuple(s for s in r.sets if s.startswith("dataset."))) for r in calls]
    assert got == [(ds, seed, root if ds == "trecvid2013-mini" else None, sets) for seed in (0, 1) for ds, sets in
                   [("trecvid2013-mini", ()), *[("ucf101-mini", (f"dataset.split={p}",)) for p in (1, 2, 3)]]]  # fmt: skip
    assert all(r.device == "cpu" and r.tags["harness.table"] == "toy.mixed" for r in calls)
    assert [(r.cell.column, r.part) for r in planned[:4]] == [("sin", None), ("ucf", 1), ("ucf", 2), ("ucf", 3)]
    assert len({r.config_hash for r in planned if r.cell.column == "ucf"}) == 3  # the split is part of the config
    assert table_runs.metric_directions(specs["mixed"]) == {"hamming_loss": False, "top1_accuracy": True}


def test_tuned_rows_refuse_a_table_whose_columns_name_other_data_sets(specs: dict[str, tables.TableSpec], tmp_path: Path) -> None:
    from harness import table_tuned
    from harness.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="the columns UCF101 1-3 of toy.mixed name their own data sets"):
        table_tuned.prepare_tuned(specs["mixed"], "trecvid2013-mini", tmp_path)
