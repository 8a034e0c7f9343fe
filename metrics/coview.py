"""``coview``: CoVieW 2019 top-6 metrics (METHODS.md 1.6) with segment accuracy (1.7)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from harness.api import EvalInput, EvalResult, register_metric
from metrics._coview import coview_scores, post_processed_selection
from metrics._coview_input import coview_input


@register_metric(
    "coview",
    higher_is_better=True,
    requires=("scores", "labels", "groups"),
    description="CoVieW 2019 (0..1): scene & action score = mean top-5 hamming score on the 6 "
    "selected segments per video; also HS@1/@5 per task, importance-score accuracy, segment accuracy, "
    "and the same after MTN's Eq. 4 post-processing (pp_*).",
)
def coview(data: EvalInput) -> EvalResult:
    """All CoVieW numbers; the headline is the challenge "scene & action score" [AMB-7].

    Input layout: see :func:`metrics._coview_input.coview_input`. Every value is a fraction
    (the paper's validation tables print x100).

    Both segment-selection rules of MTN's Table 1 come from one prediction: the plain keys select by
    the selection score (the ``importance`` head: "based on IS regression"); the ``pp_`` keys select
    by Eq. 4, ``u = max P_sc x max P_ac x importance`` (:func:`metrics._coview.post_processed_selection`;
    the class scores are read as probabilities, a negative importance counts as 0).
    """
    x = coview_input(data, "coview")
    assert x.selection is not None  # coview_input raises when it is missing
    r = coview_scores(x.video_ids, x.selection, x.scene_scores, x.action_scores, x.scene_labels,
                      x.action_labels, x.importance, x.segment_index)
    imp = data.scores.get("importance", x.selection) if isinstance(data.scores, Mapping) else x.selection
    u_pp = post_processed_selection(x.scene_scores, x.action_scores, np.asarray(imp, dtype=np.float64).reshape(-1))
    pp = coview_scores(x.video_ids, u_pp, x.scene_scores, x.action_scores, x.scene_labels, x.action_labels,
                       x.importance, x.segment_index)
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
            "pp_scene_action_score": pp.scene_action_score,
            "pp_hs_scene@1": pp.hs_scene_1,
            "pp_hs_action@1": pp.hs_action_1,
            "pp_hs_scene@5": pp.hs_scene_5,
            "pp_hs_action@5": pp.hs_action_5,
            "pp_is_accuracy": pp.is_accuracy,
        },
        notes={"n_videos": r.n_videos, "selected_per_video": 6},
    )
