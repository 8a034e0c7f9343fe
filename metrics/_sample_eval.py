"""Inferred measures exactly as NIST's ``sample_eval.pl`` computes them (METHODS.md 1.2).

One topic is scored from its judgments (:class:`~metrics._trec_io.TopicQrels`) and a ranked
list of docids. Every measure comes from the same running counts per rank k, computed with numpy
cumulative sums over a (ranks x strata) one-hot matrix: for stratum c, ``D_c`` pooled docs,
``S_c`` sampled (judged) docs and ``P_c`` judged-relevant docs at ranks <= k.

* ``infAP``: extended inferred AP (xinfAP) with the script's epsilons (1e-5, 3e-5) and, when
  asked, the TRECVID 2012 adjustment ``xinfAP * R/M`` for ``R > M``.
* ``e(k) = sum_c D_c (P_c + 1e-5) / (S_c + 3e-5)``: the inferred number of relevant docs in the
  top k. ``iP<k> = e(k)/k`` (``e(num_ret)/k`` past the end); ``inum_rel_ret = e(num_ret)``.
* ``inum_rel``: ``R = sum_c r_c N_c / n_c`` over the strata with judged docs.
* ``infNDCG``: ``sum_c (D_c / S_c) * sum_{relevant d in c} gain(d) / log2(rank(d) + 1)`` over
  the scored results, divided by the ideal DCG built from the estimated count per grade.
* ``iprec@rec<x>``: trec_eval-style interpolation of ``e(k)/k`` against ``x * R``.
* ``num_ret``: run lines of the topic (not truncated, as the script prints it); the ``all``
  line sums the scored results (at most M per topic), and ``inum_rel all`` sums every qrels topic.

The behaviour (including the quirks above) is that of the TRECVID 2016 copy and the TREC 2011
copy of the script, selected by :data:`PROFILES`; the tests check every line of the official
outputs in ``shared/data/trecvid/avs2021``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from metrics._trec_io import Qrels, Run, TopicQrels, docid_rank, rank_order

EPS_NUM = 1e-5  # sample_eval.pl's smoothing of the relevant count above a rank
EPS_DEN = 3e-5  # ... and of the sampled count
RECALL_LEVELS = tuple(i / 10 for i in range(11))


@dataclass(frozen=True)
class ScorerProfile:
    """Settings that differ between copies of ``sample_eval.pl``.

    Attributes:
        name: profile name used on the command line.
        max_results: ``maxResultSize`` M, results scored per topic.
        trecvid_adjust: apply the TRECVID 2012 ``R/M`` adjustment to infAP.
        fixed_cutoffs: the ``iP<k>`` cut-offs printed before ``iP<M>``.
        ideal_rounding: ``"none"`` (TV16 copy: fractional estimated counts in the ideal-DCG
            loop) or ``"nearest"`` (TREC 2011 copy: counts rounded to the nearest integer).
        strip_run_topic_zeros: the TREC 2011 copy strips leading zeros from run topic ids.
        description: one line for ``--help``.
    """

    name: str
    max_results: int
    trecvid_adjust: bool
    fixed_cutoffs: tuple[int, ...]
    ideal_rounding: str
    strip_run_topic_zeros: bool
    description: str

    def cutoffs(self, max_results: int | None = None) -> tuple[int, ...]:
        """The ``iP`` cut-offs: the fixed ones, then M."""
        return (*self.fixed_cutoffs, int(max_results or self.max_results))


PROFILES: dict[str, ScorerProfile] = {
    "tv16avs": ScorerProfile(
        "tv16avs", 1000, True, (5, 10, 15, 20, 30, 100, 200, 500), "none", False,
        "TRECVID copy (2012 adjustment; M=1000 since TV16 AVS): iP at 5..500 and M",
    ),
    "trec2011": ScorerProfile(
        "trec2011", 1000, False, (10, 50), "nearest", True,
        "TREC 2011 copy: M=1000, no adjustment, iP at 10, 50 and M",
    ),
}


@dataclass(frozen=True)
class TopicMeasures:
    """Everything ``sample_eval.pl -q`` prints for one topic, plus its recall curve."""

    topic: str
    infap: float
    infndcg: float
    ip: tuple[float, ...]  # aligned with RunMeasures.cutoffs
    inum_rel_ret: float
    inum_rel: float
    num_ret: int
    iprec_at_recall: tuple[float, ...]  # at RECALL_LEVELS
    in_run: bool = True

    def as_dict(self, cutoffs: Sequence[int]) -> dict[str, float | int | str]:
        """Flat ``{measure name: value}`` with the script's names (``iP10``, ``iprec@rec0.10``)."""
        out: dict[str, float | int | str] = {"infAP": self.infap, "infNDCG": self.infndcg}
        out.update({f"iP{k}": v for k, v in zip(cutoffs, self.ip, strict=True)})
        out.update({"inum_rel_ret": self.inum_rel_ret, "inum_rel": self.inum_rel, "num_ret": self.num_ret})
        out.update({f"iprec@rec{x:4.2f}": v for x, v in zip(RECALL_LEVELS, self.iprec_at_recall, strict=True)})
        return out


