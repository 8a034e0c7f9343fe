"""Concept-bank shot retrieval (METHODS.md 2.7), shared by every AVS method that answers queries
through concept detectors (``concept_bank_lr``, ``micronn``, ``svm_concepts``).

For query q with concepts C_q (the data set's manual query -> concept file, run type 'M') and shot
s: score(s, q) = mean over c in C_q of nu_c(o_c(s)), nu_c the per-concept min-max map of the
detector outputs over the test collection onto [-1, 1] (AMB-24). The metric keeps each query's top
``protocol.max_results`` shots (AVS: 1000).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from harness.api import MethodData
from harness.errors import DataError

log = logging.getLogger(__name__)

NORMALISATIONS = ("minmax", "none")


def minmax_to_unit(outputs: np.ndarray) -> np.ndarray:
    """Per-column min-max of ``outputs`` (n, C) onto [-1, 1]; a constant column maps to 0 (AMB-24)."""
    lo, hi = outputs.min(axis=0, initial=np.inf), outputs.max(axis=0, initial=-np.inf)
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.where(span > 0, 2.0 * (outputs - lo) / np.where(span > 0, span, 1.0) - 1.0, 0.0)
    return scaled


def query_scores(detector_outputs: np.ndarray, concept_index: Mapping[str, int],
                 query_concepts: Mapping[str, Sequence[str]], queries: Sequence[str]) -> tuple[np.ndarray, list[str]]:
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


def retrieval_scores(outputs: np.ndarray, concept_index: Mapping[str, int], query_concepts: Mapping[str, Sequence[str]],
                     queries: Sequence[str], normalisation: str = "minmax") -> np.ndarray:
    """(n, Q) query scores from (n, K) detector outputs: normalised per concept, then averaged per query."""
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, got {normalisation!r}")
    values = minmax_to_unit(np.asarray(outputs, dtype=np.float64)) if normalisation == "minmax" else outputs
    return query_scores(values, concept_index, query_concepts, queries)[0]


def query_mapping(train: MethodData) -> dict[str, tuple[str, ...]]:
    """The data set's query -> concepts mapping (``info["query_concepts"]``); refused when absent."""
    mapping = {str(k): tuple(v) for k, v in dict(train.info.get("query_concepts") or {}).items()}
    if not mapping:
        raise DataError(f"data set {train.dataset!r} has no query -> concept mapping (query_concepts file)")
    return mapping


def unanswered_queries(queries: Sequence[str], mapping: Mapping[str, Sequence[str]], trained: Mapping[str, int],
                       method: str) -> list[str]:
    """Queries none of whose concepts has a detector (they score 0); logged once."""
    out = [q for q in queries if not any(c in trained for c in mapping.get(q, ()))]
    if out:
        log.warning("%s: %d quer(ies) have no trained detector and score 0: %s", method, len(out), ", ".join(out[:10]))
    return out
