"""Concept-bank shot retrieval (methods/_concept_bank.py): the METHODS.md 2.7 oracles and the AVS
run depth of 1000 shots per query (METHODS.md 1.4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness import api
from harness.registry import load_plugins
from methods._concept_bank import minmax_to_unit, query_scores, retrieval_scores

load_plugins()


def test_slide_example_averages_to_045() -> None:
    outputs = np.array([[0.7, 0.1, 0.4, 0.6]])
    index = {c: i for i, c in enumerate("abcd")}
    scores, unanswered = query_scores(outputs, index, {"q": ("a", "b", "c", "d")}, ("q",))
    assert scores[0, 0] == pytest.approx(0.45)
    assert unanswered == []


def test_minmax_normalisation_reorders_the_shots() -> None:
    o = np.array([[0.9, 0.20], [0.6, 0.30], [0.1, 0.25]])
    index = {"c1": 0, "c2": 1}
    mapping = {"q": ("c1", "c2")}
    raw = retrieval_scores(o, index, mapping, ("q",), "none")[:, 0]
    np.testing.assert_allclose(raw, [0.55, 0.45, 0.175])
    np.testing.assert_allclose(minmax_to_unit(o), [[1, -1], [0.25, 1], [-1, 0]])
    fused = retrieval_scores(o, index, mapping, ("q",), "minmax")[:, 0]
    np.testing.assert_allclose(fused, [0, 0.625, -0.5], atol=1e-12)
    assert int(np.argmax(raw)) == 0 and int(np.argmax(fused)) == 1


def test_query_without_detectors_scores_zero_and_constant_detector_maps_to_zero() -> None:
    o = np.array([[0.3, 0.5], [0.3, 0.1]])
    scores, unanswered = query_scores(minmax_to_unit(o), {"a": 0, "b": 1}, {"q1": ("a",), "q2": ("zzz",)}, ("q1", "q2"))
    np.testing.assert_array_equal(scores, np.zeros((2, 2)))
    assert unanswered == ["q2"]


def _avs_metric(tmp_path: Path, rank_of_relevant: int) -> float:
    """mxinfap of a 1,200-shot run whose one relevant shot is ranked ``rank_of_relevant`` (1-based)."""
    n = 1200
    ids = np.array([f"shot1_{k + 1}" for k in range(n)])
    scores = np.linspace(1.0, 0.0, n)[:, None]  # shot k is ranked k + 1
    qrels = tmp_path / "qrels.txt"
    relevant = ids[rank_of_relevant - 1]
    qrels.write_text("".join(f"501 0 {s} 1 {int(s == relevant)}\n" for s in ids))
    protocol = api.Protocol(metric="mxinfap", qrels_path=qrels, max_results=1000, options={"trecvid_adjust": True})
    result = api.METRICS.get("mxinfap").fn(api.EvalInput(scores=scores, ids=ids, concepts=("501",), protocol=protocol))
    return float(result.overall["mxinfap"])


def test_avs_runs_keep_the_top_1000_shots(tmp_path: Path) -> None:
    assert _avs_metric(tmp_path, 1000) == pytest.approx(100.0 / 1000, rel=1e-3)
    assert _avs_metric(tmp_path, 1001) == 0.0
