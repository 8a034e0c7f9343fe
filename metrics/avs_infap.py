"""``avs_infap``: TRECVID AVS mean inferred AP over the queries (METHODS.md 1.4)."""

from __future__ import annotations

from harness.api import EvalInput, EvalResult, register_metric
from metrics._common import eval_concept_indices, judged_result, protocol_qrels, score_matrix
from metrics._sample_eval import xinfap_per_concept

DEFAULT_MAX_RESULTS = 1000  # NIST's TRECVID default since the 2016 AVS task


@register_metric(
    "avs_infap",
    higher_is_better=True,
    requires=("scores", "ids"),
    description="AVS MAP: mean inferred AP (xinfAP, NIST sample_eval.pl, M=1000, TRECVID "
    "adjustment) over the queries judged in the qrels, 0..1; per-query 'infap'.",
)
def avs_infap(data: EvalInput) -> EvalResult:
    """Mean xinfAP over the AVS queries: the columns of ``scores`` are queries (``concepts``
    are the query ids of the qrels), ``ids`` the master shots.

    Same estimator as ``mxinfap`` with ``protocol.max_results`` defaulting to 1000 and the
    result as a fraction (the "MAP" of the AVS slides), not in percent.
    """
    scores = score_matrix(data, "avs_infap")
    qrels = protocol_qrels(data, "avs_infap")
    m = int(data.protocol.max_results or DEFAULT_MAX_RESULTS)
    adjust = bool(data.protocol.options.get("trecvid_adjust", True))
    names, values, unjudged = xinfap_per_concept(
        data.ids, scores, data.concepts, qrels, columns=eval_concept_indices(data, "avs_infap"),
        max_results=m, trecvid_adjust=adjust,
    )
    return judged_result("avs_infap", data, qrels, names, values, unjudged, scale=1.0, max_results=m,
                         trecvid_adjust=adjust, per_concept_key="infap")
