"""The multi-task data layout shared by the AMTL / CMTL solvers, and their numpy objectives.

All tasks share one feature matrix: ``X`` (n, d), targets ``Y`` (n, T) in {+1, -1}, and a mask
(n, T) saying which rows belong to task ``t`` (its per-concept training set). Task ``t``'s data
``X_t, y_t`` are the rows of ``X`` and column ``t`` of ``Y`` where the mask is True. Weights are
``W`` (d, T) (column ``t`` = task ``t``) and, for the logistic loss, biases ``c`` (T,).

Losses (METHODS.md 2.4, 2.5; MALSAR conventions):
    * ``least``: ``scale * sum_t ||X_t w_t - y_t||^2``, no bias. Least_RMTL uses scale 1,
      Least_CMTL scale 1/2.
    * ``logistic``: ``sum_t (1/n_t) sum_i log(1 + exp(-y_ti (x_i w_t + c_t)))`` with a free bias,
      as MALSAR's Logistic_* routines (for RMTL, which MALSAR only ships with the squared loss,
      this is our extension asked for by the issue).

The numpy functions here are the reference definitions: the oracle tests of METHODS.md check them,
and the KKT residuals that certify a solution are computed from them, independently of the torch
and cvxpy solvers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

LOSSES = ("least", "logistic")


@dataclass(frozen=True)
class MTLProblem:
    """Shared-feature multi-task data (see the module docstring).

    Attributes:
        X: (n, d) float64 features.
        Y: (n, T) float64 targets in {+1, -1} (values outside the mask are ignored).
        mask: (n, T) bool task membership; every task needs at least one row.
    """

    X: np.ndarray
    Y: np.ndarray
    mask: np.ndarray

    def __post_init__(self) -> None:
        n, d = self.X.shape
        if self.Y.shape != self.mask.shape or self.Y.shape[0] != n:
            raise ValueError(f"X {self.X.shape}, Y {self.Y.shape} and mask {self.mask.shape} do not match")
        if not self.mask.any(axis=0).all():
            empty = np.flatnonzero(~self.mask.any(axis=0)).tolist()
            raise ValueError(f"tasks {empty} have no rows; drop them before solving")

    @property
    def n_tasks(self) -> int:
        return self.Y.shape[1]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def task_sizes(self) -> np.ndarray:
        return self.mask.sum(axis=0)

    def task_data(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """``(X_t, y_t)`` of task ``t`` (for the cvxpy reference formulation)."""
        rows = self.mask[:, t]
        return self.X[rows], self.Y[rows, t]

    def compact(self) -> MTLProblem:
        """Drop the rows that belong to no task (they cost time and change nothing)."""
        keep = self.mask.any(axis=1)
        if keep.all():
            return self
        return MTLProblem(self.X[keep], self.Y[keep], self.mask[keep])


@dataclass
class MTLSolution:
    """A solver's answer: weights, biases, objective and how it got there."""

    W: np.ndarray  # (d, T)
    c: np.ndarray  # (T,), zeros for the squared loss
    objective: float
    solver: str
    n_iter: int = 0
    converged: bool = True
    seconds: float = 0.0
    parts: dict[str, Any] = field(default_factory=dict)  # L, S (AMTL) or M (CMTL)

    def decision(self, X: np.ndarray) -> np.ndarray:
        """(n, T) scores ``X W + c``."""
        return X @ self.W + self.c[None, :]


