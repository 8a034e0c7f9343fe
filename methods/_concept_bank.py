"""Concept-bank shot retrieval (METHODS.md 2.7), shared by every AVS method that answers queries
through concept detectors (``concept_bank_lr``, ``micronn``, ``svm_concepts``).

For query q with concepts C_q (the data set's manual query -> concept file, run type 'M') and shot
s: score(s, q) = mean over c in C_q of nu_c(o_c(s)), nu_c the per-concept min-max map of the
detector outputs over the test collection onto [-1, 1] (AMB-24). The metric keeps each query's top
``protocol.max_results`` shots (AVS: 1000).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from harness.api import MethodData, Sequences, SourceSpec
from harness.errors import DataError

log = logging.getLogger(__name__)

NORMALISATIONS = ("minmax", "none")
# Miniature settings of the concept-bank methods (harness/miniature.py), with their reasons.
MINI_BACKBONE = "every miniature declares the source-pretrained mini_alexnet (fc7 256-d); VGG16 needs real images"
MINI_NO_ACTIONS = ("no query of trecvid-avs2016-mini uses a UCF101 action; ucf101-mini and its per-frame features "
                   "would cost about a minute for detectors no score reads")


def bank_sources(video: str, images: str | None, actions: str | None, action_frame_stride: int = 1) -> dict[str, SourceSpec]:
    """The training sources of a concept bank: the video source always, the image and action
    sources when named (their training splits: what the bank's detectors learn from). The action
    clips keep every ``action_frame_stride``-th frame (their own feature setting)."""
    out = {"video": SourceSpec(dataset=video, split="train")}
    if images:
        out["images"] = SourceSpec(dataset=images, split="train")
    if actions:
        stride = {"frame_stride": action_frame_stride} if action_frame_stride != 1 else {}
        out["actions"] = SourceSpec(dataset=actions, split="train", features=stride)
    return out


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


# --------------------------------------------------------------------------------------------
# Training sources as one concept table
# --------------------------------------------------------------------------------------------

Table = tuple[Any, np.ndarray, tuple[str, ...]]  # (feature block, (n, K) labels, concept names)


def one_vs_rest(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, K) {0, 1} labels of a multiclass (n,) label vector (UCF101 clips as action concepts)."""
    out = np.zeros((len(labels), n_classes), dtype=np.int8)
    out[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)] = 1
    return out


def source_table(src: MethodData, block: str = "features", method: str = "microNN") -> Table:
    """(feature block, (n, K) multilabel labels, concept names) of a training source."""
    if src.labels is None or block not in src.blocks:
        raise DataError(f"{method}: training source {src.dataset!r} has no labels or no {block!r} features")
    labels = np.asarray(src.labels)
    if src.task == "multiclass":
        labels = one_vs_rest(labels, len(src.concepts))
    elif src.task != "multilabel":
        raise DataError(f"{method}: training source {src.dataset!r} is a {src.task} data set (need labels per concept)")
    return src.blocks[block], labels, tuple(src.concepts)


def stack_sources(tables: list[tuple[Any, np.ndarray, tuple[str, ...]]], concepts: list[str]) -> tuple[list[Any], np.ndarray]:
    """Rows of several sources stacked, with (N, len(concepts)) labels: -1 where a source lacks the concept."""
    blocks, parts = [], []
    for block, labels, names in tables:
        index = {c: j for j, c in enumerate(names)}
        part = np.full((labels.shape[0], len(concepts)), -1, dtype=np.int8)
        for k, c in enumerate(concepts):
            if c in index:
                part[:, k] = labels[:, index[c]]
        blocks.append(block)
        parts.append(part)
    return blocks, np.concatenate(parts) if parts else np.zeros((0, len(concepts)), np.int8)


def concat_sequences(parts: list[Sequences]) -> Sequences:
    """The items of several :class:`Sequences`, one after the other."""
    starts = np.cumsum([0, *[len(p.values) for p in parts[:-1]]])
    offsets = np.concatenate([[0], *[p.offsets[1:] + s for p, s in zip(parts, starts, strict=True)]])
    return Sequences(np.concatenate([p.values for p in parts]), offsets.astype(np.int64))



