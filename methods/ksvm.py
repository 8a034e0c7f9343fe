"""``ksvm``: one RBF-kernel SVM per concept (LIBSVM C-SVC), DMTL_LC Table 2.

METHODS.md 2.3: C-SVC with kernel ``exp(-gamma ||x - x'||^2)`` per concept on its sampled training
set (all positives + up to 15 negatives per positive), standardised features; the ranking score
is the decision value. C and gamma are not reported: defaults are LIBSVM's (C = 1, gamma = 1/d);
the validation grid of METHODS.md is in ``search_space``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.api import register_method
from harness.params import Interval, param
from methods._feature_config import FeatureFields
from methods._per_concept import PerConceptMethod

C_GRID = tuple(2.0**e for e in range(-5, 16, 2))  # 2^-5 ... 2^15 (assumption, METHODS.md 2.3)
GAMMA_GRID = tuple(2.0**e for e in range(-15, 4, 2))  # 2^-15 ... 2^3


@register_method("ksvm")
class KernelSVMPerConcept(PerConceptMethod):
    """Per-concept RBF SVM (scikit-learn SVC = LIBSVM) on cached backbone features."""

    description = "per-concept RBF-kernel SVM (LIBSVM C-SVC) on cached features"
    paper = "DMTL_LC Table 2 (KSVM)"

    @dataclass(frozen=True)
    class Config(FeatureFields):
        C: float = param(1.0, Interval(0, None, "neither"), "SVM cost (LIBSVM default)", assumption=True)
        gamma: float | None = param(
            None, Interval(0, None, "neither"), "RBF width; none = 1/d (LIBSVM default)", assumption=True
        )
        tol: float = param(1e-3, Interval(0, None, "neither"), "LIBSVM stopping tolerance")
        cache_mb: float = param(500.0, Interval(1, None), "kernel cache per model in MB")
        neg_ratio: float = param(15.0, Interval(0, None), "max negatives per positive per concept (0 = all)")
        standardize: bool = param(True, help="standardise features with training statistics", assumption=True)
        n_jobs: int = param(-1, Interval(-1, None), "parallel threads over concepts (-1 = all cores)")

        def check(self) -> None:
            if self.n_jobs == 0:
                from harness.errors import InvalidParameterError

                raise InvalidParameterError("The 'n_jobs' parameter of ksvm must be -1 or >= 1. Got 0 instead.")

    @classmethod
    def search_space(cls) -> dict[str, tuple[Any, ...]]:
        return {"C": C_GRID, "gamma": GAMMA_GRID}

    def _make_model(self, t: int) -> Any:
        from sklearn.svm import SVC

        cfg = self.config
        return SVC(
            C=cfg.C, kernel="rbf", gamma="auto" if cfg.gamma is None else cfg.gamma,
            tol=cfg.tol, cache_size=cfg.cache_mb,
        )
