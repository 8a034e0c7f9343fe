"""``mxinfap``: mean extended inferred AP in % over the judged concepts (METHODS.md 1.2-1.3)."""

from __future__ import annotations

from harness.api import EvalInput, EvalResult, register_metric
from metrics._common import eval_concept_indices, judged_result, protocol_qrels, score_matrix
from metrics._sample_eval import xinfap_per_concept

DEFAULT_MAX_RESULTS = 2000  # TRECVID SIN 2010-2015 maxResultSize


@register_metric(
    "mxinfap",
    higher_is_better=True,
    requires=("scores", "ids"),
    description="MXinfAP in PERCENT (x100, 0..100): mean xinfAP (NIST sample_eval.pl, M=2000, "
    "TRECVID adjustment) over the evaluated concepts judged in the qrels; per-concept 'xinfap' in 0..1.",
)
def mxinfap(data: EvalInput) -> EvalResult:
    """Mean xinfAP x 100 over ``protocol.eval_concepts`` (or all) that have judgments.

    Each concept ranks ``data.ids`` by its score column (ties: docid descending, byte order),
    keeps the top ``protocol.max_results`` (default 2000) and is scored against the topic of
    ``protocol.qrels_path`` whose id equals the concept name. ``protocol.options["trecvid_adjust"]``
    (default True) applies the TRECVID 2012 ``R/M`` adjustment.

    Returns:
        ``overall["mxinfap"]`` in percent; ``per_concept["xinfap"]`` in [0, 1] for the scored
        concepts; ``notes["unjudged_concepts"]`` lists evaluated concepts without judgments.

    Raises:
        InvalidParameterError: no ``qrels_path`` or unknown ``eval_concepts``.
        DataError: bad score shape / NaN, unreadable qrels, or no evaluated concept judged.
    """
    scores = score_matrix(data, "mxinfap")
    qrels = protocol_qrels(data, "mxinfap")
    m = int(data.protocol.max_results or DEFAULT_MAX_RESULTS)
    adjust = bool(data.protocol.options.get("trecvid_adjust", True))
    names, values, unjudged = xinfap_per_concept(
        data.ids, scores, data.concepts, qrels, columns=eval_concept_indices(data, "mxinfap"),
        max_results=m, trecvid_adjust=adjust,
    )
    return judged_result("mxinfap", data, qrels, names, values, unjudged, scale=100.0, max_results=m,
                         trecvid_adjust=adjust)
