"""``hamming_loss``: multi-label Hamming loss with its all-negative baseline (METHODS.md 1.5)."""

from __future__ import annotations

import numpy as np

from harness.api import EvalInput, EvalResult, register_metric
from harness.errors import DataError
from metrics._common import score_matrix
from metrics._multilabel import all_negative_hamming_loss, hamming_loss, per_label_error_rate

DEFAULT_THRESHOLD = 0.5


@register_metric(
    "hamming_loss",
    higher_is_better=False,
    requires=("scores", "labels"),
    description="Hamming loss (0..1, lower is better) of hard label sets, with the all-negative "
    "baseline (mean cardinality / L) reported beside it as 'hamming_loss_all_negative'.",
)
def hamming_loss_metric(data: EvalInput) -> EvalResult:
    """Hamming loss of the predicted label sets against ``labels`` (N, L) in {0, 1}.

    The method should output hard 0/1 label sets (its own thresholding rule, AMB-20). If the
    scores are not 0/1 they are thresholded at ``protocol.options["hamming_threshold"]``
    (default 0.5, score >= threshold = label present) and the threshold is recorded in the notes.

    Returns:
        ``overall``: ``hamming_loss`` then ``hamming_loss_all_negative`` (the mandatory sanity
        baseline); ``per_concept["error_rate"]`` per label.

    Raises:
        DataError: labels missing, misshapen, or with values other than 0/1 (-1 is not allowed:
            Hamming loss needs complete annotation).
    """
    scores = score_matrix(data, "hamming_loss")
    if data.labels is None:
        raise DataError("metric 'hamming_loss' needs test labels, but EvalInput.labels is None.")
    y = np.asarray(data.labels)
    if y.shape != scores.shape:
        raise DataError(f"metric 'hamming_loss': labels have shape {y.shape}, scores {scores.shape}; they must match.")
    if not np.isin(y, (0, 1)).all():
        raise DataError(
            "metric 'hamming_loss': labels must be 0/1 (complete annotation); found "
            f"{np.unique(y)[:6].tolist()}. Items with -1 (not annotated) cannot be scored by Hamming loss."
        )
    notes: dict[str, object] = {}
    if np.isin(scores, (0.0, 1.0)).all():
        pred = scores.astype(np.int8)
    else:
        threshold = float(data.protocol.options.get("hamming_threshold", DEFAULT_THRESHOLD))
        pred = (scores >= threshold).astype(np.int8)
        notes["threshold"] = threshold
    baseline = all_negative_hamming_loss(y)
    notes["mean_cardinality"] = float(y.sum(axis=1).mean())
    return EvalResult(
        overall={"hamming_loss": hamming_loss(y, pred), "hamming_loss_all_negative": baseline},
        concepts=tuple(data.concepts),
        per_concept={"error_rate": per_label_error_rate(y, pred)},
        notes=notes,
    )