@dataclass(frozen=True)
class RunMeasures:
    """Per-topic measures and the ``all`` aggregate (means; sums for the counts)."""

    topics: tuple[TopicMeasures, ...]
    overall: TopicMeasures
    cutoffs: tuple[int, ...]
    run_only_topics: tuple[str, ...] = ()  # in the run but not in the qrels (skipped)
    qrels_only_topics: tuple[str, ...] = ()  # in the qrels but not in the run
    settings: Mapping[str, object] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Per-topic kernel
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scan:
    """Running counts over the ranked list of one topic."""

    stratum: np.ndarray  # (K,) stratum code, 0 for unpooled (masked by judgment == -2)
    judgment: np.ndarray  # (K,) judgment, -2 for unpooled
    d_inc: np.ndarray  # (K, C) pooled docs of each stratum at ranks <= k
    s_inc: np.ndarray  # (K, C) sampled (judged) docs at ranks <= k
    p_inc: np.ndarray  # (K, C) judged-relevant docs at ranks <= k
    e_inc: np.ndarray  # (K,) inferred relevant count e(k)
    n_pool: np.ndarray  # (C,) N_c
    n_sampled: np.ndarray  # (C,) n_c
    n_rel: np.ndarray  # (C,) r_c
    r_hat_c: np.ndarray  # (C,) estimated relevant docs per stratum


def _scan(q: TopicQrels, ranked_docids: Sequence[str] | np.ndarray) -> _Scan:
    docids = ranked_docids.tolist() if isinstance(ranked_docids, np.ndarray) else ranked_docids
    get = q.index.get
    rows = np.fromiter((get(d, -1) for d in docids), dtype=np.int64, count=len(docids))
    n_strata = max(len(q.strata), 1)
    pooled = rows >= 0
    stratum = np.where(pooled, q.stratum[rows], 0) if len(rows) else rows
    judgment = np.where(pooled, q.judgment[rows], -2) if len(rows) else rows
    onehot = np.zeros((len(rows), n_strata))
    onehot[np.flatnonzero(pooled), stratum[pooled]] = 1.0
    d_inc = np.cumsum(onehot, axis=0)
    s_inc = np.cumsum(onehot * (judgment >= 0)[:, None], axis=0)
    p_inc = np.cumsum(onehot * (judgment > 0)[:, None], axis=0)
    e_inc = (d_inc * (p_inc + EPS_NUM) / (s_inc + EPS_DEN)).sum(axis=1)

    n_pool = np.bincount(q.stratum, minlength=n_strata).astype(np.float64)
    n_sampled = np.bincount(q.stratum[q.judgment >= 0], minlength=n_strata).astype(np.float64)
    n_rel = np.bincount(q.stratum[q.judgment > 0], minlength=n_strata).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_hat_c = np.where(n_sampled > 0, n_rel * n_pool / n_sampled, 0.0)
    return _Scan(stratum, judgment, d_inc, s_inc, p_inc, e_inc, n_pool, n_sampled, n_rel, r_hat_c)