def bank_tables(train: MethodData, mapping: Mapping[str, Sequence[str]], which: str,
                method: str) -> tuple[list[str], list[Table], Table | None, list[str]]:
    """(queried concepts with repeats, video tables, image table, bank concepts) of a fit on AVS.

    Video tables: the ``video`` source (annotated shots) and the ``actions`` source (clips, one
    concept per class); image table: the ``images`` source. The bank: every source concept
    (``which="all"``) or those some query uses (``"queried"``), video concepts first.
    """
    wanted = [c for q in train.concepts for c in mapping.get(q, ())]
    video = [source_table(train.sources[k], method=method) for k in ("video", "actions") if k in train.sources]
    image = source_table(train.sources["images"], method=method) if "images" in train.sources else None
    if not video:
        raise DataError(f"{method} needs its training source 'video' with features and labels")
    known = list(dict.fromkeys([c for _, _, names in video for c in names] + list(image[2] if image else ())))
    bank = known if which == "all" else [c for c in known if c in set(wanted)]
    if not bank:
        raise DataError(f"{method}: none of the query concepts is a concept of the training sources "
                        f"({', '.join(train.sources[k].dataset for k in train.sources)})")  # fmt: skip
    return wanted, video, image, bank


# --------------------------------------------------------------------------------------------
# Held-out shots: detector quality beside training time (the micronn.timing table)
# --------------------------------------------------------------------------------------------


def hold_out_video(video: list[Table], groups: np.ndarray, fraction: float, seed: int) -> tuple[list[Table], Table | None]:
    """Move a ``fraction`` of the video source's groups (its videos: shots of one video stay
    together) out of training; returns the training tables and the held-out table (None at 0).

    ``video[0]`` is the ``video`` source (``bank_tables`` order) and ``groups`` its items' groups.
    """
    if fraction <= 0:
        return video, None
    block, labels, names = video[0]
    unique = np.unique(np.asarray(groups))
    if len(unique) < 2:
        raise DataError(f"held-out shots need at least two videos in the video source, got {len(unique)}")
    rng = np.random.default_rng(seed)
    n_held = min(len(unique) - 1, max(1, int(round(fraction * len(unique)))))
    held_groups = rng.permutation(unique)[:n_held]
    held = np.isin(np.asarray(groups), held_groups)
    keep, out = np.flatnonzero(~held), np.flatnonzero(held)
    return [(block[keep], labels[keep], names), *video[1:]], (block[out], labels[out], names)


def heldout_map(outputs: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    """(mean AP, concepts scored) of (n, K) detector outputs against (n, K) {0, 1} labels (-1 =
    unknown), over the concepts with both a positive and a negative held-out shot."""
    from sklearn.metrics import average_precision_score

    aps = []
    for k in range(labels.shape[1]):
        known = labels[:, k] >= 0
        y = labels[known, k]
        if y.min(initial=1) == 0 and y.max(initial=0) == 1:
            aps.append(float(average_precision_score(y, outputs[known, k])))
    return (float(np.mean(aps)) if aps else float("nan")), len(aps)


def timing_note(schedule: str, train_s: float | None, concepts: list[str], held: Table | None,
                outputs: Callable[[Any], np.ndarray]) -> dict[str, Any]:
    """The ``timing_`` fit note: the bank's training seconds (steps 1-2 or the SVMs; features
    excluded), per trained concept, and the held-out mean AP of the same detectors (``outputs``:
    held-out features -> (n, K) outputs over ``concepts``)."""
    note: dict[str, Any] = {"schedule": schedule, "concepts": len(concepts), "train_s": train_s,
                            "per_concept_s": None if train_s is None else train_s / max(1, len(concepts))}  # fmt: skip
    if held is not None:
        _, labels = stack_sources([held], concepts)
        note["heldout_map"], note["heldout_concepts"] = heldout_map(outputs(held[0]), labels)
        note["heldout_shots"] = int(labels.shape[0])
    return note
