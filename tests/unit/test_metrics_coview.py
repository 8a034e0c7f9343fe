"""CoVieW 2019 metrics (METHODS.md 1.6) and segment accuracy (1.7)."""

from __future__ import annotations

import numpy as np
import pytest

import metrics  # noqa: F401  (registers the metrics)
from harness.api import METRICS, EvalInput, Protocol
from harness.errors import DataError
from metrics.functional import (
    coview_scores,
    hamming_score_at_k,
    importance_accuracy,
    select_segments,
)

G = np.array([1.2, 0.4, 2.0, 1.6, 0.0, 0.8, 1.8, 1.0])
U = np.array([0.9, 0.8, 0.7, 0.1, 0.6, 0.5, 0.4, 0.2])
SCENE = np.array([3, 3, 5, 5, 1, 2, 5, 0])
TOP1 = np.array([3, 4, 5, 5, 1, 0, 5, 0])
TOP5_OF_MISSES = {1: [4, 3, 7, 8, 9], 5: [0, 6, 7, 8, 9]}


def _scene_scores() -> np.ndarray:
    """Class scores whose top-1 is TOP1 and whose top-5 lists of segments 1 and 5 are as given."""
    s = np.zeros((8, 10))
    for n in range(8):
        ranked = TOP5_OF_MISSES.get(n, [int(TOP1[n])])
        for r, c in enumerate(ranked):
            s[n, c] = 10.0 - r
    return s


def test_worked_example_one_video() -> None:
    sel = select_segments(U)
    assert sel.tolist() == [0, 1, 2, 4, 5, 6]
    assert importance_accuracy(G, sel) == pytest.approx(0.738095, abs=1e-6)
    scores = _scene_scores()
    assert hamming_score_at_k(scores, SCENE, sel, 1) == pytest.approx(0.666667, abs=1e-6)
    assert hamming_score_at_k(scores, SCENE, sel, 5) == pytest.approx(0.833333, abs=1e-6)


def test_selection_ties_and_short_videos() -> None:
    assert select_segments([0.5] * 8).tolist() == [0, 1, 2, 3, 4, 5]  # lower index first
    assert select_segments([0.1, 0.9, 0.3]).tolist() == [0, 1, 2]
    assert importance_accuracy([0.0, 0.0], [0, 1]) == 1.0


def _two_videos():
    scores = _scene_scores()
    # video 2: four segments, all predicted right, importance ordered like the selection
    perfect = np.eye(10)[[1, 2, 3, 4]] * 10
    vid = np.array(["v1"] * 8 + ["v2"] * 4)
    sel = np.concatenate([U, [0.4, 0.3, 0.2, 0.1]])
    sc = np.vstack([scores, perfect])
    ys = np.concatenate([SCENE, [1, 2, 3, 4]])
    g = np.concatenate([G, [1.0, 0.5, 0.5, 0.2]])
    return vid, sel, sc, ys, g


def test_dataset_level_means_over_videos() -> None:
    vid, sel, sc, ys, g = _two_videos()
    r = coview_scores(vid, sel, sc, sc, ys, ys, g)
    assert r.n_videos == 2
    assert r.hs_scene_1 == pytest.approx((0.666667 + 1) / 2, abs=1e-6)
    assert r.hs_scene_5 == pytest.approx((5 / 6 + 1) / 2)
    assert r.is_accuracy == pytest.approx((6.2 / 8.4 + 1) / 2)
    assert r.scene_action_score == pytest.approx(r.hs_scene_5)
    assert r.segment_scene_accuracy == pytest.approx((6 + 4) / 12)  # all 12 segments, no selection
    # rows in any order give the same result when segment indices are given
    perm = np.random.default_rng(0).permutation(12)
    seg = np.concatenate([np.arange(8), np.arange(4)])
    r2 = coview_scores(vid[perm], sel[perm], sc[perm], sc[perm], ys[perm], ys[perm], g[perm], seg[perm])
    assert r2 == r


def test_registered_coview_and_segment_accuracy() -> None:
    vid, sel, sc, ys, g = _two_videos()
    packed = np.hstack([sel[:, None], sc, sc])
    data = EvalInput(scores=packed, ids=np.arange(12).astype(str), concepts=(),
                     protocol=Protocol(metric="coview", options={"n_scene_classes": 10}),
                     labels=np.column_stack([ys, ys, g]), groups=vid)
    res = METRICS.get("coview").fn(data)
    assert next(iter(res.overall)) == "scene_action_score"
    assert res.overall["hs_scene@1"] == pytest.approx((2 / 3 + 1) / 2)
    assert res.overall["is_accuracy"] == pytest.approx((6.2 / 8.4 + 1) / 2)
    mapping = EvalInput(scores={"selection": sel, "scene": sc, "action": sc}, ids=data.ids, concepts=(),
                        protocol=Protocol(metric="coview"), labels=data.labels, groups=vid)
    assert METRICS.get("coview").fn(mapping).overall == res.overall
    seg = METRICS.get("segment_accuracy").fn(mapping)
    assert seg.overall["segment_accuracy"] == pytest.approx(10 / 12)
    with pytest.raises(DataError, match="groups"):
        METRICS.get("coview").fn(EvalInput(scores=packed, ids=data.ids, concepts=(),
                                           protocol=data.protocol, labels=data.labels))


