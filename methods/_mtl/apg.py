"""Accelerated proximal / projected gradient solvers for AMTL (RMTL) and CMTL in torch.

Same objectives as ``cvx.py`` (METHODS.md 2.4, 2.5), solved the way MALSAR solves them: FISTA with
a doubling line search (initial step parameter gamma = 1), zero initialisation (``M_0 = k/T I`` for
CMTL) and the relative-change stopping rule. Two additions, both standard and neither changing the
optimum: adaptive momentum restart when the objective rises (O'Donoghue & Candes 2015), and a
restart when CMTL's extrapolated ``M`` leaves the domain ``eta I + M > 0``.

Every task is a column of ``W``: one iteration is a handful of dense matrix products over all
tasks at once (no Python loop over tasks), so it runs unchanged on CPU or CUDA.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from methods._device import threads_for
from methods._mtl.problem import LOSSES, MTLProblem, MTLSolution, cmtl_coefficient

MAX_BACKTRACKS = 60


@dataclass
class _Data:
    """The problem as tensors on the solver's device."""

    X: Any  # (n, d)
    Y: Any  # (n, T), 0 outside the mask
    mask: Any  # (n, T) float 0/1
    inv_sizes: Any  # (T,) 1 / n_t


def _to_torch(problem: MTLProblem, device: str, dtype: Any) -> _Data:
    import torch

    p = problem.compact()
    X = torch.as_tensor(p.X, dtype=dtype, device=device)
    mask = torch.as_tensor(p.mask, dtype=dtype, device=device)
    Y = torch.as_tensor(np.where(p.mask, p.Y, 0.0), dtype=dtype, device=device)
    inv = 1.0 / torch.as_tensor(p.task_sizes, dtype=dtype, device=device)
    return _Data(X, Y, mask, inv)


def _loss_from_scores(data: _Data, Z: Any, c: Any | None, loss: str, least_scale: float, want_grad: bool) -> tuple[Any, Any, Any]:
    """Data term from the score matrix ``Z = X W``; returns (value, dL/dZ, dL/dc)."""
    import torch.nn.functional as F

    if loss == "least":
        R = (Z - data.Y) * data.mask
        value = least_scale * (R * R).sum()
        return value, (2.0 * least_scale * R if want_grad else None), None
    if c is None:
        raise ValueError("the logistic loss needs the bias vector c")
    U = -data.Y * (Z + c[None, :])
    value = (F.softplus(U) * data.mask).sum(dim=0).mul(data.inv_sizes).sum()
    if not want_grad:
        return value, None, None
    G = -data.Y * data.mask * data.inv_sizes[None, :] * F.sigmoid(U)
    return value, G, G.sum(dim=0)


@dataclass
class _FistaResult:
    x: list[Any]
    objective: float
    n_iter: int
    converged: bool
    history: list[float]


def _fista(
    x0: list[Any],
    aux0: Any,
    value: Callable[[list[Any]], tuple[Any, Any]],
    grad: Callable[[list[Any], Any], tuple[Any, list[Any]] | None],
    prox: Callable[[list[Any], float], tuple[list[Any], float]],
    nonsmooth0: float,
    *,
    max_iter: int,
    tol: float,
) -> _FistaResult:
    """FISTA with doubling line search and adaptive restart.

    Args:
        x0: initial blocks (feasible).
        aux0: ``X @ W`` (or any quantity linear in x) at ``x0``; extrapolated like x, so the
            search point's products cost nothing.
        value: ``z -> (f(z), aux(z))``.
        grad: ``(s, aux(s)) -> (f(s), grad f(s))``, or None when ``s`` is outside f's domain.
        prox: ``(v, step) -> (prox_{step g}(v), g(prox))``.
        nonsmooth0: ``g(x0)``.
    """
    x, x_prev = x0, x0
    aux, aux_prev = aux0, aux0
    t_prev, t = 1.0, 1.0
    gamma = 1.0
    f0, _ = value(x0)
    obj_prev = float(f0) + nonsmooth0
    history = [obj_prev]
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is returned
        alpha = (t_prev - 1.0) / t
        s = [xi + alpha * (xi - pi) for xi, pi in zip(x, x_prev, strict=True)]
        out = grad(s, aux + alpha * (aux - aux_prev))
        if out is None:  # extrapolation left the domain: restart from x
            s, t_prev, t = x, 1.0, 1.0
            out = grad(s, aux)
            if out is None:
                raise FloatingPointError(f"iterate {it} left the objective's domain (numerical breakdown)")
        fs, gs = out
        for _ in range(MAX_BACKTRACKS):
            z, g_z = prox([si - gi / gamma for si, gi in zip(s, gs, strict=True)], 1.0 / gamma)
            diff = [zi - si for zi, si in zip(z, s, strict=True)]
            r_sum = float(sum((di * di).sum() for di in diff))
            fz, aux_z = value(z)
            if r_sum <= 1e-20:
                break
            lin = sum((gi * di).sum() for gi, di in zip(gs, diff, strict=True))
            if float(fz) <= float(fs + lin) + 0.5 * gamma * r_sum:
                break
            gamma *= 2.0
        obj = float(fz) + g_z
        history.append(obj)
        if not math.isfinite(obj):
            raise FloatingPointError(f"objective became {obj} at iteration {it}")
        x_prev, x = x, z
        aux_prev, aux = aux, aux_z
        if obj > obj_prev:  # momentum overshoot: restart the acceleration
            t_prev, t = 1.0, 1.0
        else:
            t_prev, t = t, 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        if r_sum <= 1e-20 or abs(obj - obj_prev) <= tol * abs(obj_prev):
            converged = True
            obj_prev = obj
            break
        obj_prev = obj
    return _FistaResult(x=x, objective=obj_prev, n_iter=it, converged=converged, history=history)


