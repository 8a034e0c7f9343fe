"""``top5_accuracy``: fraction of items whose true class is among their 5 best-scored classes."""

from __future__ import annotations

from harness.api import EvalInput, EvalResult, register_metric
from metrics._classification import top_k_accuracy
from metrics._common import class_inputs


@register_metric(
    "top5_accuracy",
    higher_is_better=True,
    requires=("scores", "labels"),
    description="Top-5 accuracy (0..1): true class among the 5 highest scores (ties: lower class index first).",
)
def top5_accuracy(data: EvalInput) -> EvalResult:
    """Top-5 accuracy of ``scores`` (n, C) against ``labels`` (n,) class indices."""
    scores, labels = class_inputs(data, "top5_accuracy")
    return EvalResult(overall={"top5_accuracy": top_k_accuracy(scores, labels, 5)}, notes={"n_items": len(labels)})
