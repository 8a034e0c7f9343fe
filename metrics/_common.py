"""Checks shared by the registered metric entries (shapes, concept subsets, cached qrels)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness.api import EvalInput, EvalResult
from harness.errors import DataError, InvalidParameterError
from metrics._trec_io import Qrels, read_qrels


def score_matrix(data: EvalInput, metric: str) -> np.ndarray:
    """``data.scores`` as an (n, T) float64 matrix, checked against ids and concepts."""
    scores = np.asarray(data.scores, dtype=np.float64)
    n, t = len(data.ids), len(data.concepts)
    if scores.ndim == 1 and t == 1:
        scores = scores[:, None]
    if scores.shape != (n, t):
        raise DataError(
            f"metric {metric!r}: scores must have shape (items, concepts) = ({n}, {t}), got {scores.shape}."
        )
    if np.isnan(scores).any():
        bad = int(np.flatnonzero(np.isnan(scores).any(axis=0))[0])
        raise DataError(
            f"metric {metric!r}: scores of concept {data.concepts[bad]!r} contain NaN; the method "
            f"produced invalid output."
        )
    return scores


def eval_concept_indices(data: EvalInput, metric: str) -> list[int]:
    """Column indices of ``protocol.eval_concepts`` (all concepts when None), in that order."""
    wanted = data.protocol.eval_concepts
    if wanted is None:
        return list(range(len(data.concepts)))
    position = {c: i for i, c in enumerate(data.concepts)}
    unknown = [c for c in wanted if c not in position]
    if unknown:
        raise InvalidParameterError(
            f"metric {metric!r}: protocol.eval_concepts names {len(unknown)} concept(s) the data set "
            f"does not have: {', '.join(map(repr, unknown[:5]))}. Known concepts: "
            f"{', '.join(map(repr, data.concepts[:10]))}{' ...' if len(data.concepts) > 10 else ''}."
        )
    return [position[c] for c in wanted]


def protocol_qrels(data: EvalInput, metric: str) -> Qrels:
    """The protocol's qrels (read once per file version and process)."""
    path = data.protocol.qrels_path
    if path is None:
        raise InvalidParameterError(
            f"metric {metric!r} needs judgments, but the data set's protocol has no qrels_path. "
            f"Use a protocol with NIST qrels or the 'map' metric (complete judgments)."
        )
    p = Path(path)
    try:
        st = os.stat(p)
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (0, 0)  # read_qrels raises the clear MissingDataError
    return _cached_qrels(str(p), stamp)


@lru_cache(maxsize=8)
def _cached_qrels(path: str, stamp: tuple[int, int]) -> Qrels:
    return read_qrels(path)


def judged_result(
    metric: str,
    data: EvalInput,
    qrels: Qrels,
    names: list[str],
    values: np.ndarray,
    unjudged: list[str],
    *,
    scale: float,
    max_results: int,
    trecvid_adjust: bool,
    per_concept_key: str = "xinfap",
) -> EvalResult:
    """EvalResult of a qrels-based metric (mean x ``scale``), or a DataError if nothing is judged."""
    if len(values) == 0:
        raise DataError(
            f"metric {metric!r}: none of the evaluated concepts has a topic in the qrels "
            f"{data.protocol.qrels_path}. Qrels topic ids must equal the concept names; the qrels "
            f"have topics {', '.join(list(qrels)[:8])}{' ...' if len(qrels) > 8 else ''}, the "
            f"data set concepts {', '.join(map(str, data.concepts[:8]))}{' ...' if len(data.concepts) > 8 else ''}."
        )
    return EvalResult(
        overall={metric: float(scale * values.mean())},
        concepts=tuple(names),
        per_concept={per_concept_key: values},
        notes={
            "unit": "percent" if scale == 100.0 else "fraction",
            "unjudged_concepts": tuple(unjudged),
            "n_concepts": len(values),
            "max_results": max_results,
            "trecvid_adjust": trecvid_adjust,
        },
    )


def class_inputs(data: EvalInput, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores (n, C), labels (n,) int) of a single-label protocol, checked."""
    scores = score_matrix(data, metric)
    if data.labels is None:
        raise DataError(f"metric {metric!r} needs test labels, but EvalInput.labels is None.")
    labels = np.asarray(data.labels)
    if labels.ndim != 1 or len(labels) != len(scores):
        raise DataError(
            f"metric {metric!r}: labels must be one class index per item, shape ({len(scores)},), "
            f"got {labels.shape}."
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= scores.shape[1] or np.any(np.mod(labels, 1) != 0)):
        raise DataError(
            f"metric {metric!r}: labels must be integer class indices in [0, {scores.shape[1] - 1}], "
            f"got values in [{labels.min()}, {labels.max()}]."
        )
    return scores, labels.astype(np.int64)