def _resolve_dtype(dtype: str) -> Any:
    import torch

    return {"float64": torch.float64, "float32": torch.float32}[dtype]


# --- AMTL / RMTL ----------------------------------------------------------------------------


def solve_rmtl_apg(
    problem: MTLProblem,
    rho1: float,
    rho2: float,
    loss: str = "least",
    *,
    max_iter: int = 1000,
    tol: float = 1e-4,
    device: str = "cpu",
    dtype: str = "float64",
) -> MTLSolution:
    """Minimise ``loss(L + S, c) + rho1 ||L||_* + rho2 sum_t ||s_t||_2`` by FISTA.

    Prox of the nuclear norm = singular-value soft-thresholding (``torch.linalg.svd`` of the
    d x T matrix); prox of the column-group norm = column-wise shrinkage.
    """
    import torch

    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    start = time.perf_counter()
    tdt = _resolve_dtype(dtype)
    data = _to_torch(problem, device, tdt)
    d, T = problem.n_features, problem.n_tasks
    logistic = loss == "logistic"

    def value(xs: list[Any]) -> tuple[Any, Any]:
        Z = data.X @ (xs[0] + xs[1])
        v, _, _ = _loss_from_scores(data, Z, xs[2] if logistic else None, loss, 1.0, False)
        return v, Z

    def grad(xs: list[Any], Z: Any) -> tuple[Any, list[Any]]:
        v, GZ, gc = _loss_from_scores(data, Z, xs[2] if logistic else None, loss, 1.0, True)
        gW = data.X.T @ GZ
        return v, ([gW, gW, gc] if logistic else [gW, gW])

    def prox(vs: list[Any], step: float) -> tuple[list[Any], float]:
        U, sv, Vh = torch.linalg.svd(vs[0], full_matrices=False)
        sv = torch.clamp(sv - step * rho1, min=0.0)
        L = (U * sv[None, :]) @ Vh
        norms = torch.linalg.vector_norm(vs[1], dim=0)
        factor = torch.clamp(1.0 - step * rho2 / torch.clamp(norms, min=1e-300), min=0.0)
        S = vs[1] * factor[None, :]
        g = rho1 * float(sv.sum()) + rho2 * float((norms * factor).sum())
        return ([L, S, vs[2]] if logistic else [L, S]), g

    zeros = torch.zeros(d, T, dtype=tdt, device=device)
    x0 = [zeros, zeros.clone()] + ([torch.zeros(T, dtype=tdt, device=device)] if logistic else [])
    aux0 = torch.zeros(data.X.shape[0], T, dtype=tdt, device=device)
    with threads_for(data.X.shape[0] * d * T, str(device)):
        res = _fista(x0, aux0, value, grad, prox, 0.0, max_iter=max_iter, tol=tol)
    L, S = (res.x[0].double().cpu().numpy(), res.x[1].double().cpu().numpy())
    c = res.x[2].double().cpu().numpy() if logistic else np.zeros(T)
    return MTLSolution(
        W=L + S,
        c=c,
        objective=res.objective,
        solver=f"apg-{device}",
        n_iter=res.n_iter,
        converged=res.converged,
        seconds=time.perf_counter() - start,
        parts={"L": L, "S": S, "history": res.history},
    )


