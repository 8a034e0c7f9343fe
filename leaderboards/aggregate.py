"""Aggregation (pure): the results table (``harness.results``) -> one row per table cell.

* :func:`recorded_value` finds the latest FINISHED run of a planned run (same method, data set,
  config hash, seed and split) in the results table.
* :func:`aggregate` gives per cell mean, std, n and 95 % CI over seeds (:mod:`leaderboards.stats`),
  the run ids, the published value and the difference, and for "(tuned)" rows a paired test
  against their default row; :func:`check_claims` evaluates the paper's qualitative claims.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from leaderboards.plan import PlannedRun
from leaderboards.spec import TableSpec

log = logging.getLogger(__name__)


def finished(results: pd.DataFrame) -> pd.DataFrame:
    """The FINISHED overall rows (``concept == ""``), ``eval_split`` defaulting to test."""
    if results.empty:
        return results
    df = results[(results["status"] == "FINISHED") & (results["concept"].fillna("") == "")]
    split = df["eval_split"].fillna("test") if "eval_split" in df.columns else pd.Series("test", index=df.index)
    return df.assign(eval_split=split)


def recorded_rows(results: pd.DataFrame, run: PlannedRun) -> pd.DataFrame:
    """The overall rows of the latest FINISHED run matching ``run`` (method, data set, config hash,
    seed, split), in the order the run recorded them (empty if none)."""
    df = finished(results)
    if df.empty:
        return df
    sel = df[(df["method"] == run.method) & (df["dataset"] == run.dataset) & (df["config_hash"] == run.config_hash)
             & (df["seed"] == run.seed) & (df["eval_split"] == run.eval_split)]  # fmt: skip
    if sel.empty:
        return sel
    last = sel.sort_values("timestamp", kind="stable")["run_id"].iloc[-1]
    return sel[sel["run_id"] == last]


NOTE_PREFIX = "fit."  # a cell "metric" fit.NAME[.KEY...] reads a number the run's fit noted (its notes_json)


def note_number(notes_json: Any, path: str) -> float | None:
    """The number at ``path`` (``fit.timing.train_s``) of a results row's ``notes_json``, or None."""
    try:
        node: Any = json.loads(notes_json) if isinstance(notes_json, str) else None
    except ValueError:
        return None
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    if isinstance(node, bool) or not isinstance(node, (int, float)) or not math.isfinite(node):
        return None
    return float(node)


def _note_row(results: pd.DataFrame, run: PlannedRun, metric: str) -> pd.Series | None:
    """The run's first overall row with ``value`` replaced by the fit note ``metric`` names (None
    when the latest matching run did not note it); its direction is left to the spec."""
    rows = recorded_rows(results, run)
    if rows.empty or "notes_json" not in rows.columns:
        return None
    value = note_number(rows["notes_json"].iloc[0], metric)
    if value is None:
        return None
    row = rows.iloc[0].copy()
    row["metric"], row["value"], row["higher_is_better"] = metric, value, None
    return row


def recorded_row(results: pd.DataFrame, run: PlannedRun, metric: str | None) -> pd.Series | None:
    """The overall row of ``metric`` of the latest FINISHED run matching ``run``, or None.

    ``metric=None`` takes the first overall metric the run recorded (a validation run records the
    data set's validation metric first, then extra outputs of its entry such as
    ``hamming_loss_all_negative``; ``harness.table_runs`` picks the registered one). A ``fit.``
    metric is a number of the run's fit notes (:func:`note_number`).
    """
    if metric is not None and metric.startswith(NOTE_PREFIX):
        return _note_row(results, run, metric)
    if run.cell.concept:
        return _concept_row(results, run, metric)
    df = finished(results)
    if df.empty:
        return None
    if metric is None:
        rows = recorded_rows(results, run)
        return None if rows.empty else rows.iloc[0]
    sel = df[(df["method"] == run.method) & (df["dataset"] == run.dataset) & (df["config_hash"] == run.config_hash)
             & (df["seed"] == run.seed) & (df["eval_split"] == run.eval_split) & (df["metric"] == metric)]  # fmt: skip
    if sel.empty:
        return None
    return sel.sort_values("timestamp", kind="stable").iloc[-1]


def _concept_row(results: pd.DataFrame, run: PlannedRun, metric: str | None) -> pd.Series | None:
    """The per-concept row (``concept == run.cell.concept``) of ``metric`` of the latest matching run."""
    if results.empty:
        return None
    df = results[(results["status"] == "FINISHED") & (results["concept"].fillna("").astype(str) == run.cell.concept)]
    split = df["eval_split"].fillna("test") if "eval_split" in df.columns else pd.Series("test", index=df.index)
    df = df.assign(eval_split=split)
    sel = df[(df["method"] == run.method) & (df["dataset"] == run.dataset) & (df["config_hash"] == run.config_hash)
             & (df["seed"] == run.seed) & (df["eval_split"] == run.eval_split)]  # fmt: skip
    if metric is not None:
        sel = sel[sel["metric"] == metric]
    return None if sel.empty else sel.sort_values("timestamp", kind="stable").iloc[-1]


