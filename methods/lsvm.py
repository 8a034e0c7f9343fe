"""``lsvm``: one linear SVM per concept (LIBLINEAR, L2-regularised hinge loss, dual), DMTL_LC Table 2.

METHODS.md 2.3: ``min_w 1/2 ||w||^2 + C sum_i max(0, 1 - y_i w^T x_i)`` per concept on its sampled
training set (all positives + up to 15 negatives per positive), standardised features; the
ranking score is the decision value. C is not reported: the default is LIBLINEAR's own (1), the
validation grid of METHODS.md is in ``search_space``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.api import register_method
from harness.params import Interval, Options, param
from harness.seeding import derive_seed
from methods._feature_config import FeatureFields
from methods._per_concept import PerConceptMethod

C_GRID = tuple(2.0**e for e in range(-5, 16, 2))  # 2^-5, 2^-3, ..., 2^15 (assumption, METHODS.md 2.3)


@register_method("lsvm")
class LinearSVMPerConcept(PerConceptMethod):
    """Per-concept linear SVM (scikit-learn LinearSVC = LIBLINEAR) on cached backbone features."""

    description = "per-concept linear SVM (LIBLINEAR, L2-regularised hinge, dual) on cached features"
    paper = "DMTL_LC Table 2 (LSVM)"
    parallel_backend = "processes"  # LIBLINEAR's shared C RNG makes threaded fits irreproducible

    @dataclass(frozen=True)
    class Config(FeatureFields):
        C: float = param(1.0, Interval(0, None, "neither"), "SVM cost (LIBLINEAR default)", assumption=True)
        loss: str = param("hinge", Options(("hinge", "squared_hinge")), "hinge (L1-loss) or squared hinge (L2-loss)")
        max_iter: int = param(1000, Interval(1, None), "LIBLINEAR iteration cap")
        tol: float = param(0.1, Interval(0, None, "neither"), "stopping tolerance (LIBLINEAR CLI default for dual solvers)")
        neg_ratio: float = param(15.0, Interval(0, None), "max negatives per positive per concept (0 = all)")
        standardize: bool = param(True, help="standardise features with training statistics", assumption=True)
        n_jobs: int = param(-1, Interval(-1, None), "parallel threads over concepts (-1 = all cores)")

        def check(self) -> None:
            if self.n_jobs == 0:
                from harness.errors import InvalidParameterError

                raise InvalidParameterError("The 'n_jobs' parameter of lsvm must be -1 or >= 1. Got 0 instead.")

    @classmethod
    def search_space(cls) -> dict[str, tuple[Any, ...]]:
        return {"C": C_GRID}

    def _make_model(self, t: int) -> Any:
        from sklearn.svm import LinearSVC

        cfg = self.config
        return LinearSVC(
            C=cfg.C, loss=cfg.loss, dual=True, max_iter=cfg.max_iter, tol=cfg.tol,
            random_state=derive_seed(self.seed, "lsvm", t),
        )