def _infap(sc: _Scan, max_results: int, trecvid_adjust: bool) -> float:
    r_hat = float(sc.r_hat_c.sum())
    idx = np.flatnonzero(sc.judgment > 0)
    if r_hat <= 0 or len(idx) == 0:
        return 0.0
    s = sc.stratum[idx]
    # counts strictly above the rank = inclusive counts minus the doc itself
    rows = np.arange(len(idx))
    d_ex = sc.d_inc[idx]
    s_ex = sc.s_inc[idx]
    p_ex = sc.p_inc[idx]
    d_ex[rows, s] -= 1.0
    s_ex[rows, s] -= 1.0
    p_ex[rows, s] -= 1.0
    prec = (1.0 + (d_ex * (p_ex + EPS_NUM) / (s_ex + EPS_DEN)).sum(axis=1)) / (idx + 1.0)
    sap = np.bincount(s, weights=prec, minlength=len(sc.n_rel))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(sc.n_rel > 0, sc.r_hat_c / r_hat * sap / sc.n_rel, 0.0)
    value = float(terms.sum())
    if trecvid_adjust and r_hat > max_results:
        value *= r_hat / max_results
    return value


def _ideal_dcg(q: TopicQrels, scale: np.ndarray, max_results: int, rounding: str) -> float:
    """Ideal DCG from the estimated number of docs per relevance grade (the script's loop).

    Grades are visited in reverse string order (Perl ``reverse sort keys``). For each grade the
    ranks ``r = start+1, start+2, ...`` while ``r <= start + count`` add ``grade/log2(r+1)``,
    stopping after the first ``r >= M``; then ``start += count``. The TV16 copy uses the
    fractional estimated ``count``, the TREC 2011 copy rounds it to the nearest integer first.
    """
    judged = q.judgment > 0
    if not judged.any():
        return 0.0
    grades = sorted({str(g) for g in q.judgment[judged].tolist()}, reverse=True)
    ideal = 0.0
    start = 0.0
    for label in grades:
        g = int(label)
        count = float((np.bincount(q.stratum[q.judgment == g], minlength=len(scale)) * scale).sum())
        if rounding == "nearest":
            count = float(math.floor(count + 0.5))
        last = start + count
        r = (start + 1.0) + np.arange(0.0, max(math.floor(count), 0) + 2.0)
        r = r[r <= last]
        over = np.flatnonzero(r >= max_results)
        if len(over):
            r = r[: over[0] + 1]
        ideal += float((g / np.log2(r + 1.0)).sum())
        start = last
    return ideal


def _infndcg(sc: _Scan, q: TopicQrels, max_results: int, rounding: str) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(sc.n_sampled > 0, sc.n_pool / sc.n_sampled, 0.0)
    ideal = _ideal_dcg(q, scale, max_results, rounding)
    idx = np.flatnonzero(sc.judgment > 0)
    if len(idx) == 0 or ideal == 0:
        return 0.0
    s = sc.stratum[idx]
    weight = sc.d_inc[-1][s] / sc.s_inc[-1][s]  # a relevant doc is sampled: S_c > 0
    return float((sc.judgment[idx] * weight / np.log2(idx + 2.0)).sum()) / ideal


def _iprec_at_recall(sc: _Scan) -> tuple[float, ...]:
    """11-point interpolated inferred precision, walked the way the script walks it.

    Cut-offs are ``level * R`` inferred relevant docs. Levels above ``e(num_ret)`` score 0. Going
    from the last rank up, ``int_prec`` is the running maximum of ``e(k)/k``; at the first rank
    whose ``e(k)`` is below the highest pending cut-off, that cut-off takes ``int_prec`` (one
    cut-off per rank at most). Cut-offs still pending at the top take the maximum over all ranks.
    """
    n = len(sc.e_inc)
    levels = len(RECALL_LEVELS)
    if n == 0:
        return (0.0,) * levels
    r_hat = float(sc.r_hat_c.sum())
    cuts = [level * r_hat for level in RECALL_LEVELS]
    e = sc.e_inc
    prec = e / np.arange(1.0, n + 1.0)
    best_from = np.maximum.accumulate(prec[::-1])[::-1]  # max precision over ranks >= k
    out = [0.0] * levels
    cur = levels - 1
    while cur >= 0 and cuts[cur] > e[-1]:
        cur -= 1
    pos = n
    while cur >= 0:
        below = np.flatnonzero(e[:pos] < cuts[cur])
        if len(below) == 0:
            break
        i = int(below[-1])
        out[cur] = float(best_from[i])
        cur -= 1
        pos = i
    for c in range(cur, -1, -1):
        out[c] = float(best_from[0])
    return tuple(out)