# --- CMTL ------------------------------------------------------------------------------------


def _project_capped_simplex_torch(v: Any, total: float) -> Any:
    """Torch twin of ``problem.project_capped_simplex`` (exact breakpoint search)."""
    import torch

    bp, _ = torch.sort(torch.cat([v, v - 1.0]))
    f = torch.clamp(v[None, :] - bp[:, None], 0.0, 1.0).sum(dim=1)
    target = torch.tensor([-total], dtype=v.dtype, device=v.device)
    j = int(torch.searchsorted(-f, target, right=True)) - 1
    j = min(max(j, 0), bp.numel() - 2)
    f0, f1 = f[j], f[j + 1]
    if float(f0 - f1) == 0.0:
        theta = bp[j]
    else:
        theta = bp[j] + (f0 - total) / (f0 - f1) * (bp[j + 1] - bp[j])
    return torch.clamp(v - theta, 0.0, 1.0)


def solve_cmtl_apg(
    problem: MTLProblem,
    rho1: float,
    rho2: float,
    k: float,
    loss: str = "logistic",
    *,
    max_iter: int = 1000,
    tol: float = 1e-4,
    device: str = "cpu",
    dtype: str = "float64",
) -> MTLSolution:
    """Minimise the convex CMTL relaxation by accelerated projected gradient on ``(W, c, M)``."""
    import torch

    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    d, T = problem.n_features, problem.n_tasks
    if not 0 < k <= T:
        raise ValueError(f"k must be in (0, {T}], got {k}")
    start = time.perf_counter()
    tdt = _resolve_dtype(dtype)
    data = _to_torch(problem, device, tdt)
    logistic = loss == "logistic"
    eta, coef = cmtl_coefficient(rho1, rho2)
    eye = torch.eye(T, dtype=tdt, device=device)

    def reg_parts(W: Any, M: Any) -> tuple[Any, Any] | None:
        chol, info = torch.linalg.cholesky_ex(eta * eye + 0.5 * (M + M.T))
        if int(info) != 0:
            return None
        P_inv = torch.cholesky_inverse(chol)
        WP = W @ P_inv
        return coef * (WP * W).sum(), WP

    def value(xs: list[Any]) -> tuple[Any, Any]:
        Z = data.X @ xs[0]
        v, _, _ = _loss_from_scores(data, Z, xs[2] if logistic else None, loss, 0.5, False)
        parts = reg_parts(xs[0], xs[1])
        if parts is None:  # cannot happen for a projected M (eta I + M >= eta I); guard anyway
            raise FloatingPointError("eta I + M is not positive definite after the projection")
        return v + parts[0], Z

    def grad(xs: list[Any], Z: Any) -> tuple[Any, list[Any]] | None:
        parts = reg_parts(xs[0], xs[1])
        if parts is None:
            return None
        reg, WP = parts
        v, GZ, gc = _loss_from_scores(data, Z, xs[2] if logistic else None, loss, 0.5, True)
        gW = data.X.T @ GZ + 2.0 * coef * WP
        gM = -coef * (WP.T @ WP)
        return v + reg, ([gW, gM, gc] if logistic else [gW, gM])

    def prox(vs: list[Any], step: float) -> tuple[list[Any], float]:
        lam, V = torch.linalg.eigh(0.5 * (vs[1] + vs[1].T))
        M = (V * _project_capped_simplex_torch(lam, k)[None, :]) @ V.T
        return [vs[0], M, *vs[2:]], 0.0

    W0 = torch.zeros(d, T, dtype=tdt, device=device)
    M0 = (k / T) * eye
    x0 = [W0, M0] + ([torch.zeros(T, dtype=tdt, device=device)] if logistic else [])
    aux0 = torch.zeros(data.X.shape[0], T, dtype=tdt, device=device)
    with threads_for(data.X.shape[0] * d * T, str(device)):
        res = _fista(x0, aux0, value, grad, prox, 0.0, max_iter=max_iter, tol=tol)
    W = res.x[0].double().cpu().numpy()
    M = res.x[1].double().cpu().numpy()
    c = res.x[2].double().cpu().numpy() if logistic else np.zeros(T)
    return MTLSolution(
        W=W,
        c=c,
        objective=res.objective,
        solver=f"apg-{device}",
        n_iter=res.n_iter,
        converged=res.converged,
        seconds=time.perf_counter() - start,
        parts={"M": 0.5 * (M + M.T), "history": res.history},
    )
