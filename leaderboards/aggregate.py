"""Aggregation (pure): the results table (``harness.results``) -> one row per table cell.

* :func:`recorded_value` finds the latest FINISHED run of a planned run (same method, data set,
  config hash, seed and split) in the results table.
* :func:`aggregate` gives per cell mean, std, n and 95 % CI over seeds (:mod:`leaderboards.stats`),
  the run ids, the published value and the difference, and for "(tuned)" rows a paired test
  against their default row; :func:`check_claims` evaluates the paper's qualitative claims.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from leaderboards.plan import PlannedRun
from leaderboards.spec import TableSpec

log = logging.getLogger(__name__)


def finished(results: pd.DataFrame) -> pd.DataFrame:
    if results.empty:
        return results
    df = results[(results["status"] == "FINISHED") & (results["concept"].fillna("") == "")]
    split = df["eval_split"].fillna("test") if "eval_split" in df.columns else pd.Series("test", index=df.index)
    return df.assign(eval_split=split)


def recorded_value(results: pd.DataFrame, run: PlannedRun, metric: str | None) -> tuple[str, float] | None:
    """(run id, value of ``metric``) of the latest FINISHED run matching ``run``, or None.

    ``metric=None`` takes the run's only overall metric (validation runs record just the data set's
    validation metric).
    """
    df = finished(results)
    if df.empty:
        return None
    r = run
    sel = df[(df["method"] == r.method) & (df["dataset"] == r.dataset) & (df["config_hash"] == run.config_hash)
             & (df["seed"] == r.seed) & (df["eval_split"] == r.eval_split)]  # fmt: skip
    if metric is not None:
        sel = sel[sel["metric"] == metric]
    if sel.empty:
        return None
    last = sel.sort_values("timestamp").iloc[-1]
    return str(last["run_id"]), float(last["value"])



def aggregate(spec: TableSpec, planned: Sequence[PlannedRun], results: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: row, column, labels, mean, std, n, ci_low, ci_high, published, diff, run_ids, miniature,
    and for "(tuned)" rows the paired test against their default row (tuned_of, pvalue, n_pairs, mark).

    Only test-split runs count: validation runs (``select`` candidates, tuning trials) are recorded in
    the same results table, often with the same config hash and seed, so planned validation runs are
    skipped and every lookup asks for ``eval_split == "test"``.
    """
    from leaderboards.stats import cell_stats

    by_cell: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for run in planned:
        if run.eval_split != "test":
            continue
        found = recorded_value(results, run, spec.metric)
        if found is not None:
            by_cell.setdefault((run.cell.row, run.cell.column), []).append(found)
    df = finished(results)
    mini_runs = set(df.loc[df["is_miniature"].astype("boolean").fillna(False), "run_id"]) if not df.empty else set()
    rows = []
    for (rkey, rlabel) in spec.rows:
        for (ckey, clabel) in spec.columns:
            cell = spec.cells.get((rkey, ckey))
            recorded = by_cell.get((rkey, ckey), [])
            s = cell_stats([v * spec.scale for _, v in recorded])
            published = cell.published if cell is not None else None
            rows.append({
                "row": rkey, "row_label": rlabel, "column": ckey, "column_label": clabel,
                "method": cell.method if cell else None, "defined": cell is not None,
                "mean": s.mean, "std": s.std, "n": s.n, "ci_low": s.ci_low, "ci_high": s.ci_high,
                "published": math.nan if published is None else published,
                "diff": s.mean - published if published is not None and s.n else math.nan,
                "run_ids": [rid for rid, _ in recorded], "miniature": any(rid in mini_runs for rid, _ in recorded),
                "tuned_of": spec.tuned_rows.get(rkey), "pvalue": math.nan, "n_pairs": 0, "mark": "",
            })  # fmt: skip
    agg = pd.DataFrame(rows)
    if spec.tuned_rows:
        _paired_tests(spec, agg, results)
    return agg


def _paired_tests(spec: TableSpec, agg: pd.DataFrame, results: pd.DataFrame) -> None:
    """Fill pvalue / n_pairs / mark of each tuned cell: paired Wilcoxon signed-rank test of the tuned
    against the default cell on per-concept values over their common (data set, seed, concept)."""
    from leaderboards.stats import compare_rows

    metric = spec.per_concept_metric
    df = _finished_all(results)
    if df.empty:
        return
    df = df[(df["eval_split"] == "test") & (df["metric"] == metric) & (df["concept"].fillna("") != "")]
    ids = {(r.row, r.column): list(r.run_ids) for r in agg.itertuples()}
    for i, r in agg.iterrows():
        if not isinstance(r["tuned_of"], str) or not r["run_ids"]:
            continue
        default_ids = ids.get((r["tuned_of"], r["column"]), [])
        pair = pd.concat([df[df["run_id"].isin(r["run_ids"])].assign(side="tuned"),
                          df[df["run_id"].isin(default_ids)].assign(side="default")])  # fmt: skip
        try:
            test = compare_rows(pair, {"side": "tuned"}, {"side": "default"}, metric)
        except ValueError as exc:  # no per-concept values recorded for one side, or no common pairs
            log.info("no paired test for %s / %s: %s", r["row_label"], r["column_label"], exc)
            continue
        agg.at[i, "pvalue"] = test.pvalue
        agg.at[i, "n_pairs"] = test.n_pairs
        agg.at[i, "mark"] = test.marker()


def _finished_all(results: pd.DataFrame) -> pd.DataFrame:
    """FINISHED rows of every concept (overall and per-concept), eval_split defaulting to test."""
    if results.empty:
        return results
    df = results[results["status"] == "FINISHED"]
    split = df["eval_split"].fillna("test") if "eval_split" in df.columns else pd.Series("test", index=df.index)
    return df.assign(eval_split=split)


def check_claims(spec: TableSpec, agg: pd.DataFrame) -> list[dict[str, Any]]:
    """Each claim checked on the published values and on our means: per comparison, held or not.

    Claims are about the paper's configurations: "(tuned)" rows never take part.
    """
    mean = {(r.row, r.column): r["mean"] for _, r in agg.iterrows()}
    pub = {(r.row, r.column): r["published"] for _, r in agg.iterrows()}
    out = []
    for claim in spec.claims:
        details: list[dict[str, Any]] = []
        for o in claim.over:
            pairs: list[tuple[tuple[str, str], tuple[str, str]]]
            if claim.kind == "rows_greater":
                pairs = [((claim.a, o), (str(claim.b), o))]
            elif claim.kind == "columns_greater":
                pairs = [((o, claim.a), (o, str(claim.b)))]
            else:
                pairs = [((claim.a, o), (r, o)) for r, _ in spec.rows if r != claim.a and r not in spec.tuned_rows]
            for source, name in ((pub, "paper"), (mean, "ours")):
                vals = [(source.get(x, math.nan), source.get(y, math.nan)) for x, y in pairs]
                vals = [(x, y) for x, y in vals if _finite(x) and _finite(y)]
                held = None if not vals else all(x > y for x, y in vals)
                details.append({"over": o, "who": name, "held": held})
        paper = [d for d in details if d["who"] == "paper" and d["held"] is not None]
        ours = [d for d in details if d["who"] == "ours" and d["held"] is not None]
        out.append({
            "text": claim.text, "kind": claim.kind,
            "paper_held": sum(bool(d["held"]) for d in paper), "paper_total": len(paper),
            "ours_held": sum(bool(d["held"]) for d in ours), "ours_total": len(ours),
            "ours_failed_over": [d["over"] for d in ours if not d["held"]],
        })  # fmt: skip
    return out


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


