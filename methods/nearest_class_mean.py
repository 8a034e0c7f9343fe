"""``nearest_class_mean``: a reference multiclass baseline on pooled backbone features.

Each clip is one feature vector (the backbone's ``layer`` output, frames pooled by ``pooling``),
normalised (``normalize``: L2; or centred / standardised with training statistics first, then L2);
each class is the mean of its normalised training vectors, optionally shrunk towards the mean of
all training vectors (``alpha``); a clip's score for a class is the cosine similarity to that mean.
Scores are clip-level (n, C), what ``video_accuracy`` on clip rows expects (argmax = prediction).

Not from one of the five papers: the nearest-class-mean classifier (Mensink et al., TPAMI 2013) is
the simplest transfer baseline on frozen features, and the harness's reference multiclass plugin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Self

import numpy as np

from harness.api import Method, MethodData, register_method
from harness.params import Interval, Options, param
from harness.search_space import Categorical, Dimension, Uniform
from methods._feature_config import FeatureFields
from methods._standardize import Standardizer, checked_class_labels, checked_features

log = logging.getLogger(__name__)

NORMALIZATIONS = ("l2", "center_l2", "standardize_l2")
UNSEEN_SCORE = -2.0  # below any cosine: a class without training clips is never predicted


@register_method("nearest_class_mean")
class NearestClassMean(Method):
    """Cosine similarity to L2-normalised class means of cached clip features."""

    description = "nearest class mean: cosine to the L2-normalised class means of pooled backbone features"
    paper = "reference baseline (multiclass)"
    tasks = ("multiclass",)
    fitted_notes = ("val_score_", "classes_without_training_")

    @dataclass(frozen=True)
    class Config(FeatureFields):
        layer: str = param("fc7", help="backbone layer whose output is the feature vector")
        normalize: str = param("l2", Options(NORMALIZATIONS),
                               "l2; or centre (center_l2) / standardise (standardize_l2) with training "
                               "statistics, then l2")  # fmt: skip
        alpha: float = param(0.0, Interval(0, 1, "left"),
                             "shrinkage of each class mean towards the mean of all training clips (0 = none)")  # fmt: skip

    @classmethod
    def search_space(cls) -> dict[str, Dimension]:
        """The normalisation and the shrinkage (nothing else to tune)."""
        return {"normalize": Categorical(NORMALIZATIONS), "alpha": Uniform(0.0, 0.9)}

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        from methods._validation import safe_score, val_scorer

        name = getattr(self, "name", "nearest_class_mean")
        X = checked_features(train, name)
        y = checked_class_labels(train, name)
        cfg = self.config
        self.standardizer_: Standardizer | None = None
        if cfg.normalize != "l2":
            stats = Standardizer.fit(X)
            # center_l2 only subtracts the mean; standardize_l2 also divides by the std.
            self.standardizer_ = stats if cfg.normalize == "standardize_l2" else Standardizer(stats.mean, np.ones_like(stats.scale))
        Z = self._normalized(X)
        n_classes = len(train.concepts)
        counts = np.bincount(y, minlength=n_classes)
        sums = np.zeros((n_classes, Z.shape[1]))
        np.add.at(sums, y, Z)
        means = sums / np.maximum(counts, 1)[:, None]
        means = (1.0 - cfg.alpha) * means + cfg.alpha * Z.mean(axis=0)
        self.seen_ = counts > 0
        self.means_ = _l2(means)
        self.n_features_ = X.shape[1]
        self.classes_without_training_ = [train.concepts[c] for c in np.flatnonzero(~self.seen_)]
        if self.classes_without_training_:
            log.warning("%s: %d class(es) without training clips are never predicted: %s", name,
                        len(self.classes_without_training_), ", ".join(self.classes_without_training_[:10]))  # fmt: skip
        scorer = val_scorer(val)
        self.val_score_ = None if scorer is None or val is None else safe_score(scorer, self.predict(val))
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        X = checked_features(data, getattr(self, "name", "nearest_class_mean"), self.n_features_)
        scores = self._normalized(X) @ self.means_.T
        scores[:, ~self.seen_] = UNSEEN_SCORE
        return scores

    def _normalized(self, X: np.ndarray) -> np.ndarray:
        Z = np.asarray(X, dtype=np.float64) if self.standardizer_ is None else self.standardizer_.transform(X)
        return _l2(Z)


def _l2(Z: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (an all-zero row stays zero: cosine 0 with every class)."""
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    return Z / np.where(norms > 1e-12, norms, 1.0)
