"""``lr``: one L2-regularised logistic regression per concept (LIBLINEAR), as in DMTL_LC's Table 2.

METHODS.md 2.3: features = the source network's last FC layer (fc8), per-concept training set =
all positives + random negatives up to 15 per positive, features standardised with training
statistics, ranking score = probability of the positive class.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Self

import numpy as np

from harness.api import Method, MethodData, register_method
from harness.params import Interval, param
from harness.search_space import Dimension, LogUniform
from harness.seeding import derive_seed
from methods._feature_config import FeatureFields
from methods._sampling import sample_training_mask

log = logging.getLogger(__name__)


@register_method("lr")
class LogisticRegressionPerConcept(Method):
    """Per-concept L2 logistic regression (scikit-learn liblinear) on cached backbone features."""

    description = "per-concept L2 logistic regression (LIBLINEAR) on cached backbone features"
    paper = "DMTL_LC Table 2 (LR)"
    tasks = ("multilabel",)
    fitted_notes = ("skipped_concepts_",)

    @dataclass(frozen=True)
    class Config(FeatureFields):
        C: float = param(1.0, Interval(0, None, "neither"), "inverse L2 regularisation strength", assumption=True)
        neg_ratio: float = param(15.0, Interval(0, None), "max negatives per positive per concept (0 = all)")
        standardize: bool = param(True, help="standardise features with training statistics", assumption=True)
        max_iter: int = param(1000, Interval(1, None), "LIBLINEAR iteration cap")

    @classmethod
    def search_space(cls) -> dict[str, Dimension]:
        """C over METHODS.md 2.3's range 2^-5 .. 2^15, log-uniform (the grid's end points)."""
        return {"C": LogUniform(2.0**-5, 2.0**15)}

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        from sklearn.linear_model import LogisticRegression

        X = self._standardize_fit(train.features)
        labels = np.asarray(train.labels)
        mask = sample_training_mask(labels, neg_ratio=self.config.neg_ratio, seed=derive_seed(self.seed, "negatives"))
        n_concepts = labels.shape[1]
        coef = np.zeros((X.shape[1], n_concepts), dtype=np.float64)
        intercept = np.zeros(n_concepts, dtype=np.float64)
        self.skipped_concepts_: list[str] = []
        from harness.progress import progress

        for t in progress(range(n_concepts), desc="lr: concepts", total=n_concepts):
            rows = mask[:, t]
            y = labels[rows, t]
            if y.size == 0 or y.min() == y.max():
                # No positives (or no negatives): nothing to learn; a constant score ranks arbitrarily.
                self.skipped_concepts_.append(train.concepts[t])
                continue
            model = LogisticRegression(
                C=self.config.C,
                solver="liblinear",
                max_iter=self.config.max_iter,
                random_state=derive_seed(self.seed, "liblinear", t),
            )
            model.fit(X[rows], y)
            coef[:, t] = model.coef_[0]
            intercept[t] = model.intercept_[0]
        if self.skipped_concepts_:
            log.warning("lr: %d concept(s) without both classes score 0: %s",
                        len(self.skipped_concepts_), ", ".join(self.skipped_concepts_[:10]))
        self.coef_, self.intercept_ = coef, intercept
        self.skipped_mask_ = np.isin(np.asarray(train.concepts), self.skipped_concepts_)
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        X = self._standardize(data.features)
        logits = X @ self.coef_ + self.intercept_
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -500, 500)))
        scores[:, self.skipped_mask_] = 0.0
        return scores

    def _standardize_fit(self, X: np.ndarray | None) -> np.ndarray:
        if X is None:
            raise ValueError("lr needs features; the runner did not provide any")
        X = np.asarray(X, dtype=np.float64)
        if self.config.standardize:
            self.mean_ = X.mean(axis=0)
            std = X.std(axis=0)
            self.scale_ = np.where(std > 1e-12, std, 1.0)
        else:
            self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        return (X - self.mean_) / self.scale_

    def _standardize(self, X: np.ndarray | None) -> np.ndarray:
        if X is None:
            raise ValueError("lr needs features; the runner did not provide any")
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_
