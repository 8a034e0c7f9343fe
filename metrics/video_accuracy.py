"""``video_accuracy``: UCF101 video-level accuracy, the NB-TL headline (METHODS.md 1.8)."""

from __future__ import annotations

import numpy as np

from harness.api import EvalInput, EvalResult, register_metric
from harness.errors import DataError
from metrics._classification import (
    frame_accuracy,
    per_class_precision_recall,
    pool_by_group,
    video_label_per_group,
)
from metrics._common import class_inputs


def _as_probabilities(scores: np.ndarray) -> tuple[np.ndarray, bool]:
    """Rows that already are probability vectors are kept; otherwise a row-wise softmax."""
    if (scores >= 0).all() and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4):
        return scores, False
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True), True


#: EvalInput.extra keys that name the clip of each row when rows are frames (never ``groups``:
#: UCF101 groups hold 4-7 clips each).
CLIP_KEYS = ("clip_id", "video_id")


@register_metric(
    "video_accuracy",
    higher_is_better=True,
    requires=("scores", "labels"),
    description="Video-level accuracy (0..1): argmax per clip; rows are clips (scores already "
    "averaged over frames), or frames pooled by mean softmax per extra['clip_id'].",
)
def video_accuracy(data: EvalInput) -> EvalResult:
    """Video-level accuracy (METHODS.md 1.8 headline) with per-class precision and recall.

    Two input forms:

    * rows are clips (the UCF101 adapter's items): ``scores`` are the clip scores the method
      aggregated from its frames (``protocol.options["aggregation"] = "mean_softmax"``);
    * rows are frames: ``extra["clip_id"]`` (or ``extra["video_id"]``) names each frame's clip;
      the per-frame softmax vectors of a clip are averaged, then the argmax is taken, and the
      frame-level accuracy is reported beside it (AMB-8).

    Scores that are not probability vectors are turned into them by a row-wise softmax before
    averaging (``notes["softmax_applied"]``). ``groups`` are never pooled over: a UCF101 group
    holds several clips.

    Raises:
        DataError: bad shapes/labels, or frames of one clip with different labels.
    """
    scores, labels = class_inputs(data, "video_accuracy")
    key = next((k for k in CLIP_KEYS if k in data.extra), None)
    notes: dict[str, object] = {}
    overall: dict[str, float] = {}
    if key is None:
        pred, truth = np.argmax(scores, axis=1), labels
        notes["rows"] = "clips"
    else:
        clips = np.asarray(data.extra[key])
        if len(clips) != len(labels):
            raise DataError(f"metric 'video_accuracy': extra[{key!r}] has {len(clips)} entries for {len(labels)} frames.")
        probs, softmaxed = _as_probabilities(scores)
        ids, means, _ = pool_by_group(probs, clips)
        try:
            truth = video_label_per_group(labels, clips, ids)
        except ValueError as exc:
            raise DataError(
                f"metric 'video_accuracy': {exc}; every frame of a clip must carry the clip label."
            ) from exc
        pred = np.argmax(means, axis=1)
        notes.update({"rows": "frames", "n_frames": len(labels), "softmax_applied": softmaxed})
        overall["frame_accuracy"] = frame_accuracy(probs, labels)
    precision, recall = per_class_precision_recall(pred, truth, scores.shape[1])
    notes["n_videos"] = len(truth)
    return EvalResult(
        overall={"video_accuracy": float(np.mean(pred == truth)), **overall},
        concepts=tuple(data.concepts),
        per_concept={"precision": precision, "recall": recall},
        notes=notes,
    )
