"""Row-against-row tests and fit-note plots of a table (spec keys ``tests`` and ``note_plot``).

* :func:`row_tests` - per column, a paired Wilcoxon signed-rank test between two rows on their
  headline values matched by (seed, part): e.g. MMDL-EG vs ML-kNN on the 10 folds of natural scenes.
* :func:`note_means` / :func:`plot_note` - a dict-valued fit note (``fit.<note>`` in the runs'
  notes, e.g. the learnt modality weights), averaged over a row's runs, one panel per column.

Pure functions of the spec, the planned runs and the results table (no runner, no MLflow).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from leaderboards.aggregate import recorded_row, row_direction
from leaderboards.plan import PlannedRun
from leaderboards.spec import TableSpec


def _values(spec: TableSpec, planned: Sequence[PlannedRun], results: pd.DataFrame, row: str,
            column: str) -> dict[tuple[int, str], pd.Series]:  # fmt: skip
    """(seed, part) -> the recorded headline row of each test run of cell (row, column)."""
    out = {}
    for run in planned:
        if run.cell.row != row or run.cell.column != column or run.eval_split != "test":
            continue
        found = recorded_row(results, run, spec.cell_metric(run.cell))
        if found is not None:
            out[(run.seed, str(run.part))] = found
    return out


def row_tests(spec: TableSpec, planned: Sequence[PlannedRun], results: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per (test, column): n pairs, mean difference a - b (table units), how often a is
    better (the metric's direction), the two-sided p-value and its significance mark."""
    from leaderboards.stats import paired_wilcoxon

    out = []
    for test in spec.row_tests:
        for column in test.over:
            a = _values(spec, planned, results, test.a, column)
            b = _values(spec, planned, results, test.b, column)
            common = sorted(set(a) & set(b))
            entry: dict[str, Any] = {"a": test.a, "b": test.b, "column": column, "n_pairs": len(common),
                                     "mean_diff": math.nan, "a_better": 0, "pvalue": math.nan, "mark": ""}  # fmt: skip
            if common:
                cell = spec.cells.get((test.a, column))
                scale = spec.scale * (cell.scale if cell is not None else 1.0)
                xa = [float(a[k]["value"]) * scale for k in common]
                xb = [float(b[k]["value"]) * scale for k in common]
                # The direction the runs recorded (their metric's registration), else the spec's.
                higher = row_direction(a[common[0]], default=spec.higher_is_better(spec.cell_metric(cell)))
                result = paired_wilcoxon(xa, xb)
                entry.update(mean_diff=result.mean_diff, pvalue=result.pvalue, mark=result.marker(),
                             a_better=sum((x > y) if higher else (x < y) for x, y in zip(xa, xb, strict=True)))  # fmt: skip
            out.append(entry)
    return out


def row_test_lines(spec: TableSpec, tests: Sequence[Mapping[str, Any]]) -> list[str]:
    """Notes under the table, one per (test, column)."""
    lines = []
    for t in tests:
        head = f"{spec.row_label(t['a'])} vs {spec.row_label(t['b'])}, {spec.column_label(t['column'])}"
        if not t["n_pairs"]:
            lines.append(f"{head}: no paired test (no (seed, part) recorded for both rows)")
            continue
        lines.append(f"{head}: paired Wilcoxon signed-rank over {t['n_pairs']} (seed, part) pairs: mean difference "
                     f"{t['mean_diff']:+.{spec.digits + 2}f}, better in {t['a_better']}/{t['n_pairs']}, "
                     f"p = {t['pvalue']:.3g}{' ' + t['mark'] if t['mark'] else ' (not significant)'}")  # fmt: skip
    return lines


def note_means(spec: TableSpec, planned: Sequence[PlannedRun], results: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Column -> {entry: mean over the row's runs} of the note ``spec.note_plot.note`` (columns without it left out)."""
    plot = spec.note_plot
    if plot is None:
        return {}
    out: dict[str, dict[str, float]] = {}
    for column, _ in spec.columns:
        sums: dict[str, list[float]] = {}
        for row in _values(spec, planned, results, plot.row, column).values():
            notes = json.loads(row.get("notes_json") or "{}") if isinstance(row.get("notes_json"), str) else {}
            value = (notes.get("fit") or {}).get(plot.note)
            if isinstance(value, Mapping):
                for key, v in value.items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        sums.setdefault(str(key), []).append(float(v))
        if sums:
            out[column] = {k: sum(v) / len(v) for k, v in sums.items()}
    return out


def plot_note(spec: TableSpec, means: Mapping[str, Mapping[str, float]], out_base: Path) -> tuple[Path, Path]:
    """Horizontal bars of each column's note entries (largest first), one panel per column; PNG + SVG."""
    from leaderboards.plots import _figure, _save

    if not means:
        raise ValueError("nothing to plot: no recorded run of the row has the note")
    tallest = max(len(v) for v in means.values())
    fig = _figure(4.2 * len(means), max(2.5, 0.22 * tallest + 1.2))
    for i, (column, values) in enumerate(means.items()):
        ax = fig.add_subplot(1, len(means), i + 1)
        items = sorted(values.items(), key=lambda kv: kv[1])
        ax.barh(range(len(items)), [v for _, v in items])
        ax.set_yticks(list(range(len(items))))
        ax.set_yticklabels([k for k, _ in items], fontsize=7)
        ax.set_title(spec.column_label(column), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    assert spec.note_plot is not None
    fig.suptitle(spec.note_plot.title or f"{spec.row_label(spec.note_plot.row)}: fit.{spec.note_plot.note}", fontsize=10)
    return _save(fig, out_base)
