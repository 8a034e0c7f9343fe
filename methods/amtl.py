"""``amtl``: robust multi-task learning, low-rank + group-sparse (MALSAR Least_RMTL), DMTL_LC Table 2.

METHODS.md 2.4 (AMB-19): ``W = L + S`` with ``min sum_t ||X_t w_t - y_t||^2 + rho1 ||L||_* +
rho2 sum_t ||s_t||_2``; the low-rank ``L`` captures the shared task structure, the column-sparse
``S`` the outlier tasks. ``loss="logistic"`` swaps in MALSAR's per-task mean logistic loss with a
bias. Solved by cvxpy (reference) or the accelerated proximal-gradient torch solver (fast).

Defaults (assumptions, the paper reports none): rho1 = 10, rho2 = 1 from the grid of METHODS.md.
Since ``sum_t ||s_t|| >= ||S||_*``, any ``rho2 >= rho1`` makes ``S = 0`` optimal (plain trace-norm
MTL); ``rho2 < rho1`` keeps both structures, and on trecvid2013-mini this pair gives a rank-12 L
plus per-concept S (validation mean AP within 0.002 of the best grid pair).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.api import register_method
from harness.params import Interval, Options, param
from methods._feature_config import FeatureFields
from methods._mtl.method import SOLVERS, MTLMethod
from methods._mtl.problem import LOSSES, MTLProblem, MTLSolution

RHO_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


@register_method("amtl")
class AMTL(MTLMethod):
    """Low-rank + group-sparse multi-task linear models on cached backbone features."""

    description = "robust MTL: low-rank + column group-sparse weights (MALSAR Least_RMTL)"
    paper = "DMTL_LC Table 2 (AMTL)"

    @dataclass(frozen=True)
    class Config(FeatureFields):
        rho1: float = param(10.0, Interval(0, None, "neither"), "weight of the nuclear norm of L", assumption=True)
        rho2: float = param(
            1.0, Interval(0, None, "neither"), "weight of the column group norm of S (S = 0 if rho2 >= rho1)",
            assumption=True,
        )
        loss: str = param("least", Options(LOSSES), "data loss: squared (Least_RMTL) or logistic", assumption=True)
        neg_ratio: float = param(15.0, Interval(0, None), "max negatives per positive per concept (0 = all)")
        standardize: bool = param(True, help="standardise features with training statistics", assumption=True)
        solver: str = param("auto", Options(SOLVERS), "cvxpy (reference), apg (fast torch) or auto by size")
        cvxpy_max_size: int = param(
            100_000, Interval(0, None), "auto uses cvxpy up to this size (task rows x d + (d + T)^2), else apg"
        )
        max_iter: int = param(1000, Interval(1, None), "apg iteration cap (MALSAR default)")
        tol: float = param(
            1e-6, Interval(0, None, "neither"),
            "apg stop: relative objective change (MALSAR's 1e-4 can stop ~0.3 % above the optimum)", assumption=True,
        )
        dtype: str = param("float64", Options(("float64", "float32")), "apg arithmetic precision")

    @classmethod
    def search_space(cls) -> dict[str, tuple[Any, ...]]:
        """The validation grid of METHODS.md 2.4 (assumption)."""
        return {"rho1": RHO_GRID, "rho2": RHO_GRID}

    def _solve(self, problem: MTLProblem, solver: str) -> MTLSolution:
        cfg = self.config
        if solver == "cvxpy":
            from methods._mtl.cvx import solve_rmtl_cvxpy

            return solve_rmtl_cvxpy(problem, cfg.rho1, cfg.rho2, cfg.loss)
        from methods._mtl.apg import solve_rmtl_apg

        return solve_rmtl_apg(
            problem, cfg.rho1, cfg.rho2, cfg.loss,
            max_iter=cfg.max_iter, tol=cfg.tol, device=self._device(), dtype=cfg.dtype,
        )
