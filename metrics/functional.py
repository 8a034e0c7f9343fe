"""Pure metric functions (arrays in, numbers out), the public entry point for direct use.

The registered protocol-level entries (``harness.api.METRICS``) call these same functions.
"""

from __future__ import annotations

from metrics._ap import average_precision, ranked_average_precision
from metrics._classification import (
    frame_accuracy,
    per_class_precision_recall,
    top_k_accuracy,
    top_k_hits,
    video_accuracy,
    video_predictions,
)
from metrics._coview import (
    CoviewScores,
    coview_scores,
    hamming_score_at_k,
    importance_accuracy,
    post_processed_selection,
    select_segments,
)
from metrics._multilabel import all_negative_hamming_loss, hamming_loss, per_label_error_rate
from metrics._sample_eval import evaluate_topic, xinfap, xinfap_per_concept

__all__ = [
    "CoviewScores",
    "all_negative_hamming_loss",
    "average_precision",
    "coview_scores",
    "evaluate_topic",
    "frame_accuracy",
    "hamming_loss",
    "hamming_score_at_k",
    "importance_accuracy",
    "post_processed_selection",
    "per_class_precision_recall",
    "per_label_error_rate",
    "ranked_average_precision",
    "select_segments",
    "top_k_accuracy",
    "top_k_hits",
    "video_accuracy",
    "video_predictions",
    "xinfap",
    "xinfap_per_concept",
]
