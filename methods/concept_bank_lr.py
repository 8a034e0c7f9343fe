"""``concept_bank_lr``: ad-hoc video search through a bank of concept detectors trained on another
data set (a training source), scored as in microNN's shot retrieval (METHODS.md 2.7).

A reference baseline for data sets without a training split (TRECVID AVS): one L2 logistic
regression per concept on the source's annotated shots (SIN collaborative annotation), then, for
query q with concepts C_q, score(s, q) = mean over c in C_q of nu_c(o_c(s)), nu_c the per-concept
min-max map of the presence probabilities over the test collection onto [-1, 1] (AMB-24). The
query -> concept mapping is the data set's manual file (``info["query_concepts"]``). microNN's own
detectors (issue: microNN) replace the logistic regressions; the retrieval score is the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Self

import numpy as np

from harness.api import Method, MethodData, SourceSpec, register_method
from harness.errors import DataError
from harness.params import Interval, Options, param
from harness.search_space import Dimension, LogUniform
from harness.seeding import derive_seed
from methods._feature_config import FeatureFields

log = logging.getLogger(__name__)

NORMALISATIONS = ("minmax", "none")


def minmax_to_unit(outputs: np.ndarray) -> np.ndarray:
    """Per-column min-max of ``outputs`` (n, C) onto [-1, 1]; a constant column maps to 0 (AMB-24)."""
    lo, hi = outputs.min(axis=0, initial=np.inf), outputs.max(axis=0, initial=-np.inf)
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(span > 0, 2.0 * (outputs - lo) / np.where(span > 0, span, 1.0) - 1.0, 0.0)
    return scaled


def query_scores(detector_outputs: np.ndarray, concept_index: dict[str, int],
                 query_concepts: dict[str, tuple[str, ...]], queries: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """(n, Q) mean of each query's concept outputs; queries without a detector score 0 (returned by name)."""
    n = detector_outputs.shape[0]
    scores = np.zeros((n, len(queries)), dtype=np.float64)
    unanswered: list[str] = []
    for j, q in enumerate(queries):
        cols = [concept_index[c] for c in query_concepts.get(q, ()) if c in concept_index]
        if cols:
            scores[:, j] = detector_outputs[:, cols].mean(axis=1)
        else:
            unanswered.append(q)
    return scores, unanswered


@register_method("concept_bank_lr")
class ConceptBankLR(Method):
    """Concept-bank shot retrieval with logistic-regression detectors trained on a training source."""

    description = "AVS retrieval: per-concept LR detectors trained on a source data set, min-max fused per query"
    paper = "microNN (TRECVID AVS 2016) retrieval score, with LR detectors as a reference baseline"
    tasks = ("multilabel",)
    fitted_notes = ("detectors_", "unanswered_queries_", "source_dataset_")

    @dataclass(frozen=True)
    class Config(FeatureFields):
        layer: str = param("fc7", help="backbone layer whose output is the feature vector (microNN: fc7)")
        pooling: str = param("max", Options(("mean", "max")), "frames of a shot pooled by max (AMB-21)",
                             assumption=True)
        source: str = param("trecvid2013", help="registered data set whose annotated shots train the detectors")
        C: float = param(1.0, Interval(0, None, "neither"), "inverse L2 regularisation strength", assumption=True)
        normalisation: str = param("minmax", Options(NORMALISATIONS), "per-concept output map before fusion (AMB-24)")
        max_iter: int = param(1000, Interval(1, None), "LIBLINEAR iteration cap")

    @classmethod
    def training_sources(cls, config: Config) -> dict[str, SourceSpec]:
        return {"concepts": SourceSpec(dataset=config.source, split="train")}

    @classmethod
    def search_space(cls) -> dict[str, Dimension]:
        return {"C": LogUniform(2.0**-5, 2.0**15)}

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        from sklearn.linear_model import LogisticRegression

        source = train.sources.get("concepts")
        if source is None or source.features is None or source.labels is None:
            raise DataError("concept_bank_lr needs its training source 'concepts' with features and labels")
        wanted = {c for cs in dict(train.info.get("query_concepts") or {}).values() for c in cs}
        if not wanted:
            raise DataError(f"data set {train.dataset!r} has no query -> concept mapping (query_concepts file)")
        names = [c for c in source.concepts if c in wanted]
        if not names:
            raise DataError(f"none of the query concepts is a concept of the source {source.dataset!r}")
        X = np.asarray(source.features, dtype=np.float64)
        self.mean_, self.scale_ = X.mean(axis=0), X.std(axis=0) + 1e-8
        X = (X - self.mean_) / self.scale_
        labels = np.asarray(source.labels)
        coef, intercept, kept = [], [], []
        for c in names:
            t = source.concepts.index(c)
            rows = labels[:, t] >= 0
            y = labels[rows, t]
            if y.size == 0 or y.min() == y.max():
                continue
            model = LogisticRegression(C=self.config.C, solver="liblinear", max_iter=self.config.max_iter,
                                       random_state=derive_seed(self.seed, "liblinear", t))  # fmt: skip
            model.fit(X[rows], y)
            coef.append(model.coef_[0])
            intercept.append(model.intercept_[0])
            kept.append(c)
        if not kept:
            raise DataError(f"no query concept has both positive and negative shots in {source.dataset!r}")
        self.coef_, self.intercept_ = np.stack(coef, axis=1), np.asarray(intercept)
        self.concept_index_ = {c: i for i, c in enumerate(kept)}
        self.detectors_ = len(kept)
        self.source_dataset_ = source.dataset
        self.query_concepts_ = {str(k): tuple(v) for k, v in dict(train.info.get("query_concepts") or {}).items()}
        self.unanswered_queries_ = [q for q in train.concepts
                                    if not any(c in self.concept_index_ for c in self.query_concepts_.get(q, ()))]
        if self.unanswered_queries_:
            log.warning("concept_bank_lr: %d quer(ies) have no trained detector and score 0: %s",
                        len(self.unanswered_queries_), ", ".join(self.unanswered_queries_[:10]))  # fmt: skip
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        X = (np.asarray(data.features, dtype=np.float64) - self.mean_) / self.scale_
        presence = 1.0 / (1.0 + np.exp(-(X @ self.coef_ + self.intercept_)))
        outputs = minmax_to_unit(presence) if self.config.normalisation == "minmax" else presence
        scores, _ = query_scores(outputs, self.concept_index_, self.query_concepts_, data.concepts)
        return scores
