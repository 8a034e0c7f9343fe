"""Table specs with a column per data set, data-set options, cells aggregated ``over`` splits, and
lower-is-better metrics (Hamming loss): planning, aggregation and rendering, pure (no runs)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from statistics import mean, stdev

import pandas as pd
import pytest

from harness.errors import InvalidParameterError
from harness.results import COLUMNS
from leaderboards import tables

SPEC = """\
paper: toy
metric: hamming_loss
unit: ""
digits: 3
tables:
  multi:
    title: "Toy multi-label table"
    columns:
      - {key: scene, label: Scene, dataset: [scene, scene-mini]}
      - {key: nus, label: NUS-WIDE, dataset: [nuswide, nuswide-mini]}
    rows:
      - {key: lr, label: LR, method: lr, settings: {backbone: provided}, published: {scene: 0.090, nus: 0.020}}
      - {key: ml, label: ML-kNN, method: mlknn, published: {scene: 0.084, nus: 0.025}}
    claims:
      - {text: "ML-kNN beats LR", kind: rows_greater, a: ml, b: lr, over: all}
      - {text: "ML-kNN is the best", kind: row_best, a: ml, over: all}
  ucf:
    title: "Toy UCF101 table"
    metric: top1_accuracy
    unit: "%"
    scale: 100
    digits: 2
    datasets: [ucf101, ucf101-mini]
    columns:
      - {key: mean, label: "Splits 1-3", over: {split: [1, 2, 3]}}
      - {key: s2, label: "Split 2", dataset_options: {split: 2}}
    rows:
      - {key: ncm, label: NCM, method: nearest_class_mean, published: {mean: 60.0, s2: 61.0}}