def recorded_value(results: pd.DataFrame, run: PlannedRun, metric: str | None) -> tuple[str, float] | None:
    """(run id, value of ``metric``) of the latest FINISHED run matching ``run``, or None (:func:`recorded_row`)."""
    last = recorded_row(results, run, metric)
    return None if last is None else (str(last["run_id"]), float(last["value"]))


def row_direction(row: pd.Series | Mapping[str, Any], default: bool = True) -> bool:
    """Whether a results row's metric is higher-is-better, as recorded with it (``default`` if absent)."""
    value = row.get("higher_is_better") if hasattr(row, "get") else None
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return default
    return bool(value)


def best_candidate(scores: Sequence[tuple[Any, float, bool]]) -> Any:
    """The candidate with the best validation score among ``(candidate, score, higher_is_better)``;
    the first on ties, None without a finite score. Used by ``select`` cells."""
    best, best_key = None, -math.inf
    for candidate, score, higher in scores:
        if not _finite(score):
            continue
        key = score if higher else -score
        if key > best_key:
            best, best_key = candidate, key
    return best


def aggregate(spec: TableSpec, planned: Sequence[PlannedRun], results: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: row, column, labels, mean, std, n, ci_low, ci_high, published, diff, run_ids, miniature,
    for "(tuned)" rows the paired test against their default row (tuned_of, pvalue, n_pairs, mark), and
    the cell's dataset, metric, higher_is_better (as recorded with its runs, else the spec's), over and parts.

    Without ``over`` the statistics are over seeds. With ``over`` (e.g. UCF101 splits 1-3) each part's
    value is the mean over its seeds and the statistics are over the parts (n = parts with a result).

    Only test-split runs count: validation runs (``select`` candidates, tuning trials) are recorded in
    the same results table, often with the same config hash and seed, so planned validation runs are
    skipped and every lookup asks for ``eval_split == "test"``.
    """
    from leaderboards.stats import cell_stats

    by_cell: dict[tuple[str, str], list[tuple[str, float, Any, bool | None]]] = {}
    datasets: dict[tuple[str, str], str] = {}
    for run in planned:
        datasets.setdefault((run.cell.row, run.cell.column), run.dataset)
        if run.eval_split != "test":
            continue
        found = recorded_row(results, run, spec.cell_metric(run.cell))
        if found is not None:
            by_cell.setdefault((run.cell.row, run.cell.column), []).append(
                (str(found["run_id"]), float(found["value"]), run.part, row_direction(found, default=None)))  # type: ignore[arg-type]
    df = finished(results)
    mini_runs = set(df.loc[df["is_miniature"].astype("boolean").fillna(False), "run_id"]) if not df.empty else set()
    rows = []
    for (rkey, rlabel) in spec.rows:
        for (ckey, clabel) in spec.columns:
            cell = spec.cells.get((rkey, ckey))
            recorded = by_cell.get((rkey, ckey), [])
            over = cell.over if cell is not None else None
            scale = spec.scale * (cell.scale if cell is not None else 1.0)
            if over is None:
                values = [v * scale for _, v, _, _ in recorded]
            else:
                per_part: dict[str, list[float]] = {}
                for _, v, part, _ in recorded:
                    per_part.setdefault(str(part), []).append(v * scale)
                values = [sum(vs) / len(vs) for vs in per_part.values()]
            s = cell_stats(values)
            published = cell.published if cell is not None else spec.published_only.get((rkey, ckey))
            metric = spec.cell_metric(cell)
            directions = [d for *_, d in recorded if d is not None]
            rows.append({
                "row": rkey, "row_label": rlabel, "column": ckey, "column_label": clabel,
                "method": cell.method if cell else None, "defined": cell is not None,
                "mean": s.mean, "std": s.std, "n": s.n, "ci_low": s.ci_low, "ci_high": s.ci_high,
                "published": math.nan if published is None else published,
                "diff": s.mean - published if published is not None and s.n else math.nan,
                "run_ids": [rid for rid, *_ in recorded], "miniature": any(rid in mini_runs for rid, *_ in recorded),
                "tuned_of": spec.tuned_rows.get(rkey), "pvalue": math.nan, "n_pairs": 0, "mark": "",
                "dataset": datasets.get((rkey, ckey), ""), "metric": metric,
                "higher_is_better": directions[-1] if directions else spec.higher_is_better(metric),
                "over": over.describe() if over is not None else "", "parts": len(values) if over is not None else 0,
                "parts_total": len(over.values) if over is not None else 0,
            })  # fmt: skip
    agg = pd.DataFrame(rows)
    if spec.tuned_rows:
        _paired_tests(spec, agg, results)
    return agg


def _paired_tests(spec: TableSpec, agg: pd.DataFrame, results: pd.DataFrame) -> None:
    """Fill pvalue / n_pairs / mark of each tuned cell: paired Wilcoxon signed-rank test of the tuned
    against the default cell on per-concept values over their common (data set, part, seed, concept),
    where the part is the run's data-set options (the split or fold of an ``over`` cell)."""
    from leaderboards.stats import PAIR_KEYS, compare_rows

    metric = spec.per_concept_metric
    df = _finished_all(results)
    if df.empty:
        return
    df = df[(df["eval_split"] == "test") & (df["metric"] == metric) & (df["concept"].fillna("") != "")]
    df = df.assign(part=[_part(p) for p in df["params_json"]] if "params_json" in df.columns else "")
    keys = ("dataset", "part", *[k for k in PAIR_KEYS if k != "dataset"])
    ids = {(r.row, r.column): list(r.run_ids) for r in agg.itertuples()}
    for i, r in agg.iterrows():
        if not isinstance(r["tuned_of"], str) or not r["run_ids"]:
            continue
        default_ids = ids.get((r["tuned_of"], r["column"]), [])
        pair = pd.concat([df[df["run_id"].isin(r["run_ids"])].assign(side="tuned"),
                          df[df["run_id"].isin(default_ids)].assign(side="default")])  # fmt: skip
        try:
            test = compare_rows(pair, {"side": "tuned"}, {"side": "default"}, metric, keys=keys)
        except ValueError as exc:  # no per-concept values recorded for one side, or no common pairs
            log.info("no paired test for %s / %s: %s", r["row_label"], r["column_label"], exc)
            continue
        agg.at[i, "pvalue"] = test.pvalue
        agg.at[i, "n_pairs"] = test.n_pairs
        agg.at[i, "mark"] = test.marker()


