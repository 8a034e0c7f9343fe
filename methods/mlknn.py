"""``mlknn``: ML-kNN, the lazy multi-label learner of Zhang & Zhou (Pattern Recognition 2007).

METHODS.md 2.9 ("baseline LL"), exactly as the paper defines it, vectorised over labels:

* prior ``P(H1_l) = (s + #positives of l) / (2 s + n)``;
* ``C_i(l)`` = how many of training point i's K nearest *other* training points have label l
  (a point is never its own neighbour, unlike scikit-multilearn's MLkNN);
* ``P(E_m | H1_l) = (s + c_l[m]) / (s (K + 1) + sum_p c_l[p])`` with ``c_l[m]`` = #{i: y_il = 1,
  C_i(l) = m}, and likewise ``P(E_m | H0_l)`` over the points without l;
* a test image gets label l iff ``P(H1_l) P(E_C(l) | H1_l) > P(H0_l) P(E_C(l) | H0_l)``.

Distances are Euclidean on the chosen feature block, neighbours found exactly (ties by training
index, :mod:`methods._knn`) in chunks, so NUS-WIDE's 160k training images fit in memory.
Labels -1 (not annotated, TRECVID) count as "not having l" in a neighbour and leave the point out
of label l's prior and of ``c_l`` / ``c'_l`` (on fully annotated sets this is the paper's rule).
Output: the hard label set where the data set is scored by Hamming loss (``output=auto``), else the
posterior ``P(H1_l | E)`` as a ranking score (what the paper ranks by for ranking metrics).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Self

import numpy as np

from harness.api import Method, MethodData, register_method
from harness.params import Interval, Options, param

log = logging.getLogger(__name__)

OUTPUTS = ("auto", "labels", "posterior")
NORMALIZATIONS = ("none", "minmax")


def output_kind(requested: str, data: MethodData) -> str:
    """``labels`` or ``posterior``: ``auto`` = hard label sets where the headline metric is Hamming loss."""
    if requested != "auto":
        return requested
    metric = data.protocol.metric if data.protocol is not None else ""
    return "labels" if metric == "hamming_loss" else "posterior"


@dataclass(frozen=True)
class MlknnModel:
    """What ML-kNN learns: priors and the two count-conditional tables per label, plus the training set."""

    reference: np.ndarray  # (n, d) training features (the neighbour pool)
    positives: np.ndarray  # (n, L) bool: training point has label l
    prior: np.ndarray  # (L,) P(H1_l)
    cond_pos: np.ndarray  # (L, K + 1) P(E_m | H1_l)
    cond_neg: np.ndarray  # (L, K + 1) P(E_m | H0_l)

    def posterior_parts(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, L) ``P(H1) P(E_C | H1)`` and ``P(H0) P(E_C | H0)`` for neighbour counts ``counts``."""
        labels = np.arange(counts.shape[1])
        return self.prior * self.cond_pos[labels, counts], (1.0 - self.prior) * self.cond_neg[labels, counts]


