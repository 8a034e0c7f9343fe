"""NB-TL's selection rule (METHODS.md 2.8 oracle), the penalty set and the 90/10 frame split."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import InvalidParameterError
from methods._nbtl_select import (
    clip_budget,
    culprits,
    frame_clips,
    holdout_frames,
    penalty_set,
    select_units,
    unit_scores,
    units_to_drop,
)


def test_last_layer_culprit_is_the_largest_contribution_not_the_largest_weight() -> None:
    w8 = np.zeros((3, 4))
    w8[2] = [0.4, 0.3, 5.0, -0.2]
    units, contrib = culprits(w8, np.array([[0.5, 2.0, 0.0, 1.0]]), np.array([2]))
    assert units.tolist() == [1]  # the 5.0 weight sits on an inactive unit
    assert contrib == pytest.approx([0.6])


def test_back_step_follows_the_last_layer_culprit() -> None:
    w7 = np.zeros((4, 3))
    w7[1] = [0.1, 0.8, 0.3]
    units, contrib = culprits(w7, np.array([[1.0, 0.5, 2.0]]), np.array([1]))
    assert units.tolist() == [2]
    assert contrib == pytest.approx([0.6])


def test_aggregation_sums_contributions_and_the_budget_takes_the_top() -> None:
    scores, selected = unit_scores(np.array([1, 3, 1]), np.array([0.6, 0.9, 0.5]), 10)
    assert scores[1] == pytest.approx(1.1) and scores[3] == pytest.approx(0.9)
    assert units_to_drop(scores, selected, 0.1).tolist() == [1]  # budget round(0.1 * 10) = 1 unit
    assert units_to_drop(scores, selected, 0.2).tolist() == [1, 3]
    # Fewer selected units than the budget: only those are dropped.
    assert units_to_drop(scores, selected, 0.5).tolist() == [1, 3]


def test_select_units_per_layer_choice() -> None:
    rng = np.random.default_rng(0)
    w8, w7 = rng.normal(size=(5, 20)), rng.normal(size=(20, 30))
    h7, h6 = rng.random((12, 20)), rng.random((12, 30))
    wrong = rng.integers(0, 5, 12)
    both = select_units(w8, w7, h7, h6, wrong, "last_two", 0.1)
    last = select_units(w8, w7, h7, h6, wrong, "last", 0.1)
    second = select_units(w8, w7, h7, h6, wrong, "second_to_last", 0.1)
    assert len(both.fc7) == 2 and len(both.fc6) == 3
    assert last.fc7.tolist() == both.fc7.tolist() and len(last.fc6) == 0
    assert second.fc6.tolist() == both.fc6.tolist() and len(second.fc7) == 0
    with pytest.raises(InvalidParameterError):
        select_units(w8, w7, h7, h6, wrong, "first", 0.1)


def test_penalty_set_is_the_misclassified_frames_counted_in_clips() -> None:
    clip = np.array([0, 0, 1, 1, 2, 2, 3])
    truth = np.array([1, 1, 2, 2, 0, 0, 3])
    pred = np.array([1, 0, 2, 2, 1, 2, 0])  # wrong: frames 1 (clip 0), 4, 5 (clip 2), 6 (clip 3)
    full = penalty_set(pred, truth, clip, "all", np.random.default_rng(0))
    assert full.frames.tolist() == [1, 4, 5, 6] and full.clips.tolist() == [0, 2, 3] and full.all_clips == 3
    two = penalty_set(pred, truth, clip, 2, np.random.default_rng(0))
    assert len(two.clips) == 2 and set(clip[two.frames]) == set(two.clips.tolist())
    assert set(two.frames.tolist()) == {f for f in [1, 4, 5, 6] if clip[f] in two.clips}


def test_clip_budget_forms() -> None:
    assert clip_budget("all", 2648) == 2648
    assert clip_budget(260, 2648) == 260
    assert clip_budget("0.5", 10) == 5 and clip_budget("1.0", 10) == 10
    assert clip_budget(5000, 100) == 100
    with pytest.raises(InvalidParameterError):
        clip_budget("some", 10)


def test_holdout_by_clip_keeps_each_clip_on_one_side_and_by_frame_takes_a_tenth() -> None:
    offsets = np.concatenate([[0], np.cumsum(np.full(50, 16))])
    clips = frame_clips(offsets)
    by_clip = holdout_frames(offsets, 0.1, "clip", np.random.default_rng(0))
    per_clip = np.bincount(clips, weights=by_clip, minlength=50)
    assert set(per_clip.tolist()) == {0.0, 16.0} and (per_clip == 16).sum() == 5
    by_frame = holdout_frames(offsets, 0.1, "frame", np.random.default_rng(0))
    assert by_frame.sum() == 80
    mixed = np.bincount(clips, weights=by_frame, minlength=50)
    assert ((mixed > 0) & (mixed < 16)).any()  # frames of one clip on both sides (AMB-25)
