"""``coview``: CoVieW 2019 top-6 metrics (METHODS.md 1.6) with segment accuracy (1.7)."""

from __future__ import annotations

from harness.api import EvalInput, EvalResult, register_metric
from metrics._coview import coview_scores
from metrics._coview_input import coview_input


@register_metric(
    "coview",
    higher_is_better=True,
    requires=("scores", "labels", "groups"),
    description="CoVieW 2019 (0..1): scene & action score = mean top-5 hamming score on the 6 "
    "selected segments per video; also HS@1/@5 per task, importance-score accuracy, segment accuracy.",
)
def coview(data: EvalInput) -> EvalResult:
    """All CoVieW numbers; the headline is the challenge "scene & action score" [AMB-7].

    Input layout: see :func:`metrics._coview_input.coview_input`. Every value is a fraction
    (the paper's validation tables print x100).
    """
    x = coview_input(data, "coview")
    assert x.selection is not None  # coview_input raises when it is missing
    r = coview_scores(x.video_ids, x.selection, x.scene_scores, x.action_scores, x.scene_labels,
                      x.action_labels, x.importance, x.segment_index)
    return EvalResult(
        overall={
            "scene_action_score": r.scene_action_score,
            "hs_scene@1": r.hs_scene_1,
            "hs_action@1": r.hs_action_1,
            "hs_scene@5": r.hs_scene_5,
            "hs_action@5": r.hs_action_5,
            "is_accuracy": r.is_accuracy,
            "segment_scene_accuracy": r.segment_scene_accuracy,
            "segment_action_accuracy": r.segment_action_accuracy,
        },
        notes={"n_videos": r.n_videos, "selected_per_video": 6},
    )
