"""ML-kNN (METHODS.md 2.9): a hand-computed example, a brute-force loop oracle, the neighbour search
(self excluded, ties by index, chunking) and the trivial all-negative predictor."""

from __future__ import annotations

import numpy as np
import pytest

from harness import api
from methods._knn import nearest_neighbours
from methods.all_negative import AllNegative
from methods.mlknn import MLkNN, fit_mlknn

HL = api.Protocol(metric="hamming_loss", val_metric="hamming_loss")
MAP = api.Protocol(metric="map", val_metric="map")


def data(X: np.ndarray, labels: np.ndarray | None, protocol: api.Protocol = HL) -> api.MethodData:
    n = len(X)
    concepts = tuple(f"c{t}" for t in range(1 if labels is None else labels.shape[1]))
    return api.MethodData(ids=np.arange(n).astype(str), groups=np.arange(n).astype(str), concepts=concepts,
                          task="multilabel", labels=labels, features=np.asarray(X, np.float32),
                          blocks={"features": X}, protocol=protocol)  # fmt: skip


def test_hand_computed_example() -> None:
    # 1-d points, one label, K = 2, s = 1 (worked by hand):
    # training neighbour counts C = [1, 1, 2, 1, 1, 0]; positives {0, 1, 5}: c1 = [1, 2, 0],
    # negatives {2, 3, 4}: c0 = [0, 2, 1]; P(H1) = (1 + 3) / (2 + 6) = 0.5;
    # P(E|H1) = (1 + c1) / (3 + 3) = [2, 3, 1] / 6, P(E|H0) = [1, 3, 2] / 6.
    X = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0]])
    y = np.array([[1], [1], [0], [0], [0], [1]], dtype=np.int8)
    model = fit_mlknn(X, y, k=2, smoothing=1.0)
    np.testing.assert_allclose(model.prior, [0.5])
    np.testing.assert_allclose(model.cond_pos, [[2 / 6, 3 / 6, 1 / 6]])
    np.testing.assert_allclose(model.cond_neg, [[1 / 6, 3 / 6, 2 / 6]])
    # Test points: 0.4 -> neighbours {0, 1}, C = 2; 11.6 -> {5, 4}, C = 1 (a tie: not predicted);
    # 10.4 -> {3, 4}, C = 0.
    test = np.array([[0.4], [11.6], [10.4]])
    cfg = MLkNN.Config(k=2, output="posterior", use_validation=False)
    m = MLkNN(config=cfg).fit(data(X, y))
    np.testing.assert_allclose(m.predict(data(test, None))[:, 0], [1 / 3, 1 / 2, 2 / 3])
    labels = MLkNN(config=MLkNN.Config(k=2, use_validation=False)).fit(data(X, y)).predict(data(test, None, HL))
    np.testing.assert_array_equal(labels[:, 0], [0, 0, 1])


def brute_force_mlknn(X: np.ndarray, y: np.ndarray, T: np.ndarray, k: int, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Loop-by-loop transcription of Zhang & Zhou's pseudo-code: (posterior, labels) of test rows T."""
    n, L = y.shape

    def knn(x: np.ndarray, skip: int | None) -> list[int]:
        d = [(float(((X[j] - x) ** 2).sum()), j) for j in range(n) if j != skip]
        return [j for _, j in sorted(d)[:k]]

    neigh = [knn(X[i], i) for i in range(n)]
    post, lab = np.zeros((len(T), L)), np.zeros((len(T), L))
    test_neigh = [knn(t, None) for t in T]
    for lab_ in range(L):
        p1 = (s + y[:, lab_].sum()) / (s * 2 + n)
        c1, c0 = np.zeros(k + 1), np.zeros(k + 1)
        for i in range(n):
            delta = sum(y[j, lab_] for j in neigh[i])
            if y[i, lab_] == 1:
                c1[delta] += 1
            else:
                c0[delta] += 1
        for t in range(len(T)):
            cnt = sum(y[j, lab_] for j in test_neigh[t])
            a = p1 * (s + c1[cnt]) / (s * (k + 1) + c1.sum())
            b = (1 - p1) * (s + c0[cnt]) / (s * (k + 1) + c0.sum())
            post[t, lab_], lab[t, lab_] = a / (a + b), float(a > b)
    return post, lab


def test_matches_brute_force_on_random_data() -> None:
    g = np.random.default_rng(0)
    X, T = g.normal(size=(80, 5)), g.normal(size=(30, 5))
    y = (X @ g.normal(size=(5, 4)) + g.normal(size=(80, 4)) > 0.8).astype(np.int8)
    post, lab = brute_force_mlknn(X, y, T, k=10, s=1.0)
    for chunk in (7, 1024):  # chunking changes memory only
        cfg = MLkNN.Config(output="posterior", use_validation=False, chunk_rows=chunk)
        m = MLkNN(config=cfg).fit(data(X, y))
        np.testing.assert_allclose(m.predict(data(T, None)), post, rtol=1e-12)
    hard = MLkNN(config=MLkNN.Config(use_validation=False)).fit(data(X, y)).predict(data(T, None, HL))
    np.testing.assert_array_equal(hard, lab)
    assert 0 < lab.mean() < 1


def test_neighbours_exclude_self_and_break_ties_by_index() -> None:
    ref = np.array([[-1.0], [1.0], [1.0], [5.0]])
    np.testing.assert_array_equal(nearest_neighbours(ref, np.array([[0.0]]), 2), [[0, 1]])
    np.testing.assert_array_equal(nearest_neighbours(ref, np.array([[0.0]]), 3), [[0, 1, 2]])
    # Self excluded, duplicates (distance 0) are still neighbours.
    np.testing.assert_array_equal(nearest_neighbours(ref, None, 1)[:, 0], [1, 2, 1, 1])  # 5.0: 1 and 2 tie
    with pytest.raises(ValueError, match="k=4"):
        nearest_neighbours(ref, None, 4)


def test_partial_annotation_and_validation_pool() -> None:
    g = np.random.default_rng(1)
    X = g.normal(size=(60, 3))
    y = (X[:, :2] > 0).astype(np.int8)
    masked = y.copy()
    masked[::5, 0] = -1  # not annotated: left out of label 0's estimates
    model = fit_mlknn(X, masked, k=5, smoothing=1.0)
    kept = masked[:, 0] >= 0
    assert model.prior[0] == pytest.approx((1 + y[kept, 0].sum()) / (2 + kept.sum()))
    train, val = data(X[:40], y[:40], MAP), data(X[40:], y[40:], MAP)
    m = MLkNN().fit(train, val)
    assert m.n_reference_ == 60 and m.output_ == "posterior"
    assert MLkNN(config=MLkNN.Config(use_validation=False)).fit(train, val).n_reference_ == 40


def test_all_negative_predicts_no_label() -> None:
    X = np.zeros((4, 2))
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.int8)
    m = AllNegative().fit(data(X, y))
    np.testing.assert_array_equal(m.predict(data(np.zeros((3, 2)), y[:3])), np.zeros((3, 2)))
    from metrics.functional import hamming_loss

    assert hamming_loss(y, m.predict(data(X, y)).astype(int)) == pytest.approx(4 / 8)