"""


@pytest.fixture
def specs(tmp_path: Path) -> dict[str, tables.TableSpec]:
    (tmp_path / "toy.yaml").write_text(SPEC)
    return tables.load_spec("toy", tmp_path)


def _plan(spec: tables.TableSpec, dataset: str, seeds: tuple[int, ...]) -> list[tables.PlannedRun]:
    """Every test run of the table, as harness.table_runs.fill plans them; a stand-in config hash from
    the ``--set`` items (the runner's hash covers the data set's config too, so splits differ)."""
    runs = []
    for seed in seeds:
        for cell in tables.cell_order(spec):
            ds = tables.cell_dataset(cell, dataset)
            for part in tables.cell_parts(cell):
                run = tables.plan_run(spec, cell, ds, seed, tables.is_miniature_name(ds), part=part)
                runs.append(dataclasses.replace(run, config_hash="|".join((run.method, *run.sets))))
    return runs


def _results(values: dict[tuple[str, str, int, object], float], planned: list[tables.PlannedRun], metric: str,
             higher: bool) -> pd.DataFrame:  # fmt: skip
    rows = []
    for i, run in enumerate(planned):
        key = (run.cell.row, run.cell.column, run.seed, run.part)
        if key in values:
            rows.append({"run_id": f"r{i}", "status": "FINISHED", "dataset": run.dataset, "is_miniature": True,
                         "method": run.method, "config_hash": run.config_hash, "seed": run.seed, "metric": metric,
                         "concept": "", "value": values[key], "higher_is_better": higher, "timestamp": float(i),
                         "params_json": "{}", "tags_json": "{}", "eval_split": "test"})  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_a_column_per_data_set_picks_the_miniature_like_the_tables_data_set(specs: dict[str, tables.TableSpec]) -> None:
    spec = specs["multi"]
    assert spec.datasets == ("scene", "scene-mini", "nuswide", "nuswide-mini")  # no top-level datasets: the columns'
    nus = spec.cells[("lr", "nus")]
    assert tables.cell_dataset(nus, "scene-mini") == "nuswide-mini"
    assert tables.cell_dataset(nus, "scene") == "nuswide"
    assert tables.cell_dataset(nus, "nuswide-mini") == "nuswide-mini"
    fixed = tables.CellSpec("lr", "nus", "lr", datasets=("nuswide-mini",))
    with pytest.raises(InvalidParameterError, match="none is a real data set like --dataset scene"):
        tables.cell_dataset(fixed, "scene")  # never a miniature in place of real data
    runs = _plan(spec, "scene-mini", (0,))
    assert {(r.cell.column, r.dataset) for r in runs} == {("scene", "scene-mini"), ("nus", "nuswide-mini")}
    assert all(r.sets == ("backbone=provided",) for r in runs if r.method == "lr")


def test_data_set_options_and_over_become_dataset_sets(specs: dict[str, tables.TableSpec]) -> None:
    spec = specs["ucf"]
    over = spec.cells[("ncm", "mean")]
    assert over.over == tables.Over("split", (1, 2, 3)) and tables.cell_parts(over) == (1, 2, 3)
    runs = _plan(spec, "ucf101-mini", (0, 1))
    by_cell = {}
    for r in runs:
        by_cell.setdefault(r.cell.column, []).append((r.seed, r.part, r.sets))
    assert by_cell["mean"] == [(s, p, (f"dataset.split={p}",)) for s in (0, 1) for p in (1, 2, 3)]
    assert by_cell["s2"] == [(0, None, ("dataset.split=2",)), (1, None, ("dataset.split=2",))]
    with pytest.raises(InvalidParameterError, match="needs a part exactly when"):
        tables.plan_run(spec, over, "ucf101-mini", 0, True)


def test_bad_over_and_dataset_are_refused_with_the_place(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(SPEC.replace("over: {split: [1, 2, 3]}", "over: {split: [1, 2], fold: [1]}"))
    with pytest.raises(InvalidParameterError, match=r"bad.yaml: tables.ucf.columns\[0\].over: 'over' names one"):
        tables.load_spec("bad", tmp_path)
    (tmp_path / "bad2.yaml").write_text(SPEC.replace("dataset: [scene, scene-mini]", "dataset: []"))
    with pytest.raises(InvalidParameterError, match=r"tables.multi.columns\[0\].dataset: expected a data set name"):
        tables.load_spec("bad2", tmp_path)
    (tmp_path / "bad3.yaml").write_text(SPEC.replace(", dataset: [scene, scene-mini]", ""))
    with pytest.raises(InvalidParameterError, match="missing 'datasets'"):
        tables.load_spec("bad3", tmp_path)


UCF_VALUES = {  # top1 accuracy per (seed, split); split 3 has seed 0 only
    ("ncm", "mean", 0, 1): 0.50, ("ncm", "mean", 1, 1): 0.54, ("ncm", "mean", 0, 2): 0.60, ("ncm", "mean", 1, 2): 0.62,
    ("ncm", "mean", 0, 3): 0.70,
}  # fmt: skip


def test_a_cell_over_splits_is_the_mean_and_std_over_split_means(specs: dict[str, tables.TableSpec]) -> None:
    spec = specs["ucf"]
    planned = _plan(spec, "ucf101-mini", (0, 1))
    agg = tables.aggregate(spec, planned, _results(UCF_VALUES, planned, "top1_accuracy", True))
    cell = agg[agg["column"] == "mean"].iloc[0]
    split_means = [52.0, 61.0, 70.0]  # seeds averaged inside each split, then over the splits
    assert cell["mean"] == pytest.approx(mean(split_means)) and cell["std"] == pytest.approx(stdev(split_means))
    assert cell["n"] == 3 and (cell["parts"], cell["parts_total"]) == (3, 3) and cell["over"] == "split 1, 2, 3"
    assert len(cell["run_ids"]) == 5 and cell["dataset"] == "ucf101-mini"
    # "Split 2" is the same configuration as the split-2 runs of the other column: the same runs count
    s2 = agg[agg["column"] == "s2"].iloc[0]
    assert s2["mean"] == pytest.approx(61.0) and s2["n"] == 2 and s2["over"] == ""
    assert set(s2["run_ids"]) < set(cell["run_ids"])
    # a split without any result: n counts the splits that have one, and the cell says so
    partial = {k: v for k, v in UCF_VALUES.items() if k[3] != 3}
    agg2 = tables.aggregate(spec, planned, _results(partial, planned, "top1_accuracy", True))
    cell2 = agg2[agg2["column"] == "mean"].iloc[0]
    assert cell2["n"] == 2 and cell2["mean"] == pytest.approx(56.5)
    assert "56.50 ± 6.36 (2/3)†" in tables.render(spec, agg2, "md", dataset="ucf101-mini", seeds=[0, 1])


MULTI_VALUES = {("lr", "scene", 0, None): 0.095, ("lr", "scene", 1, None): 0.091, ("lr", "nus", 0, None): 0.030,
                ("ml", "scene", 0, None): 0.080, ("ml", "nus", 0, None): 0.021}  # fmt: skip

GOLDEN_MULTI = """\
### Toy multi-label table

Metric: hamming_loss (lower is better); data sets: Scene: scene-mini, NUS-WIDE: nuswide-mini; seeds: 0, 1; ours = mean ± std over seeds; Δ = ours − paper.

† computed on the MINIATURE data sets scene-mini, nuswide-mini: synthetic data, not comparable with the paper's numbers.

