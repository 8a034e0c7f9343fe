"""NB-TL's data-side rules (METHODS.md 2.8), numpy only: the 90/10 frame split, the penalty set, and the
contribution-based selection of the units to drop.

Selection (AMB-27). For a penalty frame with predicted (wrong) class ``yhat``:

1. last-layer culprit ``j* = argmax_j W8[yhat, j] * h7[j]`` (the fc7 unit contributing most to the wrong score);
2. back-step ``i* = argmax_i W7[j*, i] * h6[i]`` (the fc6 unit contributing most to that unit);
3. each frame records one unit per layer with its contribution; a unit's score is the sum of the
   contributions recorded for it; the top ``ratio`` of a layer's units by score are dropped (only the
   units that were selected at all: fewer if fewer were selected).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.errors import InvalidParameterError

SPLIT_UNITS = ("frame", "clip")
LAYER_CHOICES = ("last", "second_to_last", "last_two")


# --------------------------------------------------------------------------------------------
# The 90/10 split of the training frames
# --------------------------------------------------------------------------------------------


def frame_clips(offsets: np.ndarray) -> np.ndarray:
    """(N,) clip index of every frame of a :class:`~harness.api.Sequences` with these offsets."""
    return np.repeat(np.arange(len(offsets) - 1), np.diff(np.asarray(offsets, dtype=np.int64)).astype(np.int64))


def holdout_frames(offsets: np.ndarray, fraction: float, unit: str, rng: np.random.Generator) -> np.ndarray:
    """(N,) bool: the frames held out as penalty-validation.

    ``unit="frame"``: a random ``fraction`` of all frames (AMB-25: a clip's other frames stay in training);
    ``unit="clip"``: a random ``fraction`` of the clips, with all their frames (no clip on both sides).
    """
    if unit not in SPLIT_UNITS:
        raise InvalidParameterError(f"val_unit must be one of {SPLIT_UNITS}, got {unit!r}")
    clips = frame_clips(offsets)
    n = len(clips) if unit == "frame" else len(offsets) - 1
    k = int(round(fraction * n))
    chosen = np.zeros(n, dtype=bool)
    chosen[rng.choice(n, size=k, replace=False)] = True
    return chosen if unit == "frame" else chosen[clips]


# --------------------------------------------------------------------------------------------
# Penalty set
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PenaltySet:
    """Misclassified validation frames, restricted to a subset of their clips.

    Attributes:
        frames: indices (into the validation frames) of the penalty frames kept.
        clips: the clips (ids as given) those frames belong to, sorted.
        all_clips: number of clips with at least one misclassified validation frame (the full set).
    """

    frames: np.ndarray
    clips: np.ndarray
    all_clips: int


def clip_budget(spec: str | int | float, n_clips: int) -> int:
    """How many of ``n_clips`` penalty clips to keep: ``all``, a count (``260``) or a fraction (``0.333``)."""
    text = str(spec).strip().lower()
    if text == "all":
        return n_clips
    try:
        value = float(text)
    except ValueError:
        raise InvalidParameterError(f"penalty_clips must be 'all', a clip count or a fraction in (0, 1]; got {spec!r}") from None
    if value <= 0:
        raise InvalidParameterError(f"penalty_clips must be positive, got {spec!r}")
    if value <= 1 and ("." in text or value < 1):
        return int(round(value * n_clips))  # a fraction of the full set (Table 2's 1/3, 2/3)
    return min(int(value), n_clips)


def penalty_set(predicted: np.ndarray, truth: np.ndarray, clip_of_frame: np.ndarray, spec: str | int | float,
                rng: np.random.Generator) -> PenaltySet:
    """The misclassified frames (``predicted != truth``) of a random ``spec`` of the clips that have any."""
    wrong = np.flatnonzero(np.asarray(predicted) != np.asarray(truth))
    clips = np.unique(np.asarray(clip_of_frame)[wrong])
    keep = clip_budget(spec, len(clips))
    chosen = np.sort(rng.choice(clips, size=keep, replace=False)) if keep < len(clips) else clips
    frames = wrong[np.isin(np.asarray(clip_of_frame)[wrong], chosen)]
    return PenaltySet(frames, chosen, len(clips))


# --------------------------------------------------------------------------------------------
# Unit selection
# --------------------------------------------------------------------------------------------


def culprits(weights: np.ndarray, activations: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the input unit contributing most to output ``rows[f]``: ``argmax_j W[rows[f], j] * a[f, j]``.

    Args:
        weights: (n_out, n_in) weights of the FC layer.
        activations: (F, n_in) its inputs on the F frames.
        rows: (F,) the output unit of each frame (the wrong class, or the culprit one layer up).

    Returns:
        (units (F,), contributions (F,)).
    """
    contrib = np.asarray(weights, dtype=np.float64)[np.asarray(rows, dtype=np.int64)] * np.asarray(activations, dtype=np.float64)
    units = contrib.argmax(axis=1) if len(contrib) else np.zeros(0, dtype=np.int64)
    return units, contrib[np.arange(len(units)), units]


def unit_scores(units: np.ndarray, contributions: np.ndarray, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """(score per unit = summed contributions, selected-at-least-once mask)."""
    scores = np.bincount(units, weights=contributions, minlength=n_units).astype(np.float64)
    selected = np.bincount(units, minlength=n_units) > 0
    return scores, selected


def units_to_drop(scores: np.ndarray, selected: np.ndarray, ratio: float) -> np.ndarray:
    """The top ``ratio`` of the layer's units by score, among the selected ones (sorted indices).

    The budget is ``round(ratio * n_units)`` (an assumption: the seed gives only the percentage); ties
    go to the lower index (stable sort)."""
    budget = int(round(ratio * len(scores)))
    candidates = np.flatnonzero(selected)
    order = candidates[np.argsort(-scores[candidates], kind="stable")]
    return np.sort(order[:budget])


@dataclass(frozen=True)
class Selection:
    """Units to drop: ``fc7`` (inputs of the last FC layer) and ``fc6`` (inputs of the second-to-last)."""

    fc7: np.ndarray
    fc6: np.ndarray
    selected_fc7: int
    selected_fc6: int


def select_units(w8: np.ndarray, w7: np.ndarray, h7: np.ndarray, h6: np.ndarray, wrong_class: np.ndarray,
                 layers: str, ratio: float) -> Selection:
    """METHODS.md 2.8 step 2 on the penalty frames' activations; ``layers``: last, second_to_last, last_two."""
    if layers not in LAYER_CHOICES:
        raise InvalidParameterError(f"drop_layers must be one of {LAYER_CHOICES}, got {layers!r}")
    j, cj = culprits(w8, h7, wrong_class)
    i, ci = culprits(w7, h6, j)  # the back-step starts from each frame's last-layer culprit
    s7, sel7 = unit_scores(j, cj, w8.shape[1])
    s6, sel6 = unit_scores(i, ci, w7.shape[1])
    none = np.zeros(0, dtype=np.int64)
    fc7 = units_to_drop(s7, sel7, ratio) if layers in ("last", "last_two") else none
    fc6 = units_to_drop(s6, sel6, ratio) if layers in ("second_to_last", "last_two") else none
    return Selection(fc7, fc6, int(sel7.sum()), int(sel6.sum()))
