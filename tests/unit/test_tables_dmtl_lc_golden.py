"""Regression oracle: the DMTL_LC tables rendered from a fixed, hand-made results table.

The golden texts in ``tables_golden/`` were produced by the code before ``leaderboards/tables.py``
was split (and before tables learnt data-set columns, ``over:`` and metric directions); the same
results must keep giving byte-identical Markdown and JSON. Regenerate on purpose only:
``HARNESS_WRITE_GOLDEN=1 pytest tests/unit/test_tables_dmtl_lc_golden.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from harness import table_runs
from harness.results import COLUMNS
from leaderboards import tables

GOLDEN = Path(__file__).resolve().parent / "tables_golden"
DATASET = "trecvid2013-mini"
SEEDS = (0, 1)
CONCEPTS = ("c1", "c2", "c3")


def _plan(spec: tables.TableSpec, tmp_path: Path) -> list[tables.PlannedRun]:
    return [table_runs.make_run(spec, cell, DATASET, seed, True) for seed in SEEDS for cell in spec.cells.values()]


def _value(spec: tables.TableSpec, row: str, column: str, seed: int) -> float:
    """A distinct, deterministic MXinfAP per cell and seed (some near the published values, so that
    claims hold in some columns and fail in others)."""
    r = [k for k, _ in spec.rows].index(row)
    c = [k for k, _ in spec.columns].index(column)
    return round(12.0 + 1.7 * r + 0.9 * c + 0.35 * seed + (0.8 if (r + c) % 3 == 0 else 0.0), 4)


def _results(spec: tables.TableSpec, planned: list[tables.PlannedRun]) -> pd.DataFrame:
    rows = []
    for i, run in enumerate(planned):
        if (run.cell.row, run.cell.column, run.seed) == (spec.rows[0][0], spec.columns[-1][0], 1):
            continue  # one missing seed: n = 1 in that cell
        value = _value(spec, run.cell.row, run.cell.column, run.seed)
        base = {"run_id": f"r{i:02d}", "status": "FINISHED", "dataset": run.dataset, "is_miniature": True,
                "method": run.method, "config_hash": run.config_hash, "seed": run.seed,
                "higher_is_better": True, "timestamp": float(i), "params_json": "{}", "tags_json": "{}",
                "eval_split": "test"}  # fmt: skip
        rows.append({**base, "metric": "mxinfap", "concept": "", "value": value})
        rows += [{**base, "metric": "xinfap", "concept": c, "value": value / 100 + 0.01 * j} for j, c in enumerate(CONCEPTS)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("HARNESS_WRITE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from the golden text"


@pytest.mark.parametrize("table", ["table1", "table2"])
def test_dmtl_lc_tables_render_as_before(table: str, tmp_path: Path) -> None:
    spec = table_runs.with_declared_miniature(tables.get_table(f"dmtl_lc.{table}"))  # as 'harness table' does
    planned = _plan(spec, tmp_path)
    agg = tables.aggregate(spec, planned, _results(spec, planned))
    claims = tables.check_claims(spec, agg)
    text = tables.render(spec, agg, "md", dataset=DATASET, seeds=list(SEEDS), claims=claims, extra_notes=["an extra note"])
    _check(f"dmtl_lc.{table}.md", text)
    summary = json.loads(tables.summary_json(spec, agg, claims, None, DATASET, list(SEEDS)))
    # Keys added to each cell after the golden text was made (data-set columns, 'over', directions):
    added = {"dataset": DATASET, "metric": "mxinfap", "higher_is_better": True, "over": "", "parts": 0, "parts_total": 0}
    for cell in summary["cells"]:
        assert {k: cell.pop(k) for k in added} == {**added, "dataset": DATASET if cell["defined"] else ""}
    _check(f"dmtl_lc.{table}.json", json.dumps(summary, indent=1) + "\n")


@pytest.mark.parametrize("table", ["table1", "table2"])
def test_dmtl_lc_tables_plan_the_same_runs(table: str, tmp_path: Path) -> None:
    """The ``--set`` items of every planned run (the configs, hence the reused runs, stay the same)."""
    spec = tables.get_table(f"dmtl_lc.{table}")
    plan = [{"cell": f"{r.cell.row}/{r.cell.column}", "seed": r.seed, "method": r.method,
             "sets": list(r.sets), "tags": dict(r.tags)} for r in _plan(spec, tmp_path)]  # fmt: skip
    _check(f"dmtl_lc.{table}.plan.json", json.dumps(plan, indent=1) + "\n")