| method | Scene: ours | paper | Δ | NUS-WIDE: ours | paper | Δ |
|---|---|---|---|---|---|---|
| LR | 0.093 ± 0.003† | 0.090 | +0.003 | 0.030† | 0.020 | +0.010 |
| ML-kNN | 0.080† | 0.084 | -0.004 | 0.021† | 0.025 | -0.004 |

**Claims of the paper (held / compared)**

- ML-kNN beats LR: paper 1/2, ours 2/2
- ML-kNN is the best: paper 1/2, ours 2/2

**MLflow runs per cell**

- LR / Scene: r0, r4
- LR / NUS-WIDE: r1
- ML-kNN / Scene: r2
- ML-kNN / NUS-WIDE: r3
"""


def test_lower_is_better_claims_and_rendering(specs: dict[str, tables.TableSpec]) -> None:
    spec = specs["multi"]
    planned = _plan(spec, "scene-mini", (0, 1))
    results = _results(MULTI_VALUES, planned, "hamming_loss", False)
    agg = tables.aggregate(spec, planned, results)
    assert not agg["higher_is_better"].any()  # read from the results rows
    claims = {c["text"]: c for c in tables.check_claims(spec, agg)}
    # smaller Hamming loss is better: ML-kNN (0.080, 0.021) beats LR (0.093, 0.030) in both columns;
    # in the paper ML-kNN is better on scene (0.084 < 0.090) but not on NUS-WIDE (0.025 > 0.020)
    assert (claims["ML-kNN beats LR"]["ours_held"], claims["ML-kNN beats LR"]["ours_total"]) == (2, 2)
    assert (claims["ML-kNN beats LR"]["paper_held"], claims["ML-kNN is the best"]["ours_held"]) == (1, 2)
    # the same numbers read as higher-is-better would flip every comparison
    flipped = tables.check_claims(spec, tables.aggregate(spec, planned, results.assign(higher_is_better=True)))
    assert flipped[0]["ours_held"] == 0
    text = tables.render(spec, agg, "md", dataset="scene-mini", seeds=[0, 1], claims=list(claims.values()))
    assert text == GOLDEN_MULTI


def test_the_spec_direction_counts_when_no_run_recorded_one(specs: dict[str, tables.TableSpec]) -> None:
    spec = specs["multi"]
    planned = _plan(spec, "scene-mini", (0,))
    empty = _results({}, planned, "hamming_loss", False)
    assert tables.aggregate(spec, planned, empty)["higher_is_better"].all()  # nothing known: higher
    known = tables.with_directions(spec, {"hamming_loss": False})
    agg = tables.aggregate(known, planned, empty)
    assert not agg["higher_is_better"].any()
    assert "Metric: hamming_loss (lower is better)" in tables.render(known, agg, "md", dataset="scene-mini", seeds=[0])
    claims = tables.check_claims(known, agg)  # published only: ML-kNN lower on scene, higher on NUS-WIDE
    assert (claims[0]["paper_held"], claims[0]["paper_total"], claims[0]["ours_total"]) == (1, 2, 0)


def test_select_takes_the_best_candidate_in_the_metrics_direction() -> None:
    scores = [(0.1, 0.20, False), (1.0, 0.10, False), (10.0, 0.15, False)]
    assert tables.best_candidate(scores) == 1.0  # Hamming loss: the smallest
    assert tables.best_candidate([(c, s, True) for c, s, _ in scores]) == 0.1  # mAP: the largest
    assert tables.best_candidate([(0.1, math.nan, True), (1.0, 0.3, True), (2.0, 0.3, True)]) == 1.0  # ties: first
    assert tables.best_candidate([(0.1, math.nan, False)]) is None


def test_the_readme_example_spec_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Table specs: columns per data set"):]
    example = section[section.index("```yaml\n") + 8:section.index("```\n", section.index("```yaml\n") + 8)]
    (tmp_path / "readme.yaml").write_text("paper: readme\n" + example)
    t1, t3 = tables.get_table("readme.table1", tmp_path), tables.get_table("readme.table3", tmp_path)
    assert t1.datasets == ("scene", "scene-mini", "nuswide", "nuswide-mini") and t1.digits == 3
    assert t3.metric == "top1_accuracy" and t3.datasets == ("ucf101", "ucf101-mini")
    mean_cell, s1 = t3.cells[("ncm", "mean")], t3.cells[("ncm", "s1")]
    assert mean_cell.over == tables.Over("split", (1, 2, 3)) and s1.over is None and s1.dataset_options == {"split": 1}
