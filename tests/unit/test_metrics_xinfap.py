"""xinfAP exactly as ``sample_eval.pl`` (METHODS.md 1.2 worked examples A-E, properties) and the
registered ``mxinfap`` / ``avs_infap`` metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import metrics  # noqa: F401  (registers the metrics)
from harness.api import METRICS, EvalInput, Protocol
from harness.errors import DataError, InvalidParameterError
from metrics.functional import average_precision, xinfap, xinfap_per_concept
from metrics.trec import (
    TopicQrels,
    TopicRun,
    evaluate_run,
    rank_order,
    read_qrels,
    read_run,
    write_run,
)


def _qrels(topic: str, rows: list[tuple[str, object, int]]) -> TopicQrels:
    return TopicQrels.from_records(topic, [(d, str(s), j) for d, s, j in rows])


QRELS_B = _qrels("1", [
    ("a", 1, 1), ("b", 1, 0), ("c", 1, 1), ("d", 1, 0),
    ("e", 2, 1), ("f", 2, -1), ("g", 2, 0), ("h", 2, -1), ("i", 2, 1), ("j", 2, -1),
])
RUN_B = list("aebfczgi")  # scores .95 .90 .85 .80 .75 .70 .65 .60, z unpooled


def test_example_a_one_stratum_complete_judgments() -> None:
    q = _qrels("1", [(d, 1, r) for d, r in zip("abcde", [1, 0, 1, 0, 1], strict=True)])
    assert xinfap(q, list("abcdxe")) == pytest.approx(0.7222214, abs=1e-7)


def test_example_b_two_strata() -> None:
    assert xinfap(QRELS_B, RUN_B) == pytest.approx(0.8208278, abs=1e-7)
    assert xinfap(QRELS_B, RUN_B) == pytest.approx(0.820833, abs=1e-4)  # exact value (eps -> 0)


def test_example_c_mean_over_topics() -> None:
    qrels = {"1": QRELS_B, "2": _qrels("2", [("p", 1, 0), ("q", 1, 0)])}
    run = {
        "1": TopicRun("1", np.array(RUN_B), np.array([.95, .90, .85, .80, .75, .70, .65, .60]), np.arange(8)),
        "2": TopicRun("2", np.array(["p", "q"]), np.array([.5, .4]), np.arange(2)),
    }
    m = evaluate_run(qrels, run)
    assert [t.infap for t in m.topics] == pytest.approx([0.8208278, 0.0], abs=1e-7)
    assert m.overall.infap == pytest.approx(0.410414, abs=1e-6)


def test_example_d_max_result_size_adjustment() -> None:
    q = _qrels("7", [(d, 1, 1) for d in "uvwy"])
    assert xinfap(q, list("uvw"), max_results=2) == pytest.approx(0.999995, abs=1e-6)
    assert xinfap(q, list("uvw"), max_results=2, trecvid_adjust=False) == pytest.approx(0.4999975, abs=1e-7)


def test_example_e_tie_break_docid_descending_bytewise() -> None:
    ids = np.array(["shot1_10", "shot1_2"])
    order = rank_order(np.array([0.5, 0.5]), ids)
    assert ids[order].tolist() == ["shot1_2", "shot1_10"]
    assert xinfap(_qrels("e", [("shot1_2", 1, 1), ("shot1_10", 1, 0)]), ids[order]) == pytest.approx(1.0, abs=1e-9)
    assert xinfap(_qrels("e", [("shot1_2", 1, 0), ("shot1_10", 1, 1)]), ids[order]) == pytest.approx(0.500005, abs=1e-6)


def test_rank_order_keeps_ties_at_the_cut_in_nist_order() -> None:
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.1])
    ids = np.array(["a", "b", "d", "c", "e"])
    assert ids[rank_order(scores, ids, 3)].tolist() == ["a", "d", "c"]
    assert ids[rank_order(scores, ids)].tolist() == ["a", "d", "c", "b", "e"]


@pytest.mark.parametrize("seed", range(4))
def test_one_stratum_all_judged_equals_ap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    ids = np.array([f"s{i}" for i in range(n)])
    rel = (rng.random(n) < 0.25).astype(int)
    scores = rng.random(n)
    q = _qrels("t", [(d, 1, int(r)) for d, r in zip(ids, rel, strict=True)])
    ranked = ids[rank_order(scores, ids)]
    assert xinfap(q, ranked, max_results=n) == pytest.approx(average_precision(scores, rel), abs=1e-4)


def test_range_and_run_line_permutation_invariance(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 300
    ids = [f"shot{i}_{j}" for i in range(30) for j in range(10)]
    qlines = [f"t 0 {d} {rng.integers(1, 4)} {rng.choice([-1, 0, 1], p=[.4, .4, .2])}" for d in ids]
    (tmp_path / "q").write_text("\n".join(qlines) + "\n")
    scores = np.round(rng.random(n), 2)  # many ties
    lines = [f"t Q0 {d} {k} {s} r" for k, (d, s) in enumerate(zip(ids, scores, strict=True), 1)]
    (tmp_path / "r1").write_text("\n".join(lines) + "\n")
    (tmp_path / "r2").write_text("\n".join(lines[i] for i in rng.permutation(n)) + "\n")
    qrels = read_qrels(tmp_path / "q")
    a = evaluate_run(qrels, read_run(tmp_path / "r1"), trecvid_adjust=False)
    b = evaluate_run(qrels, read_run(tmp_path / "r2"), trecvid_adjust=False)
    assert a.overall == b.overall
    assert 0.0 <= a.overall.infap <= 1.0 and 0.0 <= a.overall.infndcg <= 1.0


def _sin_like(n_items: int, n_concepts: int, tmp_path: Path, seed: int = 0) -> EvalInput:
    rng = np.random.default_rng(seed)
    ids = np.array([f"shot{i // 40}_{i % 40}" for i in range(n_items)])
    lines = []
    for t in range(n_concepts - 1):  # the last concept has no judgments
        for i in rng.choice(n_items, n_items // 3, replace=False):
            lines.append(f"c{t} 0 {ids[i]} {rng.integers(1, 3)} {rng.choice([-1, 0, 1], p=[.3, .5, .2])}")
    (tmp_path / "sin.qrels").write_text("\n".join(lines) + "\n")
    return EvalInput(
        scores=rng.random((n_items, n_concepts)), ids=ids,
        concepts=tuple(f"c{t}" for t in range(n_concepts)),
        protocol=Protocol(metric="mxinfap", qrels_path=tmp_path / "sin.qrels", max_results=100),
    )


def test_mxinfap_metric_matches_run_file_route(tmp_path: Path) -> None:
    data = _sin_like(500, 6, tmp_path)
    spec = METRICS.get("mxinfap")
    assert spec.higher_is_better and "percent" in spec.description.lower()
    res = spec.fn(data)
    assert res.concepts == ("c0", "c1", "c2", "c3", "c4")
    assert res.notes["unjudged_concepts"] == ("c5",)
    # the same numbers through a written run file and the sample_eval-style scorer
    write_run(tmp_path / "run", data.ids, data.scores, data.concepts, max_results=100, tag="x")
    m = evaluate_run(read_qrels(tmp_path / "sin.qrels"), read_run(tmp_path / "run"), max_results=100)
    assert res.per_concept["xinfap"] == pytest.approx([t.infap for t in m.topics], abs=1e-12)
    assert res.overall["mxinfap"] == pytest.approx(100 * m.overall.infap, abs=1e-10)


def test_mxinfap_concept_subset_and_avs_variant(tmp_path: Path) -> None:
    data = _sin_like(400, 4, tmp_path)
    sub = EvalInput(scores=data.scores, ids=data.ids, concepts=data.concepts,
                    protocol=Protocol(metric="mxinfap", qrels_path=data.protocol.qrels_path,
                                      eval_concepts=("c2", "c0"), max_results=100,
                                      options={"trecvid_adjust": False}))
    res = METRICS.get("mxinfap").fn(sub)
    names, values, _ = xinfap_per_concept(data.ids, data.scores, data.concepts,
                                          read_qrels(data.protocol.qrels_path), columns=[2, 0],
                                          max_results=100, trecvid_adjust=False)
    assert res.concepts == tuple(names) == ("c2", "c0")
    assert res.overall["mxinfap"] == pytest.approx(100 * values.mean())
    avs = METRICS.get("avs_infap").fn(sub)
    assert avs.overall["avs_infap"] == pytest.approx(values.mean())
    assert avs.per_concept["infap"] == pytest.approx(values)


def test_mxinfap_errors(tmp_path: Path) -> None:
    data = _sin_like(100, 2, tmp_path)
    spec = METRICS.get("mxinfap")
    no_qrels = EvalInput(scores=data.scores, ids=data.ids, concepts=data.concepts, protocol=Protocol(metric="mxinfap"))
    with pytest.raises(InvalidParameterError, match="qrels_path"):
        spec.fn(no_qrels)
    other = EvalInput(scores=data.scores, ids=data.ids, concepts=("x", "y"), protocol=data.protocol)
    with pytest.raises(DataError, match="topic"):
        spec.fn(other)
    bad_shape = EvalInput(scores=data.scores[:, :1], ids=data.ids, concepts=data.concepts, protocol=data.protocol)
    with pytest.raises(DataError, match="shape"):
        spec.fn(bad_shape)


def test_graded_judgments_count_as_relevant_and_weight_ndcg() -> None:
    from metrics.functional import evaluate_topic

    q = _qrels("g", [("a", 1, 2), ("b", 1, 1), ("c", 1, 0)])
    m = evaluate_topic(q, ["b", "a", "c"])
    assert m.infap == pytest.approx(1.0, abs=1e-4)  # grades > 0 are relevant for AP
    ideal = 2 / np.log2(2) + 1 / np.log2(3)  # grade 2 first, then grade 1
    dcg = 1 / np.log2(2) + 2 / np.log2(3)
    assert m.infndcg == pytest.approx(dcg / ideal, abs=1e-12)
    assert m.inum_rel == pytest.approx(2.0)