def test_one_based_labels_with_label_base_option() -> None:
    vid, sel, sc, ys, g = _two_videos()
    data = {"scores": {"selection": sel, "scene": sc, "action": sc}, "ids": np.arange(12).astype(str),
            "concepts": (), "groups": vid}
    zero = METRICS.get("coview").fn(EvalInput(**data, protocol=Protocol(metric="coview"),
                                              labels=np.column_stack([ys, ys, g])))
    one = METRICS.get("coview").fn(EvalInput(**data, protocol=Protocol(metric="coview", options={"label_base": 1}),
                                             labels=np.column_stack([ys + 1, ys + 1, g])))
    assert one.overall == zero.overall
    with pytest.raises(DataError, match="label_base=0"):
        METRICS.get("coview").fn(EvalInput(**data, protocol=Protocol(metric="coview"),
                                           labels=np.column_stack([ys + 1, ys - 1, g])))


def _heads_input(scores: dict, labels: np.ndarray, groups: np.ndarray) -> EvalInput:
    return EvalInput(scores=scores, ids=np.arange(len(labels)).astype(str), concepts=("scene", "action", "importance"),
                     protocol=Protocol(metric="coview"), labels=labels, groups=groups)


def test_heads_mapping_importance_selects_segments() -> None:
    """The protocol's heads (scene, action, importance): the importance head is the selection score."""
    vid, sel, sc, ys, g = _two_videos()
    labels = np.column_stack([ys, ys, g])
    by_selection = METRICS.get("coview").fn(_heads_input({"selection": sel, "scene": sc, "action": sc}, labels, vid))
    by_importance = METRICS.get("coview").fn(_heads_input({"scene": sc, "action": sc, "importance": sel}, labels, vid))
    column = METRICS.get("coview").fn(_heads_input({"scene": sc, "action": sc, "importance": sel[:, None]}, labels, vid))
    assert by_importance.overall == by_selection.overall == column.overall
    assert by_importance.overall["is_accuracy"] == pytest.approx((6.2 / 8.4 + 1) / 2)  # METHODS.md 1.6 example
    assert by_importance.overall["hs_scene@1"] == pytest.approx((2 / 3 + 1) / 2)


def test_explicit_selection_wins_over_importance_head() -> None:
    """MTN's post-processed u (METHODS.md 2.10, Eq. 4) is passed as ``selection`` beside the importance head."""
    vid, sel, sc, ys, g = _two_videos()
    labels = np.column_stack([ys, ys, g])
    oracle = g.copy()  # selecting by the true importance gives IS accuracy 1
    both = METRICS.get("coview").fn(_heads_input({"scene": sc, "action": sc, "importance": sel, "selection": oracle},
                                                 labels, vid))
    assert both.overall["is_accuracy"] == pytest.approx(1.0)
    only_importance = METRICS.get("coview").fn(_heads_input({"scene": sc, "action": sc, "importance": sel}, labels, vid))
    assert only_importance.overall["is_accuracy"] < 1.0


def test_heads_mapping_errors_and_segment_accuracy_without_importance() -> None:
    vid, sel, sc, ys, g = _two_videos()
    labels = np.column_stack([ys, ys, g])
    no_importance = _heads_input({"scene": sc, "action": sc}, labels, vid)
    with pytest.raises(DataError, match="importance"):
        METRICS.get("coview").fn(no_importance)
    # segment accuracy has no selection step: it needs the class heads only
    assert METRICS.get("segment_accuracy").fn(no_importance).overall["segment_accuracy"] == pytest.approx(10 / 12)
    with pytest.raises(DataError, match=r"'importance' scores must have shape \(12,\)"):
        METRICS.get("coview").fn(_heads_input({"scene": sc, "action": sc, "importance": np.zeros((12, 2))}, labels, vid))
    with pytest.raises(DataError, match="lacks"):
        METRICS.get("segment_accuracy").fn(_heads_input({"scene": sc, "importance": sel}, labels, vid))


def test_validation_labels_may_use_a_subset_of_the_classes() -> None:
    """A validation split need not contain every class: scores keep the data set's width."""
    vid, sel, sc, ys, g = _two_videos()
    wide = np.hstack([sc, np.zeros((12, 5))])  # 15 classes, labels use 0..5 only
    res = METRICS.get("segment_accuracy").fn(_heads_input({"scene": wide, "action": wide, "importance": sel},
                                                          np.column_stack([ys, ys, g]), vid))
    assert res.overall["segment_accuracy"] == pytest.approx(10 / 12)
