"""``frame_accuracy``: UCF101 frame-level accuracy (METHODS.md 1.8)."""

from __future__ import annotations

from harness.api import EvalInput, EvalResult, register_metric
from metrics._classification import frame_accuracy
from metrics._common import class_inputs


@register_metric(
    "frame_accuracy",
    higher_is_better=True,
    requires=("scores", "labels"),
    description="Frame-level accuracy (0..1): rows are frames; fraction whose argmax class is the clip label.",
)
def frame_accuracy_metric(data: EvalInput) -> EvalResult:
    """Each row is a frame: ``scores`` (frames, C), ``labels`` (frames,) = its clip's class."""
    scores, labels = class_inputs(data, "frame_accuracy")
    return EvalResult(overall={"frame_accuracy": frame_accuracy(scores, labels)}, notes={"n_frames": len(labels)})
