"""Statistics for leaderboard cells: mean, std, n and a t confidence interval over seeds; paired
Wilcoxon signed-rank tests between two rows; best-per-column with each metric's direction.

Pure functions of numbers or of the long results table (``harness.results``); no MLflow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

PAIR_KEYS = ("dataset", "seed", "concept")


@dataclass(frozen=True)
class CellStats:
    """Summary of one table cell over its runs (seeds). NaN inputs are left out of ``n``.

    ``std`` is the sample standard deviation (ddof = 1); the interval is Student's t:
    ``mean +- t_{(1+confidence)/2, n-1} * std / sqrt(n)``. With n = 1 both are NaN (undefined),
    with n = 0 everything is NaN.
    """

    mean: float
    std: float
    n: int
    ci_low: float
    ci_high: float
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.ci_high - self.ci_low) / 2


def cell_stats(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> CellStats:
    """Mean, sample std, n and the t confidence interval of ``values``."""
    from scipy import stats

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=float).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return CellStats(math.nan, math.nan, 0, math.nan, math.nan, confidence)
    mean = float(x.mean())
    if n == 1:
        return CellStats(mean, math.nan, 1, math.nan, math.nan, confidence)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
    return CellStats(mean, std, n, mean - half, mean + half, confidence)


def summarize(table: pd.DataFrame, by: Sequence[str], value: str = "value", confidence: float = 0.95) -> pd.DataFrame:
    """One row per group of ``by`` with columns ``mean, std, n, ci_low, ci_high`` of ``value``.

    Typical use: the overall rows (``concept == ""``) of one metric, grouped by method and dataset,
    one value per seed.
    """
    missing = [c for c in (*by, value) if c not in table.columns]
    if missing:
        raise KeyError(f"summarize: the table has no column(s) {', '.join(missing)}; it has {', '.join(map(str, table.columns))}")
    rows = []
    for key, group in table.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        s = cell_stats(group[value].to_numpy(dtype=float), confidence)
        rows.append({**dict(zip(by, key, strict=True)), "mean": s.mean, "std": s.std, "n": s.n,
                     "ci_low": s.ci_low, "ci_high": s.ci_high})
    return pd.DataFrame(rows, columns=[*by, "mean", "std", "n", "ci_low", "ci_high"])


@dataclass(frozen=True)
class PairedTest:
    """Result of a paired Wilcoxon signed-rank test of ``a - b``."""

    statistic: float
    pvalue: float
    n_pairs: int
    n_nonzero: int
    mean_diff: float
    median_diff: float
    alternative: str = "two-sided"

    def marker(self, alpha: float = 0.05) -> str:
        return significance_marker(self.pvalue, alpha)


def paired_wilcoxon(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, *,
                    alternative: str = "two-sided", zero_method: str = "wilcox") -> PairedTest:
    """Wilcoxon signed-rank test on paired samples (scipy), e.g. per-concept AP of two methods.

    Pairs where either value is NaN are dropped. If every difference is zero the rows are
    indistinguishable: p = 1 (scipy would refuse).
    """
    from scipy import stats

    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired samples must have equal lengths, got {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    d = x[keep] - y[keep]
    n = int(d.size)
    if n == 0:
        raise ValueError("no complete pairs: every pair has a missing value")
    nonzero = int(np.count_nonzero(d))
    if nonzero == 0:
        return PairedTest(0.0, 1.0, n, 0, 0.0, 0.0, alternative)
    res = stats.wilcoxon(x[keep], y[keep], alternative=alternative, zero_method=zero_method)
    return PairedTest(float(res.statistic), float(res.pvalue), n, nonzero, float(d.mean()), float(np.median(d)),
                      alternative)


def _select(table: pd.DataFrame, where: Mapping[str, Any], metric: str) -> pd.DataFrame:
    mask = (table["metric"] == metric) & (table["concept"] != "")
    if "status" in table.columns:
        mask &= table["status"] == "FINISHED"
    for col, val in where.items():
        if col not in table.columns:
            raise KeyError(f"the results table has no column {col!r}")
        mask &= table[col] == val
    return table[mask]


def paired_rows(table: pd.DataFrame, row_a: Mapping[str, Any], row_b: Mapping[str, Any], metric: str,
                keys: Sequence[str] = PAIR_KEYS) -> pd.DataFrame:
    """Per-concept values of two table rows aligned on (dataset, seed, concept): columns ``a``, ``b``.

    ``row_a`` / ``row_b`` select results-table rows (e.g. ``{"method": "lr", "config_hash": h}``);
    ``metric`` is the per-concept metric (``xinfap``, ``ap``). Only pairs present in both are kept.
    """
    sides = []
    for name, where in (("a", row_a), ("b", row_b)):
        sel = _select(table, where, metric)
        if sel.empty:
            raise ValueError(f"no per-concept {metric!r} values for {dict(where)} in the results table")
        # A cell recorded twice (rerun): the latest value wins.
        if "timestamp" in sel.columns:
            sel = sel.sort_values("timestamp")
        sides.append(sel.drop_duplicates(list(keys), keep="last").set_index(list(keys))["value"].rename(name))
    joined = pd.concat(sides, axis=1, join="inner")
    if joined.empty:
        raise ValueError(f"rows {dict(row_a)} and {dict(row_b)} share no ({', '.join(keys)}) pairs")
    return joined.reset_index()


def compare_rows(table: pd.DataFrame, row_a: Mapping[str, Any], row_b: Mapping[str, Any], metric: str,
                 alternative: str = "two-sided", keys: Sequence[str] = PAIR_KEYS) -> PairedTest:
    """Paired Wilcoxon signed-rank test between two rows on their common ``keys`` (seeds and concepts)."""
    pairs = paired_rows(table, row_a, row_b, metric, keys)
    return paired_wilcoxon(pairs["a"].to_numpy(), pairs["b"].to_numpy(), alternative=alternative)


def significance_marker(pvalue: float, alpha: float = 0.05) -> str:
    """'***' p < alpha/50, '**' p < alpha/5, '*' p < alpha, '' otherwise (0.001 / 0.01 / 0.05 at alpha 0.05)."""
    if not math.isfinite(pvalue):
        return ""
    if pvalue < alpha / 50:
        return "***"
    if pvalue < alpha / 5:
        return "**"
    if pvalue < alpha:
        return "*"
    return ""


def best_labels(means: Mapping[str, float], higher_is_better: bool, tol: float = 1e-12) -> set[str]:
    """Labels whose mean is the best of the column (ties all win; NaN never does)."""
    finite = {k: v for k, v in means.items() if v is not None and math.isfinite(v)}
    if not finite:
        return set()
    target = max(finite.values()) if higher_is_better else min(finite.values())
    return {k for k, v in finite.items() if abs(v - target) <= tol}


def order_rows(stats: pd.DataFrame, higher_is_better: bool, column: str = "mean") -> pd.DataFrame:
    """Rows sorted best first by ``column`` (NaN last)."""
    return stats.sort_values(column, ascending=not higher_is_better, na_position="last", kind="stable").reset_index(drop=True)
