"""Oracles of METHODS.md 2.4 / 2.5 for the numpy reference objectives and the torch prox operators."""

from __future__ import annotations

import numpy as np
import pytest

from methods._mtl.problem import (
    MTLProblem,
    cmtl_regulariser,
    group_norm,
    group_shrink,
    nuclear_norm,
    project_capped_simplex,
    project_cluster_set,
    rmtl_objective,
    singular_value_threshold,
)


def test_group_prox_oracle() -> None:
    out = group_shrink(np.array([[3.0], [4.0]]), 1.0)
    np.testing.assert_allclose(out[:, 0], [2.4, 3.2], atol=1e-12)


def test_group_prox_zeroes_small_columns() -> None:
    S = np.array([[3.0, 0.3], [4.0, 0.4]])
    np.testing.assert_allclose(group_shrink(S, 1.0)[:, 1], [0.0, 0.0])


def test_svt_oracle() -> None:
    out = singular_value_threshold(np.diag([3.0, 0.5]), 1.0)
    np.testing.assert_allclose(out, np.diag([2.0, 0.0]), atol=1e-12)


def test_rmtl_objective_oracle() -> None:
    # Task 1: X_1 = I_2, y_1 = [1, -1]; task 2: X_2 = [1, 1], y_2 = [1]. Shared-row layout: rows
    # 0, 1 belong to task 1 and row 2 to task 2.
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    Y = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    mask = np.array([[True, False], [True, False], [False, True]])
    problem = MTLProblem(X, Y, mask)
    L = np.array([[0.5, 0.5], [0.0, 0.0]])
    S = np.array([[0.0, 0.0], [-1.0, 0.0]])
    assert nuclear_norm(L) == pytest.approx(0.707107, abs=1e-6)
    assert group_norm(S) == pytest.approx(1.0)
    assert rmtl_objective(problem, L, S, None, 0.1, 0.1, "least") == pytest.approx(0.670711, abs=1e-6)


def test_cmtl_regulariser_oracle() -> None:
    W = np.array([[1.0, 2.0]])
    M = np.array([[0.5, 0.5], [0.5, 0.5]])
    assert cmtl_regulariser(W, M, 1.0, 1.0) == pytest.approx(5.5, abs=1e-12)


def test_capped_simplex_projection_matches_bisection() -> None:
    gen = np.random.default_rng(0)
    for _ in range(20):
        v = gen.normal(0.5, 1.0, size=7)
        k = float(gen.integers(1, 7))
        p = project_capped_simplex(v, k)
        assert p.sum() == pytest.approx(k, abs=1e-10)
        assert p.min() >= 0 and p.max() <= 1
        lo, hi = v.min() - 1.0, v.max()
        for _ in range(200):  # independent bisection on theta
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if np.clip(v - mid, 0, 1).sum() > k else (lo, mid)
        np.testing.assert_allclose(p, np.clip(v - 0.5 * (lo + hi), 0, 1), atol=1e-9)


def test_cluster_set_projection_is_feasible_and_idempotent() -> None:
    gen = np.random.default_rng(1)
    A = gen.normal(size=(5, 5))
    P = project_cluster_set(A + A.T, 2.0)
    lam = np.linalg.eigvalsh(P)
    assert lam.min() >= -1e-10 and lam.max() <= 1 + 1e-10
    assert np.trace(P) == pytest.approx(2.0)
    np.testing.assert_allclose(project_cluster_set(P, 2.0), P, atol=1e-10)


def test_torch_capped_simplex_matches_numpy() -> None:
    torch = pytest.importorskip("torch")
    from methods._mtl.apg import _project_capped_simplex_torch

    gen = np.random.default_rng(2)
    for k in (1.0, 2.5, 6.0):
        v = gen.normal(size=6)
        out = _project_capped_simplex_torch(torch.tensor(v, dtype=torch.float64), k).numpy()
        np.testing.assert_allclose(out, project_capped_simplex(v, k), atol=1e-12)
