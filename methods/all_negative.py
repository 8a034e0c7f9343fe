"""``all_negative``: the trivial multi-label predictor that outputs no label at all.

METHODS.md 1.5 makes its Hamming loss (mean label cardinality / L) a mandatory sanity baseline and
AMB-34 shows why: on IAPR TC-12 it already beats every published figure of the MMDL-EG table. As a
registered method it gets a row of its own in every table, computed from the data at hand. It
reads no features (it works on any multi-label data set); its scores are all 0 (= no label).
"""

from __future__ import annotations

from typing import Self

import numpy as np

from harness.api import Method, MethodData, register_method


@register_method("all_negative")
class AllNegative(Method):
    """Predicts the empty label set for every item (score 0 for every concept)."""

    description = "trivial predictor: no label for any item (the Hamming-loss sanity baseline)"
    paper = "MMDL-EG Table 1 (sanity row, METHODS.md 1.5 / AMB-34)"
    tasks = ("multilabel",)
    fitted_notes = ("n_concepts_",)

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        self.n_concepts_ = len(train.concepts)
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        if len(data.concepts) != self.n_concepts_:
            raise ValueError(f"all_negative: fitted on {self.n_concepts_} concepts, asked for {len(data.concepts)}")
        return np.zeros((len(data), self.n_concepts_), dtype=np.float64)