def xinfap(
    qrels: TopicQrels,
    ranked_docids: Sequence[str] | np.ndarray,
    *,
    max_results: int = 1000,
    trecvid_adjust: bool = True,
) -> float:
    """Extended inferred AP of one topic, exactly as ``sample_eval.pl`` (METHODS.md 1.2).

    Args:
        qrels: the topic's judgments.
        ranked_docids: docids in rank order (use :func:`~metrics._trec_io.rank_order` to sort
            by score with the script's tie-break); only the first ``max_results`` are scored.
        max_results: ``maxResultSize`` M (TRECVID SIN 2000, AVS 1000).
        trecvid_adjust: multiply by ``R/M`` when the estimated relevant count R exceeds M.

    Returns:
        xinfAP (0 when the topic has no judged relevant doc).
    """
    _check_max_results(max_results)
    return _infap(_scan(qrels, list(ranked_docids)[:max_results]), max_results, trecvid_adjust)


def evaluate_topic(
    qrels: TopicQrels,
    ranked_docids: Sequence[str] | np.ndarray,
    *,
    max_results: int = 1000,
    trecvid_adjust: bool = True,
    cutoffs: Sequence[int] | None = None,
    ideal_rounding: str = "none",
) -> TopicMeasures:
    """Every ``sample_eval.pl`` measure for one topic (see the module docstring).

    Args:
        qrels: the topic's judgments.
        ranked_docids: docids in rank order; only the first ``max_results`` are scored, but
            ``num_ret`` counts them all (as the script prints it).
        max_results: ``maxResultSize`` M.
        trecvid_adjust: TRECVID 2012 adjustment of infAP.
        cutoffs: ``iP<k>`` cut-offs; default the TV16 ones (5 ... 500, M).
        ideal_rounding: ``"none"`` (TV16 copy) or ``"nearest"`` (TREC 2011 copy), for infNDCG.
    """
    _check_max_results(max_results)
    if ideal_rounding not in ("none", "nearest"):
        raise ValueError(f"ideal_rounding must be 'none' or 'nearest', got {ideal_rounding!r}")
    cutoffs = PROFILES["tv16avs"].cutoffs(max_results) if cutoffs is None else tuple(cutoffs)
    docs = list(ranked_docids)
    sc = _scan(qrels, docs[:max_results])
    n = len(sc.e_inc)
    final = float(sc.e_inc[-1]) if n else 0.0
    ip = tuple(float(sc.e_inc[k - 1]) / k if k <= n else final / k for k in cutoffs)
    return TopicMeasures(
        topic=qrels.topic,
        infap=_infap(sc, max_results, trecvid_adjust),
        infndcg=_infndcg(sc, qrels, max_results, ideal_rounding),
        ip=ip,
        inum_rel_ret=final,
        inum_rel=float(sc.r_hat_c.sum()),
        num_ret=len(docs),
        iprec_at_recall=_iprec_at_recall(sc),
    )


# --------------------------------------------------------------------------------------------
# Whole run
# --------------------------------------------------------------------------------------------


def topic_sort_key(topic: str) -> tuple[int, float, str]:
    """Numeric topic ids in numeric order (the script's ``<=>``), then the others as strings."""
    try:
        value = float(topic)
    except ValueError:
        return (1, 0.0, topic)
    return (0, value, topic) if math.isfinite(value) else (1, 0.0, topic)


