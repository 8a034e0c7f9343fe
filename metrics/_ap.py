"""Average precision with complete judgments (METHODS.md 1.1), the building block of MAP."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def average_precision(scores: ArrayLike, relevance: ArrayLike) -> float:
    """AP of the ranking induced by ``scores`` under complete binary judgments.

    ``AP = (1/R) * sum_k r(d_k) * prec@k`` over the whole ranking, where R is the number of
    relevant items in ``relevance``. Ties in ``scores`` are broken by the lower index first (a
    stable sort), so on tie-free input this equals ``sklearn.metrics.average_precision_score``.

    Args:
        scores: (n,) detector scores, higher = more likely relevant.
        relevance: (n,) relevance; any value > 0 counts as relevant.

    Returns:
        AP in [0, 1]; 0.0 when there is no relevant item (METHODS.md 1.1: R = 0 gives AP = 0).

    Raises:
        ValueError: if the arrays are not 1-D of equal length or scores contain NaN.
    """
    s = np.asarray(scores, dtype=np.float64)
    r = np.asarray(relevance)
    if s.ndim != 1 or r.ndim != 1 or len(s) != len(r):
        raise ValueError(
            f"average_precision needs two 1-D arrays of equal length, got shapes {s.shape} and {r.shape}"
        )
    if np.isnan(s).any():
        raise ValueError("average_precision: scores contain NaN; replace them before scoring")
    rel = r > 0
    n_rel = int(rel.sum())
    if n_rel == 0:
        return 0.0
    order = np.argsort(-s, kind="stable")
    hits = rel[order]
    ranks = np.flatnonzero(hits) + 1  # 1-based ranks of the relevant items
    precision_at_hits = np.arange(1, n_rel + 1) / ranks
    return float(precision_at_hits.sum() / n_rel)


def ranked_average_precision(ranked_relevance: ArrayLike, n_relevant: int | None = None) -> float:
    """AP of an already ranked list of 0/1 judgments (METHODS.md 1.1 worked example form).

    Args:
        ranked_relevance: (k,) relevance of the items in rank order (> 0 = relevant).
        n_relevant: R, the relevant items in the whole collection (retrieved or not); defaults
            to the relevant items in the list.

    Returns:
        AP in [0, 1]; 0.0 when R = 0.
    """
    hits = np.asarray(ranked_relevance) > 0
    total = int(hits.sum()) if n_relevant is None else int(n_relevant)
    if total < hits.sum():
        raise ValueError(f"n_relevant={total} is smaller than the {int(hits.sum())} relevant items in the list")
    if total == 0:
        return 0.0
    ranks = np.flatnonzero(hits) + 1
    return float((np.arange(1, len(ranks) + 1) / ranks).sum() / total)
