"""Paper tables: spec loading, planning, reuse lookup, aggregation and a golden rendering (no training)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from harness import table_runs
from harness.errors import InvalidParameterError, UnknownNameError
from harness.results import COLUMNS
from leaderboards import tables

SPEC = """\
paper: toy
metric: mxinfap
unit: "%"
datasets: [trecvid2013-mini]
sources:
  net: {method: default_tl_hinge, settings: {fine_tuning: b}}
miniature:
  default_tl_hinge: {max_epochs: 2}
tables:
  t:
    title: "Toy table"
    columns:
      - {key: src, label: "Source"}
      - {key: ft, label: "Fine-tuned"}
    rows:
      - {key: lr, label: LR, method: lr, published: {src: 18.57, ft: 22.34}}
      - {key: direct, label: Direct}
    cells:
      lr:
        ft: {method: lr, settings: {backbone: "{source:net}", backbone_weights: "seed{seed}"}, published: 22.34}
      direct:
        ft: {method: default_tl_hinge, settings: {fine_tuning: b}, published: 19.91}
    claims:
      - {text: "fine-tuning helps LR", kind: columns_greater, a: ft, b: src, over: [lr]}
"""


@pytest.fixture
def spec(tmp_path: Path) -> tables.TableSpec:
    (tmp_path / "toy.yaml").write_text(SPEC)
    return tables.get_table("toy.t", spec_dir=tmp_path)


def _rows(run: tables.PlannedRun, run_id: str, value: float, *, mini: bool = True) -> list[dict]:
    base = {"run_id": run_id, "status": "FINISHED", "dataset": run.dataset, "is_miniature": mini,
            "method": run.method, "config_hash": run.config_hash, "seed": run.seed,
            "higher_is_better": True, "timestamp": float(run.seed), "params_json": "{}", "tags_json": "{}",
            "eval_split": "test"}
    return [{**base, "metric": "mxinfap", "concept": "", "value": value},
            {**base, "metric": "xinfap", "concept": "c1", "value": value / 100}]


def _plan(spec: tables.TableSpec, tmp_path: Path, seeds: tuple[int, ...] = (0, 1)) -> list[tables.PlannedRun]:
    return [table_runs.make_run(spec, cell, "trecvid2013-mini", seed, True)
            for seed in seeds for cell in spec.cells.values()]


def test_spec_cells_settings_and_placeholders(spec: tables.TableSpec) -> None:
    assert set(spec.cells) == {("lr", "src"), ("lr", "ft"), ("direct", "ft")}
    assert spec.cells[("lr", "src")].published == 18.57
    cell = spec.cells[("lr", "ft")]
    sets = tables.cell_sets(spec, cell, 3, True)
    # The source carries the miniature settings of its method, so it names the network its own cell trains.
    assert "backbone=default_tl_hinge:fine_tuning=b;max_epochs=2" in sets
    assert "backbone_weights=seed3" in sets
    assert tables.cell_sets(spec, spec.cells[("direct", "ft")], 0, True) == ("fine_tuning=b", "max_epochs=2")
    assert tables.cell_sets(spec, spec.cells[("direct", "ft")], 0, False) == ("fine_tuning=b",)


def test_real_specs_load_with_published_values() -> None:
    t1 = tables.get_table("dmtl_lc.table1")
    t2 = tables.get_table("dmtl_lc.table2")
    assert len(t1.cells) == 24 and t1.cells[("dmtl_lc", "c")].published == 22.60
    assert len(t2.cells) == 15 and ("direct", "alexnet") not in t2.cells
    assert t2.cells[("dmtl_lc", "default_tl")].published == 25.04
    assert t2.cells[("direct", "default_tl")].published == 19.91


def test_unknown_table_and_bad_spec(tmp_path: Path, spec: tables.TableSpec) -> None:
    with pytest.raises(UnknownNameError, match="Did you mean toy.t"):
        tables.get_table("toy.tt", spec_dir=tmp_path)
    (tmp_path / "bad.yaml").write_text(SPEC.replace("published: 19.91", "published: high"))
    with pytest.raises(InvalidParameterError, match=r"bad.yaml: tables.t.cells.direct.ft.published"):
        tables.get_table("bad.t", spec_dir=tmp_path)


def test_reuse_lookup_matches_config_hash_seed_and_split(spec: tables.TableSpec, tmp_path: Path) -> None:
    runs = _plan(spec, tmp_path, (0,))
    results = pd.DataFrame([r for i, run in enumerate(runs) for r in _rows(run, f"id{i}", 10.0 + i)], columns=list(COLUMNS))
    assert tables.recorded_value(results, runs[0], "mxinfap") == ("id0", 10.0)
    other_seed = table_runs.make_run(spec, runs[0].cell, "trecvid2013-mini", 5, True)
    assert tables.recorded_value(results, other_seed, "mxinfap") is None
    failed = results.assign(status="FAILED")
    assert tables.recorded_value(failed, runs[0], "mxinfap") is None


GOLDEN_MD = """\
### Toy table

