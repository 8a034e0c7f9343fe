"""``segment_accuracy``: CoVieW top-1 accuracy over all segments (METHODS.md 1.7)."""

from __future__ import annotations

from harness.api import EvalInput, EvalResult, register_metric
from metrics._classification import top_k_accuracy
from metrics._coview_input import coview_input


@register_metric(
    "segment_accuracy",
    higher_is_better=True,
    requires=("scores", "labels", "groups"),
    description="Segment-level top-1 accuracy (0..1) over all segments, no selection: mean of "
    "the scene and action accuracies, each reported beside it.",
)
def segment_accuracy(data: EvalInput) -> EvalResult:
    """Top-1 scene and action accuracy over every segment (CoVieW input layout; the importance /
    selection score is not needed)."""
    x = coview_input(data, "segment_accuracy", needs_selection=False)
    scene = top_k_accuracy(x.scene_scores, x.scene_labels, 1)
    action = top_k_accuracy(x.action_scores, x.action_labels, 1)
    return EvalResult(
        overall={"segment_accuracy": (scene + action) / 2, "segment_scene_accuracy": scene,
                 "segment_action_accuracy": action},
        notes={"n_segments": len(x.scene_labels)},
    )
