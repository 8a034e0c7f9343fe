"""cvxpy reference vs fast torch solver for AMTL (RMTL) and CMTL, both losses, on seeded problems.

Each cvxpy solution is certified independently: its objective is recomputed by the numpy reference
(formulation check) and its KKT residual (norm of the proximal / projected gradient mapping,
numpy) is tiny compared with the residual at the zero start. The torch solver must reach the same
optimal objective to 1e-4 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from methods._mtl.problem import MTLProblem, cmtl_kkt_residual, rmtl_kkt_residual

pytest.importorskip("cvxpy")
torch = pytest.importorskip("torch")

DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device")])]


def make_problem(seed: int, n: int = 40, d: int = 6, T: int = 4) -> MTLProblem:
    """4 tasks x 6 features, ~30 rows per task: a rank-one shared model plus one outlier task."""
    gen = np.random.default_rng(seed)
    X = gen.standard_normal((n, d))
    W = np.outer(gen.standard_normal(d), gen.uniform(0.5, 1.5, T))
    W[:, -1] = 3.0 * gen.standard_normal(d)
    Y = np.sign(X @ W + 0.5 * gen.standard_normal((n, T)))
    Y[Y == 0] = 1.0
    return MTLProblem(X, Y, gen.random((n, T)) < 0.75)


# (loss, rho1, rho2): chosen so both parts are active (rank-one L, S non-zero on the outlier task).
RMTL_CASES = [("least", 10.0, 8.0), ("logistic", 0.1, 0.08)]
CMTL_CASES = [("least", 10.0, 1.0, 2), ("logistic", 0.1, 0.05, 2)]


@pytest.fixture(scope="module")
def problem() -> MTLProblem:
    return make_problem(0)


@pytest.mark.parametrize(("loss", "rho1", "rho2"), RMTL_CASES)
def test_rmtl_cvxpy_is_optimal(problem: MTLProblem, loss: str, rho1: float, rho2: float) -> None:
    from methods._mtl.cvx import solve_rmtl_cvxpy

    sol = solve_rmtl_cvxpy(problem, rho1, rho2, loss)
    assert sol.parts["solver_objective"] == pytest.approx(sol.objective, rel=1e-7)
    L, S = sol.parts["L"], sol.parts["S"]
    zero = np.zeros_like(L)
    r0 = rmtl_kkt_residual(problem, zero, zero, np.zeros(problem.n_tasks), rho1, rho2, loss)
    assert rmtl_kkt_residual(problem, L, S, sol.c, rho1, rho2, loss) < 1e-4 * r0
    # The case exercises both structures: a low-rank L and a group-sparse S.
    assert np.linalg.matrix_rank(L, tol=1e-3) == 1
    col = np.linalg.norm(S, axis=0)
    assert col[-1] > 1e-2 and (col[:-1] < 1e-4).all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("loss", "rho1", "rho2"), RMTL_CASES)
def test_rmtl_apg_matches_cvxpy(problem: MTLProblem, loss: str, rho1: float, rho2: float, device: str) -> None:
    from methods._mtl.apg import solve_rmtl_apg
    from methods._mtl.cvx import solve_rmtl_cvxpy

    ref = solve_rmtl_cvxpy(problem, rho1, rho2, loss)
    fast = solve_rmtl_apg(problem, rho1, rho2, loss, max_iter=20000, tol=1e-12, device=device)
    assert fast.objective == pytest.approx(ref.objective, rel=1e-4)
    assert fast.objective >= ref.objective * (1 - 1e-6)  # cannot beat the certified optimum
    np.testing.assert_allclose(fast.W, ref.W, atol=1e-3 * (1 + np.abs(ref.W).max()))
    zero = np.zeros_like(fast.W)
    r0 = rmtl_kkt_residual(problem, zero, zero, np.zeros(problem.n_tasks), rho1, rho2, loss)
    assert rmtl_kkt_residual(problem, fast.parts["L"], fast.parts["S"], fast.c, rho1, rho2, loss) < 1e-4 * r0


@pytest.mark.parametrize(("loss", "rho1", "rho2", "k"), CMTL_CASES)
def test_cmtl_cvxpy_is_optimal(problem: MTLProblem, loss: str, rho1: float, rho2: float, k: int) -> None:
    from methods._mtl.cvx import solve_cmtl_cvxpy

    sol = solve_cmtl_cvxpy(problem, rho1, rho2, k, loss)
    assert sol.parts["solver_objective"] == pytest.approx(sol.objective, rel=1e-6)
    M = sol.parts["M"]
    lam = np.linalg.eigvalsh(M)
    assert lam.min() > -1e-6 and lam.max() < 1 + 1e-6 and np.trace(M) == pytest.approx(k, abs=1e-6)
    W0, M0 = np.zeros_like(sol.W), np.eye(problem.n_tasks) * k / problem.n_tasks
    r0 = cmtl_kkt_residual(problem, W0, np.zeros(problem.n_tasks), M0, rho1, rho2, k, loss)
    assert cmtl_kkt_residual(problem, sol.W, sol.c, M, rho1, rho2, k, loss) < 1e-4 * r0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("loss", "rho1", "rho2", "k"), CMTL_CASES)
def test_cmtl_apg_matches_cvxpy(problem: MTLProblem, loss: str, rho1: float, rho2: float, k: int, device: str) -> None:
    from methods._mtl.apg import solve_cmtl_apg
    from methods._mtl.cvx import solve_cmtl_cvxpy

    ref = solve_cmtl_cvxpy(problem, rho1, rho2, k, loss)
    fast = solve_cmtl_apg(problem, rho1, rho2, k, loss, max_iter=20000, tol=1e-12, device=device)
    assert fast.objective == pytest.approx(ref.objective, rel=1e-4)
    assert fast.objective >= ref.objective * (1 - 1e-6)
    np.testing.assert_allclose(fast.W, ref.W, atol=1e-3 * (1 + np.abs(ref.W).max()))
    M = fast.parts["M"]
    lam = np.linalg.eigvalsh(M)
    assert lam.min() > -1e-9 and lam.max() < 1 + 1e-9 and np.trace(M) == pytest.approx(k)


def test_apg_float32_close_to_float64(problem: MTLProblem) -> None:
    from methods._mtl.apg import solve_rmtl_apg

    a = solve_rmtl_apg(problem, 10.0, 8.0, "least", max_iter=5000, tol=1e-10)
    b = solve_rmtl_apg(problem, 10.0, 8.0, "least", max_iter=5000, tol=1e-7, dtype="float32")
    assert b.objective == pytest.approx(a.objective, rel=1e-4)


def test_apg_stops_at_max_iter_and_says_so(problem: MTLProblem) -> None:
    from methods._mtl.apg import solve_cmtl_apg

    sol = solve_cmtl_apg(problem, 0.1, 0.05, 2, "logistic", max_iter=3, tol=1e-15)
    assert sol.n_iter == 3 and not sol.converged
    assert len(sol.parts["history"]) == 4  # the start and three iterates