def _part(params_json: Any) -> str:
    """A run's data-set options as a key (``{"split": 2}``): runs of different splits never pair."""
    try:
        options = json.loads(params_json).get("dataset", {}) if isinstance(params_json, str) else {}
    except (ValueError, AttributeError):
        options = {}
    return json.dumps(options, sort_keys=True, default=str)


def _finished_all(results: pd.DataFrame) -> pd.DataFrame:
    """FINISHED rows of every concept (overall and per-concept), eval_split defaulting to test."""
    if results.empty:
        return results
    df = results[results["status"] == "FINISHED"]
    split = df["eval_split"].fillna("test") if "eval_split" in df.columns else pd.Series("test", index=df.index)
    return df.assign(eval_split=split)


def check_claims(spec: TableSpec, agg: pd.DataFrame) -> list[dict[str, Any]]:
    """Each claim checked on the published values and on our means: per comparison, held or not.

    Claims are about the paper's configurations: "(tuned)" rows never take part. "Greater" and "best"
    follow each cell's metric direction (smaller is better for a lower-is-better metric).
    """
    higher = {(r.row, r.column): bool(r.get("higher_is_better", True)) for _, r in agg.iterrows()}
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
                vals = [(source.get(x, math.nan), source.get(y, math.nan), higher.get(x, True)) for x, y in pairs]
                vals = [(x, y, h) for x, y, h in vals if _finite(x) and _finite(y)]
                f = claim.factor
                held = None if not vals else all(x > f * y if h else x * f < y for x, y, h in vals)
                ratio = _advantage(*vals[0]) if len(vals) == 1 else None
                details.append({"over": o, "who": name, "held": held, "ratio": ratio})
        paper = [d for d in details if d["who"] == "paper" and d["held"] is not None]
        ours = [d for d in details if d["who"] == "ours" and d["held"] is not None]
        out.append({
            "text": claim.text, "kind": claim.kind,
            "paper_held": sum(bool(d["held"]) for d in paper), "paper_total": len(paper),
            "ours_held": sum(bool(d["held"]) for d in ours), "ours_total": len(ours),
            "ours_failed_over": [d["over"] for d in ours if not d["held"]], "factor": claim.factor,
            "ours_ratio": {d["over"]: d["ratio"] for d in ours if d["ratio"] is not None},
        })  # fmt: skip
    return out


def _advantage(x: float, y: float, higher: bool) -> float | None:
    """How many times ``x`` beats ``y`` in the metric's direction (x / y, or y / x when lower is better)."""
    num, den = (x, y) if higher else (y, x)
    return num / den if den > 0 and num >= 0 else None


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