def evaluate_run(
    qrels: Qrels,
    run: Run,
    *,
    profile: str | ScorerProfile = "tv16avs",
    max_results: int | None = None,
    trecvid_adjust: bool | None = None,
    strict: bool = False,
) -> RunMeasures:
    """Score a run against qrels like ``sample_eval.pl -q``.

    Topics scored: those in both the run and the qrels (the script's behaviour). With
    ``strict=True`` a qrels topic missing from the run is also scored, as 0 [AMB-2].

    Args:
        qrels: :func:`~metrics._trec_io.read_qrels` output.
        run: :func:`~metrics._trec_io.read_run` output.
        profile: which copy of the script to follow (:data:`PROFILES` key or a profile).
        max_results: override the profile's M (the last ``iP`` cut-off follows it).
        trecvid_adjust: override the profile's TRECVID 2012 adjustment.
        strict: score qrels topics absent from the run as 0.

    Returns:
        :class:`RunMeasures`; ``overall`` holds means (infAP, infNDCG, iP, iprec@rec) and sums
        (inum_rel_ret; inum_rel over every qrels topic; num_ret over the scored results).

    Raises:
        ValueError: when no topic can be scored (the CLI turns it into a DataError with file names).
    """
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    m = prof.max_results if max_results is None else max_results
    _check_max_results(m)
    adjust = prof.trecvid_adjust if trecvid_adjust is None else bool(trecvid_adjust)
    cutoffs = prof.cutoffs(m)
    if prof.strip_run_topic_zeros:
        run = {t.lstrip("0"): replace(r, topic=t.lstrip("0")) for t, r in run.items()}
    shared = [t for t in run if t in qrels]
    missing = [t for t in qrels if t not in run]
    topics = sorted(shared + (missing if strict else []), key=topic_sort_key)
    if not topics:
        raise ValueError("no topic of the run has judgments in the qrels")
    def score(t: str, docids: Sequence[str] | np.ndarray) -> TopicMeasures:
        return evaluate_topic(qrels[t], docids, max_results=m, trecvid_adjust=adjust, cutoffs=cutoffs,
                              ideal_rounding=prof.ideal_rounding)

    results = []
    for t in topics:
        if t in run:
            tr = run[t]
            order = rank_order(tr.scores, tr.docids, None)  # num_ret counts every line
            results.append(score(t, tr.docids[order]))
        else:
            results.append(replace(score(t, ()), in_run=False))
    n = len(results)
    overall = TopicMeasures(
        topic="all",
        infap=sum(r.infap for r in results) / n,
        infndcg=sum(r.infndcg for r in results) / n,
        ip=tuple(sum(r.ip[i] for r in results) / n for i in range(len(cutoffs))),
        inum_rel_ret=float(sum(r.inum_rel_ret for r in results)),
        inum_rel=float(sum(float(_scan(q, ()).r_hat_c.sum()) for q in qrels.values())),
        num_ret=sum(min(r.num_ret, m) for r in results),
        iprec_at_recall=tuple(sum(r.iprec_at_recall[i] for r in results) / n for i in range(len(RECALL_LEVELS))),
    )
    return RunMeasures(
        topics=tuple(results),
        overall=overall,
        cutoffs=cutoffs,
        run_only_topics=tuple(sorted((t for t in run if t not in qrels), key=topic_sort_key)),
        qrels_only_topics=tuple(sorted(missing, key=topic_sort_key)),
        settings={"profile": prof.name, "max_results": m, "trecvid_adjust": adjust, "strict": strict},
    )


def _check_max_results(max_results: int) -> None:
    if isinstance(max_results, bool) or not isinstance(max_results, (int, np.integer)) or max_results < 1:
        raise ValueError(f"max_results (maxResultSize M) must be a positive integer, got {max_results!r}")


def xinfap_per_concept(
    ids: Sequence[str] | np.ndarray,
    scores: np.ndarray,
    concepts: Sequence[str],
    qrels: Qrels,
    *,
    columns: Sequence[int] | None = None,
    max_results: int = 2000,
    trecvid_adjust: bool = True,
) -> tuple[list[str], np.ndarray, list[str]]:
    """xinfAP of each column of a score matrix, ranked like a TREC run built from it.

    Each column ranks ``ids`` by score (ties: docid descending, byte order), keeps the top
    ``max_results`` and is scored against the qrels topic named like the concept.

    Args:
        ids: (n,) item ids (docids such as shot ids).
        scores: (n, T) scores, column t for ``concepts[t]``.
        concepts: (T,) concept names = qrels topic ids.
        qrels: judgments.
        columns: the columns to score (default all), in the order wanted.
        max_results: M.
        trecvid_adjust: TRECVID 2012 adjustment.

    Returns:
        (scored concept names, their xinfAP values, concepts without a qrels topic).
    """
    _check_max_results(max_results)
    ids = np.asarray(ids).astype(str)
    docid_key = None
    names: list[str] = []
    values: list[float] = []
    unjudged: list[str] = []
    for t in range(scores.shape[1]) if columns is None else columns:
        concept = str(concepts[t])
        topic = qrels.get(concept)
        if topic is None:
            unjudged.append(concept)
            continue
        if docid_key is None:
            docid_key = docid_rank(ids)
        order = rank_order(scores[:, t], ids, max_results, docid_key)
        values.append(_infap(_scan(topic, ids[order]), max_results, trecvid_adjust))
        names.append(concept)
    return names, np.asarray(values, dtype=np.float64), unjudged