def neighbour_counts(positives: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """(n, L) int64: how many of each row's neighbours (indices (n, K)) have each label."""
    out = np.empty((len(neighbours), positives.shape[1]), dtype=np.int64)
    step = max(1, 2_000_000 // max(1, neighbours.shape[1] * positives.shape[1]))  # bounded (rows, K, L) gather
    for start in range(0, len(neighbours), step):
        out[start : start + step] = positives[neighbours[start : start + step]].sum(axis=1)
    return out


def fit_mlknn(X: np.ndarray, labels: np.ndarray, k: int, smoothing: float, *,
              chunk_rows: int = 1024, dtype: str = "float64", device: str = "cpu") -> MlknnModel:  # fmt: skip
    """ML-kNN's estimates from training features ``X`` (n, d) and labels (n, L) in {1, 0, -1}."""
    from methods._knn import nearest_neighbours

    y = np.asarray(labels)
    positives, annotated = y == 1, y >= 0
    s = float(smoothing)
    n_annotated = annotated.sum(axis=0)
    prior = (s + positives.sum(axis=0)) / (2.0 * s + n_annotated)
    counts = neighbour_counts(positives, nearest_neighbours(X, None, k, chunk_rows=chunk_rows, dtype=dtype, device=device))
    n_labels = y.shape[1]
    # c[l, m] = #{i: y_il = 1, C_i(l) = m} for all labels at once: one bincount over (label, count) codes.
    codes = np.arange(n_labels) * (k + 1) + counts
    c_pos = np.bincount(codes.ravel(), weights=positives.ravel(), minlength=n_labels * (k + 1)).reshape(n_labels, k + 1)
    negatives = annotated & ~positives
    c_neg = np.bincount(codes.ravel(), weights=negatives.ravel(), minlength=n_labels * (k + 1)).reshape(n_labels, k + 1)
    cond_pos = (s + c_pos) / (s * (k + 1) + c_pos.sum(axis=1, keepdims=True))
    cond_neg = (s + c_neg) / (s * (k + 1) + c_neg.sum(axis=1, keepdims=True))
    return MlknnModel(np.asarray(X), positives, prior, cond_pos, cond_neg)


@register_method("mlknn")
class MLkNN(Method):
    """ML-kNN (Zhang & Zhou 2007): Bayesian rule on neighbour label counts, K = 10, s = 1, Euclidean."""

    description = "ML-kNN (Zhang & Zhou 2007): MAP rule on the label counts of the K nearest training images"
    paper = "MMDL-EG Table 1 (LL)"
    tasks = ("multilabel",)
    fitted_notes = ("n_reference_", "output_", "normalize_")

    @dataclass(frozen=True)
    class Config:
        k: int = param(10, Interval(1, None), "number of nearest neighbours K", assumption=True)
        smoothing: float = param(1.0, Interval(0, None, "neither"), "Laplace smoothing s of the estimates", assumption=True)
        backbone: str = param("provided", help="feature extractor ('provided' = the blocks the data set ships; "
                                               "'auto' = its reference backbone)")  # fmt: skip
        layer: str = param("all", help="feature block ('all' = the shipped blocks concatenated) or backbone layer")
        backbone_weights: str = param("default", help="'default' pretrained weights or a checkpoint path")
        normalize: str = param("none", Options(NORMALIZATIONS),
                               "per-dimension scaling before distances: none (the paper), or minmax to "
                               "[0, 1] with training min / max")  # fmt: skip
        use_validation: bool = param(True, help="add the runner's validation hold-out to the neighbour pool "
                                                "(ML-kNN selects nothing on it)", assumption=True)  # fmt: skip
        output: str = param("auto", Options(OUTPUTS),
                            "labels = MAP label sets, posterior = P(H1 | E) scores; auto = labels where "
                            "the data set is scored by Hamming loss")  # fmt: skip
        distance_dtype: str = param("float64", Options(("float64", "float32")),
                                    "precision of the distance computation (float32: faster, ties may move)")  # fmt: skip
        chunk_rows: int = param(1024, Interval(1, None), "query rows per distance chunk (memory only)")

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        cfg = self.config
        X, y = _features(train), np.asarray(train.labels)
        if cfg.use_validation and val is not None and val.labels is not None and len(val):
            X, y = np.concatenate([X, _features(val)]), np.concatenate([y, np.asarray(val.labels)])
        if len(X) <= cfg.k:
            raise ValueError(f"mlknn: k={cfg.k} needs more than {cfg.k} training items, got {len(X)}")
        self.lo_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        if cfg.normalize == "minmax":
            self.lo_ = X.min(axis=0)
            span = X.max(axis=0) - self.lo_
            self.scale_ = np.where(span > 0, span, 1.0)
        self.model_ = fit_mlknn(self._scaled(X), y, cfg.k, cfg.smoothing, chunk_rows=cfg.chunk_rows,
                                dtype=cfg.distance_dtype, device=self.device)  # fmt: skip
        self.n_reference_ = len(X)
        self.output_ = output_kind(cfg.output, train)
        self.normalize_ = cfg.normalize
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        from methods._knn import nearest_neighbours

        cfg, model = self.config, self.model_
        X = self._scaled(_features(data))
        if X.shape[1] != model.reference.shape[1]:
            raise ValueError(f"mlknn: fitted on {model.reference.shape[1]} features, got {X.shape[1]}")
        if len(X) == 0:
            return np.zeros((0, model.positives.shape[1]))
        idx = nearest_neighbours(model.reference, X, cfg.k, chunk_rows=cfg.chunk_rows, dtype=cfg.distance_dtype,
                                 device=self.device)  # fmt: skip
        yes, no = model.posterior_parts(neighbour_counts(model.positives, idx))
        if self.output_ == "labels":
            return (yes > no).astype(np.float64)
        return yes / np.maximum(yes + no, np.finfo(float).tiny)

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.lo_) / self.scale_


def _features(data: MethodData) -> np.ndarray:
    if data.features is None:
        raise ValueError("mlknn needs one feature block (backbone 'provided' with layer 'all' or a block name, "
                         "or a backbone and layer); the runner provided none")  # fmt: skip
    return np.asarray(data.features, dtype=np.float64).reshape(len(data), -1)
