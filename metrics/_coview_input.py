"""Unpacking of CoVieW protocol inputs from an :class:`~harness.api.EvalInput`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from harness.api import EvalInput
from harness.errors import DataError

N_SCENE = 78  # CoVieW 2019 scene classes
N_ACTION = 99  # CoVieW 2019 action classes


@dataclass(frozen=True)
class CoviewInput:
    video_ids: np.ndarray
    selection: np.ndarray
    scene_scores: np.ndarray
    action_scores: np.ndarray
    scene_labels: np.ndarray
    action_labels: np.ndarray
    importance: np.ndarray
    segment_index: np.ndarray | None


def coview_input(data: EvalInput, metric: str) -> CoviewInput:
    """Read the CoVieW layout.

    * ``scores``: a mapping with ``selection`` (n,), ``scene`` (n, S) and ``action`` (n, A), or an
      array (n, 1 + S + A) = [selection | scene scores | action scores] with
      S = ``protocol.options["n_scene_classes"]`` (default 78).
    * ``labels``: (n, 3) = scene class, action class, importance. Classes are column indices
      of the score blocks minus ``protocol.options["label_base"]`` (default 0; set 1 when the
      labels are CoVieW's 1-based ids).
    * ``groups``: video id per segment (required); ``extra["segment_index"]`` optional.
    """
    n = len(data.ids)
    if data.labels is None or data.groups is None:
        raise DataError(f"metric {metric!r} needs labels (scene, action, importance) and groups (video ids).")
    labels = np.asarray(data.labels, dtype=np.float64)
    if labels.shape != (n, 3):
        raise DataError(f"metric {metric!r}: labels must have shape ({n}, 3) (scene, action, importance), got {labels.shape}.")
    if isinstance(data.scores, Mapping):
        missing = {"selection", "scene", "action"} - set(data.scores)
        if missing:
            raise DataError(f"metric {metric!r}: scores mapping lacks {sorted(missing)}; expected selection, scene, action.")
        selection = np.asarray(data.scores["selection"], dtype=np.float64).reshape(-1)
        scene = np.asarray(data.scores["scene"], dtype=np.float64)
        action = np.asarray(data.scores["action"], dtype=np.float64)
    else:
        packed = np.asarray(data.scores, dtype=np.float64)
        s = int(data.protocol.options.get("n_scene_classes", N_SCENE))
        if packed.ndim != 2 or packed.shape[0] != n or packed.shape[1] < s + 2:
            raise DataError(
                f"metric {metric!r}: packed scores must have shape ({n}, 1 + {s} scene + action columns), "
                f"got {packed.shape}."
            )
        selection, scene, action = packed[:, 0], packed[:, 1 : 1 + s], packed[:, 1 + s :]
    for name, a in (("selection", selection), ("scene", scene), ("action", action)):
        if len(a) != n:
            raise DataError(f"metric {metric!r}: {name} scores have {len(a)} rows for {n} segments.")
        if np.isnan(a).any():
            raise DataError(f"metric {metric!r}: {name} scores contain NaN.")
    base = int(data.protocol.options.get("label_base", 0))
    for col, name, width in ((0, "scene", scene.shape[1]), (1, "action", action.shape[1])):
        y = labels[:, col]
        if np.any(np.mod(y, 1) != 0) or y.min() < base or y.max() >= width + base:
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
