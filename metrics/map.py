"""``map``: mean average precision with complete judgments (METHODS.md 1.1)."""

from __future__ import annotations

import numpy as np

from harness.api import EvalInput, EvalResult, register_metric
from harness.errors import DataError
from metrics._ap import average_precision
from metrics._common import eval_concept_indices, score_matrix


@register_metric(
    "map",
    higher_is_better=True,
    requires=("scores", "labels"),
    description="Mean AP with complete judgments (0..1) over the evaluated concepts; "
    "-1 (not annotated) items are left out per concept; concepts without a positive are skipped.",
)
def mean_average_precision(data: EvalInput) -> EvalResult:
    """Mean AP over ``protocol.eval_concepts`` (or all) from ``labels`` in {1, 0, -1}.

    For each concept, items labelled -1 are excluded, AP (METHODS.md 1.1) ranks the remaining
    items by score. A concept without a positive among its annotated items is skipped and
    listed in ``notes["skipped_concepts"]``; it never turns the mean into NaN.

    Raises:
        DataError: labels missing or misshapen, or no concept can be scored.
    """
    scores = score_matrix(data, "map")
    if data.labels is None:
        raise DataError("metric 'map' needs test labels, but EvalInput.labels is None.")
    labels = np.asarray(data.labels)
    if labels.shape != scores.shape:
        raise DataError(f"metric 'map': labels have shape {labels.shape}, scores {scores.shape}; they must match.")
    names, values, skipped = [], [], []
    for t in eval_concept_indices(data, "map"):
        annotated = labels[:, t] >= 0
        rel = labels[annotated, t] > 0
        if not rel.any():
            skipped.append(data.concepts[t])
            continue
        names.append(data.concepts[t])
        values.append(average_precision(scores[annotated, t], rel))
    if not values:
        raise DataError(
            f"metric 'map': none of the {len(skipped)} evaluated concepts has a positive annotated "
            f"test item, so MAP is undefined. Check the test labels."
        )
    ap = np.asarray(values)
    return EvalResult(
        overall={"map": float(ap.mean())},
        concepts=tuple(names),
        per_concept={"ap": ap},
        notes={"skipped_concepts": tuple(skipped), "n_concepts": len(values)},
    )
