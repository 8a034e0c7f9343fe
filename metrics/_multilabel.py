"""Hamming loss and its all-negative baseline (METHODS.md 1.5)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _binary_pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.ndim != 2 or t.shape != p.shape:
        raise ValueError(
            f"hamming loss needs two (items, labels) matrices of the same shape, got {t.shape} and {p.shape}"
        )
    for name, a in (("y_true", t), ("y_pred", p)):
        values = np.unique(a)
        if not np.isin(values, (0, 1)).all():
            raise ValueError(
                f"hamming loss: {name} must hold hard 0/1 label sets, found values {values[:6].tolist()}; "
                f"threshold scores first (the rule is part of the method, METHODS.md AMB-20)"
            )
    return t.astype(bool), p.astype(bool)


def hamming_loss(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of (item, label) pairs predicted wrongly: ``|Y xor Y_hat| / (N L)``.

    Args:
        y_true: (N, L) 0/1 ground-truth label sets.
        y_pred: (N, L) 0/1 predicted label sets.

    Returns:
        Hamming loss in [0, 1]; lower is better. Equals ``sklearn.metrics.hamming_loss``.
    """
    t, p = _binary_pair(y_true, y_pred)
    if t.size == 0:
        raise ValueError("hamming loss of an empty matrix is undefined")
    return float(np.mean(t != p))


def all_negative_hamming_loss(y_true: ArrayLike) -> float:
    """Hamming loss of the predictor that outputs no label: mean label cardinality / L.

    METHODS.md 1.5 makes this baseline mandatory beside every reported Hamming loss.
    """
    t = np.asarray(y_true)
    if t.ndim != 2 or t.size == 0:
        raise ValueError(f"all-negative baseline needs a non-empty (items, labels) matrix, got shape {t.shape}")
    return hamming_loss(t, np.zeros_like(t))


def per_label_error_rate(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """(L,) fraction of items whose label l is predicted wrongly (mean over labels = Hamming loss)."""
    t, p = _binary_pair(y_true, y_pred)
    return (t != p).mean(axis=0)
