"""``top1_accuracy``: fraction of items whose best-scored class is the true one."""

from __future__ import annotations

import numpy as np

from harness.api import EvalInput, EvalResult, register_metric
from metrics._classification import per_class_precision_recall, top_k_accuracy
from metrics._common import class_inputs


@register_metric(
    "top1_accuracy",
    higher_is_better=True,
    requires=("scores", "labels"),
    description="Top-1 accuracy (0..1) over the scored items, with per-class precision and recall.",
)
def top1_accuracy(data: EvalInput) -> EvalResult:
    """Top-1 accuracy of ``scores`` (n, C) against ``labels`` (n,) class indices.

    ``per_concept`` holds one-vs-rest ``precision`` and ``recall`` of the argmax decisions.
    """
    scores, labels = class_inputs(data, "top1_accuracy")
    precision, recall = per_class_precision_recall(np.argmax(scores, axis=1), labels, scores.shape[1])
    return EvalResult(
        overall={"top1_accuracy": top_k_accuracy(scores, labels, 1)},
        concepts=tuple(data.concepts),
        per_concept={"precision": precision, "recall": recall},
        notes={"n_items": len(labels)},
    )
