"""Hamming loss (METHODS.md 1.5), its all-negative baseline and the registered metric."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import hamming_loss as sk_hamming_loss

import metrics  # noqa: F401  (registers the metrics)
from harness.api import METRICS, EvalInput, Protocol
from harness.errors import DataError
from metrics.functional import all_negative_hamming_loss, hamming_loss

Y = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 1]])
Y_HAT = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 0, 1]])


def test_worked_example() -> None:
    assert hamming_loss(Y, Y_HAT) == pytest.approx(0.166667, abs=1e-6)


def test_all_negative_baseline_is_mean_cardinality_over_l() -> None:
    assert all_negative_hamming_loss(Y) == pytest.approx(Y.sum(axis=1).mean() / Y.shape[1])


@pytest.mark.parametrize("seed", range(3))
def test_equals_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = (rng.random((50, 7)) < 0.3).astype(int)
    p = (rng.random((50, 7)) < 0.3).astype(int)
    assert hamming_loss(y, p) == pytest.approx(sk_hamming_loss(y, p), abs=1e-15)


def test_rejects_scores_and_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="hard 0/1"):
        hamming_loss(Y, Y_HAT * 0.7)
    with pytest.raises(ValueError, match="same shape"):
        hamming_loss(Y, Y_HAT[:, :3])


def _input(scores: np.ndarray, labels: np.ndarray, **options) -> EvalInput:
    return EvalInput(scores=scores, ids=np.arange(len(scores)).astype(str),
                     concepts=tuple(f"l{i}" for i in range(scores.shape[1])),
                     protocol=Protocol(metric="hamming_loss", options=options), labels=labels)


def test_registered_metric_reports_baseline_and_lower_is_better() -> None:
    spec = METRICS.get("hamming_loss")
    assert spec.higher_is_better is False
    res = spec.fn(_input(Y_HAT.astype(float), Y))
    assert list(res.overall) == ["hamming_loss", "hamming_loss_all_negative"]
    assert res.overall["hamming_loss"] == pytest.approx(2 / 12)
    assert res.overall["hamming_loss_all_negative"] == pytest.approx(6 / 12)
    assert res.per_concept["error_rate"].mean() == pytest.approx(2 / 12)
    # probability scores are thresholded (the threshold is recorded)
    res = spec.fn(_input(np.where(Y_HAT == 1, 0.8, 0.2), Y, hamming_threshold=0.5))
    assert res.overall["hamming_loss"] == pytest.approx(2 / 12) and res.notes["threshold"] == 0.5


def test_registered_metric_rejects_partial_annotation() -> None:
    labels = Y.copy()
    labels[0, 0] = -1
    with pytest.raises(DataError, match="-1"):
        METRICS.get("hamming_loss").fn(_input(Y_HAT.astype(float), labels))
