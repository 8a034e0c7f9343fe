"""Per-concept training sets: all positives + at most 15 random negatives per positive."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from methods._sampling import sample_training_mask, trainable_concepts


def labels_for(n_pos: list[int], n_neg: list[int], n_unannotated: int = 7) -> np.ndarray:
    n = max(p + q for p, q in zip(n_pos, n_neg, strict=True)) + n_unannotated
    y = np.full((n, len(n_pos)), -1, dtype=np.int8)
    for t, (p, q) in enumerate(zip(n_pos, n_neg, strict=True)):
        y[:p, t] = 1
        y[p : p + q, t] = 0
    return y


def test_fifteen_to_one() -> None:
    y = labels_for([3, 10, 1], [500, 100, 15])
    mask = sample_training_mask(y, seed=0)
    pos = (mask & (y == 1)).sum(axis=0)
    neg = (mask & (y == 0)).sum(axis=0)
    np.testing.assert_array_equal(pos, [3, 10, 1])  # every positive
    np.testing.assert_array_equal(neg, [45, 100, 15])  # min(#neg, 15 * #pos)
    assert not (mask & (y == -1)).any()  # never an unannotated example


def test_concept_without_positives_gets_nothing() -> None:
    y = labels_for([0, 2], [50, 50])
    mask = sample_training_mask(y, seed=0)
    assert not mask[:, 0].any()
    assert mask[:, 1].sum() == 2 + 30


def test_ratio_zero_keeps_all_negatives_and_other_ratios() -> None:
    y = labels_for([2, 1], [100, 100])
    np.testing.assert_array_equal((sample_training_mask(y, neg_ratio=0, seed=0) & (y == 0)).sum(0), [100, 100])
    np.testing.assert_array_equal((sample_training_mask(y, neg_ratio=2.5, seed=0) & (y == 0)).sum(0), [5, 2])


def test_seeded_and_random() -> None:
    y = labels_for([2, 3], [200, 200])
    a = sample_training_mask(y, seed=1)
    np.testing.assert_array_equal(a, sample_training_mask(y, seed=1))
    assert not np.array_equal(a, sample_training_mask(y, seed=2))
    # Concepts draw independently: the same label column gets different negatives in two columns.
    y2 = np.repeat(y[:, :1], 2, axis=1)
    m2 = sample_training_mask(y2, seed=3)
    assert not np.array_equal(m2[:, 0], m2[:, 1])


def test_negatives_are_drawn_uniformly() -> None:
    y = labels_for([1], [60], n_unannotated=0)  # 15 of 60 negatives per draw -> p = 1/4 each
    counts = sum(sample_training_mask(y, seed=s)[1:, 0].astype(int) for s in range(400))
    # Binomial(400, 0.25): mean 100, sd ~8.7; allow ~5 sd.
    assert counts.min() > 55 and counts.max() < 145
    assert counts.sum() == 400 * 15


def test_input_not_mutated_and_shape_checked() -> None:
    y = labels_for([2], [40])
    before = y.copy()
    sample_training_mask(y, seed=0)
    np.testing.assert_array_equal(y, before)
    with pytest.raises(ValueError, match="must be \\(n, T\\)"):
        sample_training_mask(y[:, 0], seed=0)


def test_trainable_concepts_warns_and_names_them(caplog: pytest.LogCaptureFixture) -> None:
    y = labels_for([0, 2, 3], [10, 10, 0])
    mask = sample_training_mask(y, seed=0)
    with caplog.at_level(logging.WARNING, logger="methods._sampling"):
        ok = trainable_concepts(y, mask, ("sky", "car", "dog"), "amtl")
    np.testing.assert_array_equal(ok, [False, True, False])
    assert "sky (no positives)" in caplog.text and "dog (no negatives)" in caplog.text
