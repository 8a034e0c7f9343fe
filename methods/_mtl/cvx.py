"""Reference formulations of AMTL (RMTL) and CMTL in cvxpy (conic solvers: Clarabel, SCS).

They state each objective exactly as METHODS.md 2.4 / 2.5 write it and let a conic solver find the
optimum. Nuclear norms and matrix-fractional terms become semidefinite cones of size ``d + T``, so
these only scale to small problems; the torch solvers in ``apg.py`` are checked against them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from methods._mtl.problem import (
    LOSSES,
    MTLProblem,
    MTLSolution,
    cmtl_coefficient,
    cmtl_objective,
    rmtl_objective,
)


def _data_term(cp: Any, problem: MTLProblem, W: Any, c: Any, loss: str, least_scale: float) -> Any:
    terms = []
    for t in range(problem.n_tasks):  # the reference builds one expression per task, as MALSAR
        X_t, y_t = problem.task_data(t)
        z = X_t @ W[:, t]
        if loss == "least":
            terms.append(least_scale * cp.sum_squares(z - y_t))
        else:
            terms.append(cp.sum(cp.logistic(-cp.multiply(y_t, z + c[t]))) / len(y_t))
    return cp.sum(cp.hstack(terms))


def _solve(cp: Any, prob: Any, solver: str | None, solver_options: dict[str, Any] | None) -> None:
    opts = dict(solver_options or {})
    prob.solve(solver=solver or cp.CLARABEL, **opts)
    if prob.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise RuntimeError(f"cvxpy ended with status {prob.status!r}")


def solve_rmtl_cvxpy(
    problem: MTLProblem,
    rho1: float,
    rho2: float,
    loss: str = "least",
    *,
    solver: str | None = None,
    solver_options: dict[str, Any] | None = None,
) -> MTLSolution:
    """Minimise ``loss(L + S, c) + rho1 ||L||_* + rho2 sum_t ||s_t||_2`` with cvxpy."""
    import cvxpy as cp

    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    d, T = problem.n_features, problem.n_tasks
    L = cp.Variable((d, T))
    S = cp.Variable((d, T))
    c = cp.Variable(T) if loss == "logistic" else None
    objective = (
        _data_term(cp, problem, L + S, c, loss, 1.0)
        + rho1 * cp.normNuc(L)
        + rho2 * cp.sum(cp.norm(S, 2, axis=0))
    )
    prob = cp.Problem(cp.Minimize(objective))
    start = time.perf_counter()
    _solve(cp, prob, solver, solver_options)
    seconds = time.perf_counter() - start
    Lv, Sv = np.asarray(L.value), np.asarray(S.value)
    cv = np.asarray(c.value) if c is not None else np.zeros(T)
    return MTLSolution(
        W=Lv + Sv,
        c=cv,
        objective=rmtl_objective(problem, Lv, Sv, cv, rho1, rho2, loss),
        solver=f"cvxpy-{prob.solver_stats.solver_name}",
        n_iter=int(prob.solver_stats.num_iters or 0),
        converged=prob.status == cp.OPTIMAL,
        seconds=seconds,
        parts={"L": Lv, "S": Sv, "solver_objective": float(prob.value)},
    )


def solve_cmtl_cvxpy(
    problem: MTLProblem,
    rho1: float,
    rho2: float,
    k: float,
    loss: str = "logistic",
    *,
    solver: str | None = None,
    solver_options: dict[str, Any] | None = None,
) -> MTLSolution:
    """Minimise the convex CMTL relaxation over ``(W, c, M)`` with ``0 <= M <= I, tr M = k``."""
    import cvxpy as cp

    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    d, T = problem.n_features, problem.n_tasks
    if not 0 < k <= T:
        raise ValueError(f"k must be in (0, {T}], got {k}")
    eta, coef = cmtl_coefficient(rho1, rho2)
    W = cp.Variable((d, T))
    c = cp.Variable(T) if loss == "logistic" else None
    M = cp.Variable((T, T), symmetric=True)
    eye = np.eye(T)
    # tr(W (eta I + M)^-1 W^T) = matrix_frac(W^T, eta I + M), jointly convex in (W, M).
    objective = _data_term(cp, problem, W, c, loss, 0.5) + coef * cp.matrix_frac(W.T, eta * eye + M)
    constraints = [M >> 0, eye - M >> 0, cp.trace(M) == k]
    prob = cp.Problem(cp.Minimize(objective), constraints)
    start = time.perf_counter()
    _solve(cp, prob, solver, solver_options)
    seconds = time.perf_counter() - start
    Wv, Mv = np.asarray(W.value), np.asarray(M.value)
    Mv = 0.5 * (Mv + Mv.T)
    cv = np.asarray(c.value) if c is not None else np.zeros(T)
    return MTLSolution(
        W=Wv,
        c=cv,
        objective=cmtl_objective(problem, Wv, cv, Mv, rho1, rho2, loss),
        solver=f"cvxpy-{prob.solver_stats.solver_name}",
        n_iter=int(prob.solver_stats.num_iters or 0),
        converged=prob.status == cp.OPTIMAL,
        seconds=seconds,
        parts={"M": Mv, "solver_objective": float(prob.value)},
    )
