"""Leaderboard statistics against hand-computed values and scipy on fixed numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from leaderboards.stats import (
    best_labels,
    cell_stats,
    compare_rows,
    order_rows,
    paired_rows,
    paired_wilcoxon,
    significance_marker,
    summarize,
)


def test_cell_stats_by_hand() -> None:
    # values 1..4: mean 2.5, sample std sqrt(5/3); t_{0.975, 3} = 3.182446305 (statistical tables)
    s = cell_stats([1.0, 2.0, 3.0, 4.0])
    assert (s.mean, s.n) == (2.5, 4)
    assert s.std == pytest.approx(math.sqrt(5 / 3))
    half = 3.182446305 * math.sqrt(5 / 3) / 2
    assert s.ci_low == pytest.approx(2.5 - half, rel=1e-8)
    assert s.ci_high == pytest.approx(2.5 + half, rel=1e-8)
    assert s.half_width == pytest.approx(half, rel=1e-8)


def test_cell_stats_matches_scipy_t_interval() -> None:
    x = np.array([11.46, 11.22, 10.97, 11.81, 11.05])
    s = cell_stats(x, confidence=0.9)
    lo, hi = sps.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert (s.ci_low, s.ci_high) == pytest.approx((lo, hi), rel=1e-12)


def test_cell_stats_small_and_missing() -> None:
    one = cell_stats([0.7])
    assert one.mean == 0.7 and one.n == 1 and math.isnan(one.std) and math.isnan(one.ci_low)
    none = cell_stats([])
    assert none.n == 0 and math.isnan(none.mean)
    with_nan = cell_stats([1.0, float("nan"), 3.0])
    assert with_nan.n == 2 and with_nan.mean == 2.0
    with pytest.raises(ValueError, match="confidence"):
        cell_stats([1.0, 2.0], confidence=95)


def test_summarize_groups_of_the_long_table() -> None:
    table = pd.DataFrame({
        "method": ["lr"] * 3 + ["dmtl_lc"] * 3,
        "seed": [0, 1, 2] * 2,
        "value": [10.0, 11.0, 12.0, 14.0, 14.0, 17.0],
    })
    out = summarize(table, by=["method"])
    assert list(out["method"]) == ["dmtl_lc", "lr"]
    lr = out[out.method == "lr"].iloc[0]
    assert lr["mean"] == 11.0 and lr["std"] == 1.0 and lr["n"] == 3
    expected = cell_stats([14.0, 14.0, 17.0])
    row = out[out.method == "dmtl_lc"].iloc[0]
    assert (row.ci_low, row.ci_high) == pytest.approx((expected.ci_low, expected.ci_high))
    with pytest.raises(KeyError, match="no column"):
        summarize(table, by=["dataset"])


def test_wilcoxon_exact_by_hand() -> None:
    # six positive differences with distinct ranks: W- = 0, exact two-sided p = 2 / 2**6
    a = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    b = a - np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.06])
    res = paired_wilcoxon(a, b)
    assert res.statistic == 0.0
    assert res.pvalue == pytest.approx(2 / 64)
    assert res.n_pairs == 6 and res.n_nonzero == 6
    assert res.mean_diff == pytest.approx(0.035) and res.marker() == "*"


def test_wilcoxon_matches_scipy_on_fixed_numbers() -> None:
    a = np.array([0.31, 0.12, 0.55, 0.40, 0.08, 0.67, 0.22, 0.49, 0.35, 0.18, 0.61, 0.27])
    b = np.array([0.28, 0.15, 0.50, 0.33, 0.09, 0.60, 0.25, 0.41, 0.30, 0.11, 0.62, 0.20])
    for alternative in ("two-sided", "greater", "less"):
        ours = paired_wilcoxon(a, b, alternative=alternative)
        ref = sps.wilcoxon(a, b, alternative=alternative)
        assert ours.statistic == pytest.approx(ref.statistic)
        assert ours.pvalue == pytest.approx(ref.pvalue)


def test_wilcoxon_edge_cases() -> None:
    same = paired_wilcoxon([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    assert same.pvalue == 1.0 and same.n_nonzero == 0
    with_nan = paired_wilcoxon([0.1, np.nan, 0.3, 0.5], [0.0, 0.2, 0.1, 0.2])
    assert with_nan.n_pairs == 3
    with pytest.raises(ValueError, match="equal lengths"):
        paired_wilcoxon([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="no complete pairs"):
        paired_wilcoxon([np.nan], [1.0])


def _long_table() -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(0)
    concepts = [f"c{i}" for i in range(8)]
    for method, shift in (("lr", 0.0), ("dmtl_lc", 0.05)):
        for seed in (0, 1):
            for c in concepts:
                rows.append({"method": method, "dataset": "d", "seed": seed, "metric": "xinfap", "concept": c,
                             "value": 0.3 + 0.02 * concepts.index(c) + shift + 0.01 * rng.standard_normal(),
                             "status": "FINISHED", "timestamp": 1.0})
            rows.append({"method": method, "dataset": "d", "seed": seed, "metric": "xinfap", "concept": "",
                         "value": 0.4, "status": "FINISHED", "timestamp": 1.0})
    # a seed only one method has, and a failed run: neither may enter the pairs
    rows.append({"method": "lr", "dataset": "d", "seed": 2, "metric": "xinfap", "concept": "c0", "value": 0.9,
                 "status": "FINISHED", "timestamp": 1.0})
    rows.append({"method": "dmtl_lc", "dataset": "d", "seed": 2, "metric": "xinfap", "concept": "c0", "value": 0.0,
                 "status": "FAILED", "timestamp": 1.0})
    return pd.DataFrame(rows)


def test_paired_rows_align_on_seed_and_concept() -> None:
    table = _long_table()
    pairs = paired_rows(table, {"method": "dmtl_lc"}, {"method": "lr"}, "xinfap")
    assert len(pairs) == 16 and set(pairs.seed) == {0, 1}
    res = compare_rows(table, {"method": "dmtl_lc"}, {"method": "lr"}, "xinfap")
    ref = sps.wilcoxon(pairs["a"], pairs["b"])
    assert res.pvalue == pytest.approx(ref.pvalue) and res.n_pairs == 16
    assert res.mean_diff > 0 and res.pvalue < 0.01
    with pytest.raises(ValueError, match="no per-concept"):
        paired_rows(table, {"method": "cmtl"}, {"method": "lr"}, "xinfap")


def test_significance_marker_best_and_order() -> None:
    assert [significance_marker(p) for p in (0.0005, 0.005, 0.03, 0.2, float("nan"))] == ["***", "**", "*", "", ""]
    assert best_labels({"a": 0.3, "b": 0.5, "c": 0.5, "d": float("nan")}, higher_is_better=True) == {"b", "c"}
    assert best_labels({"a": 0.3, "b": 0.5}, higher_is_better=False) == {"a"}
    assert best_labels({"a": float("nan")}, higher_is_better=True) == set()
    df = pd.DataFrame({"method": ["a", "b", "c"], "mean": [0.2, float("nan"), 0.1]})
    assert list(order_rows(df, higher_is_better=True).method) == ["a", "c", "b"]
    assert list(order_rows(df, higher_is_better=False).method) == ["c", "a", "b"]
