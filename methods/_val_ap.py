"""Mean average precision with complete judgments (METHODS.md 1.1), for early stopping and selection.

A small vectorised copy used inside methods (plugins never import ``metrics/``). Validation scores
are ranked per concept over the examples selected for that concept (AMB-48: the held-out shots with
the same 15:1 sampling); a concept without positives there is left out of the mean.
"""

from __future__ import annotations

import numpy as np


def average_precision(scores: np.ndarray, relevant: np.ndarray, selected: np.ndarray | None = None) -> np.ndarray:
    """Per-column AP of ``scores`` against binary ``relevant`` over the ``selected`` rows.

    Args:
        scores: (n, T) float scores, higher = more relevant.
        relevant: (n, T) bool relevance.
        selected: (n, T) bool, which rows are judged for each column (default: all).

    Returns:
        (T,) AP per column; NaN where a column has no selected relevant row.
    """
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    selected = np.ones_like(relevant) if selected is None else np.asarray(selected, dtype=bool)
    rel = relevant & selected
    # Unselected rows sink to the bottom; a stable sort keeps ties in row order.
    keyed = np.where(selected, -scores, np.inf)
    order = np.argsort(keyed, axis=0, kind="stable")
    rel_sorted = np.take_along_axis(rel, order, axis=0)
    hits = np.cumsum(rel_sorted, axis=0)
    ranks = np.arange(1, scores.shape[0] + 1, dtype=np.float64)[:, None]
    precision_at_hits = np.where(rel_sorted, hits / ranks, 0.0)
    n_rel = rel.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, precision_at_hits.sum(axis=0) / n_rel, np.nan)


def mean_average_precision(scores: np.ndarray, labels: np.ndarray, selected: np.ndarray | None = None) -> float:
    """Mean AP over the concepts with at least one selected positive (labels in {1, 0, -1}).

    Returns 0.0 when no concept has a positive (so a caller can still compare values).
    """
    labels = np.asarray(labels)
    judged = labels >= 0 if selected is None else (np.asarray(selected, dtype=bool) & (labels >= 0))
    ap = average_precision(scores, labels == 1, judged)
    return float(np.nanmean(ap)) if np.isfinite(ap).any() else 0.0
