"""Unpacking of CoVieW protocol inputs from an :class:`~harness.api.EvalInput`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from harness.api import EvalInput
from harness.errors import DataError

N_SCENE = 78  # CoVieW 2019 scene classes
N_ACTION = 99  # CoVieW 2019 action classes

#: Keys of a scores mapping that hold the per-segment selection score u (METHODS.md 1.6, 2.10), in
#: order of precedence: an explicit ``selection`` (e.g. MTN's post-processed u, Eq. 4) wins over the
#: ``importance`` head (the predicted IS, or its logit: selection by IS regression).
SELECTION_KEYS = ("selection", "importance")


@dataclass(frozen=True)
class CoviewInput:
    video_ids: np.ndarray
    selection: np.ndarray | None
    scene_scores: np.ndarray
    action_scores: np.ndarray
    scene_labels: np.ndarray
    action_labels: np.ndarray
    importance: np.ndarray
    segment_index: np.ndarray | None


def _selection(scores: Mapping[str, object], metric: str, n: int, needed: bool) -> np.ndarray | None:
    key = next((k for k in SELECTION_KEYS if k in scores), None)
    if key is None:
        if needed:
            raise DataError(
                f"metric {metric!r}: scores mapping lacks the per-segment selection score; expected an "
                f"'importance' head (n,) (or 'selection'), got keys {sorted(scores)}."
            )
        return None
    u = np.asarray(scores[key], dtype=np.float64)
    if u.shape not in ((n,), (n, 1)):
        raise DataError(f"metric {metric!r}: {key!r} scores must have shape ({n},) (one per segment), got {u.shape}.")
    return u.reshape(-1)


def coview_input(data: EvalInput, metric: str, *, needs_selection: bool = True) -> CoviewInput:
    """Read the CoVieW layout.

    * ``scores``: a mapping of the protocol's heads, ``scene`` (n, S), ``action`` (n, A) and
      ``importance`` (n,) (the predicted importance score, or any score that orders the segments
      of a video for the top-6 selection); ``selection`` (n,) is accepted as an alias and, when
      both are given, is the one the selection uses (e.g. MTN's post-processed score, METHODS.md
      2.10). For backward compatibility also an array (n, 1 + S + A) = [selection | scene scores |
      action scores] with S = ``protocol.options["n_scene_classes"]`` (default 78).
    * ``labels``: (n, 3) = scene class, action class, importance. Classes are column indices
      of the score blocks minus ``protocol.options["label_base"]`` (default 0; set 1 when the
      labels are CoVieW's 1-based ids). A subset of the classes (a validation split) is fine.
    * ``groups``: video id per segment (required); ``extra["segment_index"]`` optional.

    ``needs_selection=False`` (segment accuracy) lets a mapping leave out the selection score
    (``CoviewInput.selection`` is then None).
    """
    n = len(data.ids)
    if data.labels is None or data.groups is None:
        raise DataError(f"metric {metric!r} needs labels (scene, action, importance) and groups (video ids).")
    labels = np.asarray(data.labels, dtype=np.float64)
    if labels.shape != (n, 3):
        raise DataError(f"metric {metric!r}: labels must have shape ({n}, 3) (scene, action, importance), got {labels.shape}.")
    selection: np.ndarray | None
    if isinstance(data.scores, Mapping):
        missing = {"scene", "action"} - set(data.scores)
        if missing:
            raise DataError(
                f"metric {metric!r}: scores mapping lacks {sorted(missing)}; expected the heads scene (n, S), "
                f"action (n, A) and importance (n,), got keys {sorted(data.scores)}."
            )
        selection = _selection(data.scores, metric, n, needs_selection)
        scene = np.asarray(data.scores["scene"], dtype=np.float64)
        action = np.asarray(data.scores["action"], dtype=np.float64)
    else:
        packed = np.asarray(data.scores, dtype=np.float64)
        s = int(data.protocol.options.get("n_scene_classes", N_SCENE))
        if packed.ndim != 2 or packed.shape[0] != n or packed.shape[1] < s + 2:
            raise DataError(
                f"metric {metric!r}: packed scores must have shape ({n}, 1 + {s} scene + action columns), "
                f"got {packed.shape}; or pass a mapping with scene, action and importance."
            )
        selection, scene, action = packed[:, 0], packed[:, 1 : 1 + s], packed[:, 1 + s :]
    for name, a in (("selection", selection), ("scene", scene), ("action", action)):
        if a is None:
            continue
        if name != "selection" and a.ndim != 2:
            raise DataError(f"metric {metric!r}: {name} scores must be (segments, classes), got shape {a.shape}.")
        if len(a) != n:
            raise DataError(f"metric {metric!r}: {name} scores have {len(a)} rows for {n} segments.")
        if np.isnan(a).any():
            raise DataError(f"metric {metric!r}: {name} scores contain NaN.")
    base = int(data.protocol.options.get("label_base", 0))
    for col, name, width in ((0, "scene", scene.shape[1]), (1, "action", action.shape[1])):
        y = labels[:, col]
        if n and (np.any(np.mod(y, 1) != 0) or y.min() < base or y.max() >= width + base):
            raise DataError(
                f"metric {metric!r}: {name} labels must be class ids in [{base}, {width + base - 1}] "
                f"(protocol option label_base={base}), got values in [{y.min():g}, {y.max():g}]."
            )
    seg = data.extra.get("segment_index")
    return CoviewInput(
        video_ids=np.asarray(data.groups),
        selection=selection,
        scene_scores=scene,
        action_scores=action,
        scene_labels=labels[:, 0].astype(np.int64) - base,
        action_labels=labels[:, 1].astype(np.int64) - base,
        importance=labels[:, 2],
        segment_index=None if seg is None else np.asarray(seg),
    )