Metric: mxinfap (%); data set: trecvid2013-mini; seeds: 0, 1; ours = mean ± std over seeds; Δ = ours − paper.

† computed on the MINIATURE data set trecvid2013-mini: synthetic data, not comparable with the paper's numbers.

| method | Source: ours | paper | Δ | Fine-tuned: ours | paper | Δ |
|---|---|---|---|---|---|---|
| LR | 11.00 ± 1.41† | 18.57 | -7.57 | 14.00 ± 2.83† | 22.34 | -8.34 |
| Direct | – | – | – | 12.00† | 19.91 | -7.91 |

**Notes**

- Miniature settings (added to every cell of these methods on a miniature; the paper's defaults apply on real data): default_tl_hinge: max_epochs=2

**Claims of the paper (held / compared)**

- fine-tuning helps LR: paper 1/1, ours 1/1

**MLflow runs per cell**

- LR / Source: a0, a1
- LR / Fine-tuned: b0, b1
- Direct / Fine-tuned: c0
"""


def _golden_results(spec: tables.TableSpec, tmp_path: Path) -> tuple[list[tables.PlannedRun], pd.DataFrame]:
    runs = _plan(spec, tmp_path)
    values = {("lr", "src", 0): ("a0", 10.0), ("lr", "src", 1): ("a1", 12.0), ("lr", "ft", 0): ("b0", 12.0),
              ("lr", "ft", 1): ("b1", 16.0), ("direct", "ft", 0): ("c0", 12.0)}  # direct seed 1 missing
    rows = []
    for run in runs:
        key = (run.cell.row, run.cell.column, run.seed)
        if key in values:
            rows += _rows(run, *values[key])
    return runs, pd.DataFrame(rows, columns=list(COLUMNS))


def test_golden_markdown(spec: tables.TableSpec, tmp_path: Path) -> None:
    runs, results = _golden_results(spec, tmp_path)
    agg = tables.aggregate(spec, runs, results)
    cell = agg[(agg["row"] == "lr") & (agg["column"] == "src")].iloc[0]
    assert cell["mean"] == 11.0 and cell["n"] == 2 and cell["std"] == pytest.approx(math.sqrt(2))
    assert cell["diff"] == pytest.approx(11.0 - 18.57)
    assert cell["run_ids"] == ["a0", "a1"] and bool(cell["miniature"])
    claims = tables.check_claims(spec, agg)
    text = tables.render(spec, agg, "md", dataset="trecvid2013-mini", seeds=[0, 1], claims=claims)
    assert text == GOLDEN_MD


def test_tex_and_html_carry_values_run_ids_and_miniature_label(spec: tables.TableSpec, tmp_path: Path) -> None:
    runs, results = _golden_results(spec, tmp_path)
    agg = tables.aggregate(spec, runs, results)
    tex = tables.render(spec, agg, "tex", dataset="trecvid2013-mini", seeds=[0, 1])
    assert "\\begin{table}" in tex and "11.00 ± 1.41†" in tex and "18.57" in tex and "-7.57" in tex
    assert "\\item LR / Source: a0, a1" in tex and "MINIATURE" in tex
    html = tables.render(spec, agg, "html", dataset="trecvid2013-mini", seeds=[0, 1])
    assert "<table" in html and "MLflow runs: b0, b1" in html and "MINIATURE" in html and "22.34" in html
    with pytest.raises(InvalidParameterError, match="--format"):
        tables.render(spec, agg, "pdf", dataset="x", seeds=[0])


def test_claims_count_failures(spec: tables.TableSpec, tmp_path: Path) -> None:
    runs, results = _golden_results(spec, tmp_path)
    results.loc[(results["run_id"].isin(["b0", "b1"])) & (results["concept"] == ""), "value"] = 5.0
    claims = tables.check_claims(spec, tables.aggregate(spec, runs, results))
    assert claims[0]["ours_held"] == 0 and claims[0]["ours_failed_over"] == ["lr"]
    assert claims[0]["paper_held"] == 1


def test_overrides_reach_cells_and_sources_but_cells_win(spec: tables.TableSpec, tmp_path: Path) -> None:
    over = tables.with_overrides(spec, ["default_tl_hinge.max_epochs=1", "default_tl_hinge.fine_tuning=c", "lr.C=2"])
    assert tables.cell_sets(over, over.cells[("direct", "ft")], 0, True) == ("fine_tuning=b", "max_epochs=1")
    sets = tables.cell_sets(over, over.cells[("lr", "ft")], 0, True)
    assert "C=2" in sets and "backbone=default_tl_hinge:fine_tuning=b;max_epochs=1" in sets
    with pytest.raises(InvalidParameterError, match="METHOD.KEY=VALUE"):
        tables.with_overrides(spec, ["max_epochs=1"])
    with pytest.raises(InvalidParameterError, match="no cell of method 'dmtl'"):
        tables.with_overrides(spec, ["dmtl.k=3"])