def data_loss(problem: MTLProblem, W: np.ndarray, c: np.ndarray | None, loss: str, least_scale: float = 1.0) -> float:
    """The data term of the objective (module docstring)."""
    Z = problem.X @ W
    m = problem.mask
    if loss == "least":
        R = np.where(m, Z - problem.Y, 0.0)
        return float(least_scale * np.sum(R * R))
    if loss == "logistic":
        c = np.zeros(problem.n_tasks) if c is None else c
        margins = -problem.Y * (Z + c[None, :])
        per_row = np.where(m, np.logaddexp(0.0, margins), 0.0)
        return float(np.sum(per_row.sum(axis=0) / problem.task_sizes))
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def data_grad(
    problem: MTLProblem, W: np.ndarray, c: np.ndarray | None, loss: str, least_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of :func:`data_loss` with respect to ``(W, c)``."""
    Z = problem.X @ W
    m = problem.mask
    if loss == "least":
        G = np.where(m, 2.0 * least_scale * (Z - problem.Y), 0.0)
        return problem.X.T @ G, np.zeros(problem.n_tasks)
    c = np.zeros(problem.n_tasks) if c is None else c
    margins = -problem.Y * (Z + c[None, :])
    sig = 0.5 * (1.0 + np.tanh(0.5 * margins))  # sigmoid(margins), overflow-free
    G = np.where(m, -problem.Y * sig, 0.0) / problem.task_sizes[None, :]
    return problem.X.T @ G, G.sum(axis=0)


# --- AMTL (Least_RMTL) -----------------------------------------------------------------------


def group_shrink(S: np.ndarray, threshold: float) -> np.ndarray:
    """Prox of ``threshold * sum_t ||s_t||_2`` (columns): ``s * max(0, 1 - threshold / ||s||)``."""
    norms = np.linalg.norm(S, axis=0, keepdims=True)
    factor = np.maximum(0.0, 1.0 - threshold / np.maximum(norms, 1e-300))
    return S * factor


def singular_value_threshold(L: np.ndarray, threshold: float) -> np.ndarray:
    """Prox of ``threshold * ||L||_*``: soft-threshold the singular values."""
    U, s, Vt = np.linalg.svd(L, full_matrices=False)
    return (U * np.maximum(s - threshold, 0.0)) @ Vt


def nuclear_norm(L: np.ndarray) -> float:
    return float(np.linalg.svd(L, compute_uv=False).sum())


def group_norm(S: np.ndarray) -> float:
    """``||S||_{1,2} = sum_t ||s_t||_2`` over columns (tasks)."""
    return float(np.linalg.norm(S, axis=0).sum())


def rmtl_objective(
    problem: MTLProblem, L: np.ndarray, S: np.ndarray, c: np.ndarray | None, rho1: float, rho2: float, loss: str = "least"
) -> float:
    """AMTL / RMTL objective: ``loss(L + S, c) + rho1 ||L||_* + rho2 ||S||_{1,2}`` (METHODS.md 2.4)."""
    return data_loss(problem, L + S, c, loss, 1.0) + rho1 * nuclear_norm(L) + rho2 * group_norm(S)


def rmtl_kkt_residual(
    problem: MTLProblem, L: np.ndarray, S: np.ndarray, c: np.ndarray | None, rho1: float, rho2: float, loss: str = "least", step: float = 1.0
) -> float:
    """Norm of the proximal-gradient mapping; zero exactly at a minimiser (a KKT certificate).

    ``(L, S)`` is optimal iff ``L = prox(L - step G)`` and ``S = prox(S - step G)`` with
    ``G = grad_W loss(L + S)``, and ``grad_c loss = 0``. Divided by ``step`` so the value is
    comparable to a gradient norm.
    """
    G, gc = data_grad(problem, L + S, c, loss, 1.0)
    rL = L - singular_value_threshold(L - step * G, step * rho1)
    rS = S - group_shrink(S - step * G, step * rho2)
    r2 = np.sum(rL**2) + np.sum(rS**2) + (np.sum(gc**2) * step**2 if loss == "logistic" else 0.0)
    return float(np.sqrt(r2) / step)


# --- CMTL ------------------------------------------------------------------------------------


def cmtl_coefficient(rho1: float, rho2: float) -> tuple[float, float]:
    """``(eta, rho1 * eta * (1 + eta))`` with ``eta = rho2 / rho1``."""
    eta = rho2 / rho1
    return eta, rho1 * eta * (1.0 + eta)


def cmtl_regulariser(W: np.ndarray, M: np.ndarray, rho1: float, rho2: float) -> float:
    """``rho1 eta (1 + eta) tr(W (eta I + M)^-1 W^T)`` (METHODS.md 2.5)."""
    eta, coef = cmtl_coefficient(rho1, rho2)
    P = eta * np.eye(M.shape[0]) + M
    return float(coef * np.trace(W @ np.linalg.solve(P, W.T)))


def cmtl_objective(
    problem: MTLProblem, W: np.ndarray, c: np.ndarray | None, M: np.ndarray, rho1: float, rho2: float, loss: str = "logistic"
) -> float:
    """CMTL objective (logistic: per-task mean with bias; least: ``0.5 ||X_t w_t - y_t||^2``)."""
    return data_loss(problem, W, c, loss, 0.5) + cmtl_regulariser(W, M, rho1, rho2)


def project_capped_simplex(values: np.ndarray, total: float) -> np.ndarray:
    """Euclidean projection of ``values`` onto ``{v : 0 <= v_i <= 1, sum v = total}``.

    The projection is ``clip(values - theta, 0, 1)`` with ``theta`` solving a monotone piecewise
    linear equation whose breakpoints are ``values`` and ``values - 1``; it is found exactly.
    """
    v = np.asarray(values, dtype=np.float64)
    if not 0 < total <= v.size:
        raise ValueError(f"total must be in (0, {v.size}], got {total}")
    bp = np.sort(np.concatenate([v, v - 1.0]))
    f = np.clip(v[None, :] - bp[:, None], 0.0, 1.0).sum(axis=1)  # non-increasing in bp
    j = int(np.searchsorted(-f, -total, side="right")) - 1  # last breakpoint with f >= total
    j = min(max(j, 0), bp.size - 2)
    f0, f1 = f[j], f[j + 1]
    theta = bp[j] if f0 == f1 else bp[j] + (f0 - total) / (f0 - f1) * (bp[j + 1] - bp[j])
    return np.clip(v - theta, 0.0, 1.0)


def project_cluster_set(M: np.ndarray, k: float) -> np.ndarray:
    """Projection onto ``{M symmetric : 0 <= M <= I, tr M = k}`` through the eigenvalues."""
    sym = 0.5 * (M + M.T)
    lam, V = np.linalg.eigh(sym)
    return (V * project_capped_simplex(lam, k)) @ V.T


def cmtl_kkt_residual(
    problem: MTLProblem, W: np.ndarray, c: np.ndarray | None, M: np.ndarray, rho1: float, rho2: float, k: float,
    loss: str = "logistic", step: float = 1.0,
) -> float:
    """Norm of the projected-gradient mapping of CMTL; zero exactly at a minimiser."""
    eta, coef = cmtl_coefficient(rho1, rho2)
    P_inv = np.linalg.inv(eta * np.eye(M.shape[0]) + M)
    gW, gc = data_grad(problem, W, c, loss, 0.5)
    gW = gW + 2.0 * coef * W @ P_inv
    gM = -coef * P_inv @ W.T @ W @ P_inv
    rM = M - project_cluster_set(M - step * gM, k)
    r2 = step**2 * (np.sum(gW**2) + (np.sum(gc**2) if loss == "logistic" else 0.0)) + np.sum(rM**2)
    return float(np.sqrt(r2) / step)
