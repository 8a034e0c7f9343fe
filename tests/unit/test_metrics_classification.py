"""Top-k, frame- and video-level accuracy, per-class precision/recall (METHODS.md 1.7, 1.8)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support, top_k_accuracy_score

import metrics  # noqa: F401  (registers the metrics)
from harness.api import METRICS, EvalInput, Protocol
from harness.errors import DataError
from metrics.functional import (
    frame_accuracy,
    per_class_precision_recall,
    top_k_accuracy,
    video_accuracy,
    video_predictions,
)

FRAMES = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.4, 0.3]])


def test_worked_example_video_level_aggregation() -> None:
    ids, pred = video_predictions(FRAMES, ["clip"] * 3)
    assert ids.tolist() == ["clip"] and pred.tolist() == [1]
    assert FRAMES.mean(axis=0) == pytest.approx([0.366667, 0.4, 0.233333], abs=1e-6)
    assert frame_accuracy(FRAMES, [1, 1, 1]) == pytest.approx(2 / 3)
    assert video_accuracy(FRAMES, [1, 1, 1], ["clip"] * 3) == 1.0


@pytest.mark.parametrize("k", [1, 5])
def test_top_k_equals_sklearn(k: int) -> None:
    rng = np.random.default_rng(k)
    scores = rng.random((200, 10))
    labels = rng.integers(0, 10, 200)
    assert top_k_accuracy(scores, labels, k) == pytest.approx(
        top_k_accuracy_score(labels, scores, k=k, labels=np.arange(10)))


def test_per_class_precision_recall_equals_sklearn() -> None:
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 6, 300), rng.integers(0, 5, 300)  # class 5 never predicted
    prec, rec = per_class_precision_recall(p, y, 6)
    sk_p, sk_r, _, _ = precision_recall_fscore_support(y, p, labels=np.arange(6), zero_division=0)
    assert prec == pytest.approx(sk_p) and rec == pytest.approx(sk_r)


def test_video_accuracy_rejects_mixed_labels() -> None:
    with pytest.raises(ValueError, match="different labels"):
        video_accuracy(FRAMES, [1, 0, 1], ["c"] * 3)


def _input(scores, labels, clips=None, groups=None) -> EvalInput:
    return EvalInput(scores=np.asarray(scores, dtype=float), ids=np.arange(len(labels)).astype(str),
                     concepts=tuple(f"k{i}" for i in range(np.shape(scores)[1])), protocol=Protocol(metric="x"),
                     labels=np.asarray(labels), groups=None if groups is None else np.asarray(groups),
                     extra={} if clips is None else {"clip_id": np.asarray(clips)})


def test_registered_video_accuracy_on_frames() -> None:
    scores = np.vstack([FRAMES, [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]])
    labels, clips = [1, 1, 1, 2, 2], ["a", "a", "a", "b", "b"]
    # the UCF101 group is shared by both clips: it must not be pooled over
    res = METRICS.get("video_accuracy").fn(_input(scores, labels, clips, groups=["g1"] * 5))
    # clip a -> class 1 (right); clip b -> mean [0.5, 0.425, 0.075] -> class 0 (wrong)
    assert res.overall["video_accuracy"] == pytest.approx(0.5)
    assert res.overall["frame_accuracy"] == pytest.approx(2 / 5)
    assert res.per_concept["recall"].tolist() == [0.0, 1.0, 0.0]
    assert res.notes["softmax_applied"] is False and res.notes["n_videos"] == 2
    # logits are turned into probabilities first (softmax keeps each frame's argmax)
    logits = METRICS.get("video_accuracy").fn(_input(np.log(scores) + 3.0, labels, clips))
    assert logits.notes["softmax_applied"] is True
    assert logits.overall["video_accuracy"] == pytest.approx(0.5)
    assert METRICS.get("frame_accuracy").fn(_input(scores, labels)).overall["frame_accuracy"] == pytest.approx(0.4)
    with pytest.raises(DataError, match="different labels"):
        METRICS.get("video_accuracy").fn(_input(scores, [1, 1, 0, 2, 2], clips))


def test_registered_video_accuracy_on_clip_rows() -> None:
    # rows are clips (what the UCF101 adapter gives): plain argmax accuracy, no pooling
    clip_scores = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    res = METRICS.get("video_accuracy").fn(_input(clip_scores, [1, 1, 2], groups=["g1", "g1", "g2"]))
    assert res.overall == {"video_accuracy": pytest.approx(2 / 3)}
    assert res.notes["rows"] == "clips" and res.notes["n_videos"] == 3


def test_registered_top_k() -> None:
    scores = np.array([[0.1, 0.9, 0.0, 0.0, 0.0, 0.0], [0.5, 0.4, 0.3, 0.2, 0.1, 0.0]])
    top1 = METRICS.get("top1_accuracy").fn(_input(scores, [1, 5]))
    top5 = METRICS.get("top5_accuracy").fn(_input(scores, [1, 5]))
    assert top1.overall["top1_accuracy"] == 0.5
    assert top5.overall["top5_accuracy"] == 0.5  # class 5 ranks 6th in item 2
    with pytest.raises(DataError, match="class indices"):
        METRICS.get("top1_accuracy").fn(_input(scores, [1, 6]))
