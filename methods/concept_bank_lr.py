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
from methods._concept_bank import (
    NORMALISATIONS,
    query_mapping,
    retrieval_scores,
    unanswered_queries,
)
from methods._feature_config import FeatureFields

log = logging.getLogger(__name__)

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
        self.query_concepts_ = query_mapping(train)
        wanted = {c for cs in self.query_concepts_.values() for c in cs}
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
        self.unanswered_queries_ = unanswered_queries(train.concepts, self.query_concepts_, self.concept_index_,
                                                      "concept_bank_lr")  # fmt: skip
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        X = (np.asarray(data.features, dtype=np.float64) - self.mean_) / self.scale_
        presence = 1.0 / (1.0 + np.exp(-(X @ self.coef_ + self.intercept_)))
        return retrieval_scores(presence, self.concept_index_, self.query_concepts_, data.concepts,
                                self.config.normalisation)  # fmt: skip
