"""AP with complete judgments (METHODS.md 1.1) and the registered ``map`` metric."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

import metrics  # noqa: F401  (registers the metrics)
from harness.api import METRICS, EvalInput, Protocol
from harness.errors import DataError, InvalidParameterError
from metrics.functional import average_precision, ranked_average_precision


def test_worked_example_1_1() -> None:
    # ranking a, b, c, d, x, e; relevant a, c, e (R = 3) -> relevant at ranks 1, 3, 6
    assert ranked_average_precision([1, 0, 1, 0, 0, 1]) == pytest.approx(0.722222, abs=1e-6)
    scores = np.array([6, 5, 4, 3, 2, 1], dtype=float)
    assert average_precision(scores, [1, 0, 1, 0, 0, 1]) == pytest.approx((1 + 2 / 3 + 3 / 6) / 3)


def test_unretrieved_relevant_items_count_in_r() -> None:
    # two relevant retrieved at ranks 1 and 2, one more relevant item not in the list
    assert ranked_average_precision([1, 1, 0], n_relevant=3) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="smaller"):
        ranked_average_precision([1, 1], n_relevant=1)


def test_no_relevant_item_gives_zero() -> None:
    assert average_precision([0.3, 0.2], [0, 0]) == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_equals_sklearn_on_tie_free_input(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    scores = rng.permutation(n).astype(float) + rng.random()  # distinct scores
    rel = (rng.random(n) < 0.2).astype(int)
    rel[0] = 1
    assert average_precision(scores, rel) == pytest.approx(average_precision_score(rel, scores), abs=1e-12)


def test_properties_range_and_permutation_invariance() -> None:
    rng = np.random.default_rng(7)
    scores, rel = rng.random(200), (rng.random(200) < 0.3).astype(int)
    ap = average_precision(scores, rel)
    perm = rng.permutation(200)
    assert 0.0 <= ap <= 1.0
    assert average_precision(scores[perm], rel[perm]) == pytest.approx(ap, abs=1e-15)
    assert average_precision(rel + 0.0, rel) == pytest.approx(1.0)  # perfect ranking


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="equal length"):
        average_precision([1.0, 2.0], [1])
    with pytest.raises(ValueError, match="NaN"):
        average_precision([np.nan, 1.0], [1, 0])


def _map_input(scores: np.ndarray, labels: np.ndarray, eval_concepts=None) -> EvalInput:
    concepts = tuple(f"c{i}" for i in range(scores.shape[1]))
    return EvalInput(
        scores=scores, ids=np.array([f"i{i}" for i in range(len(scores))]), concepts=concepts,
        protocol=Protocol(metric="map", eval_concepts=eval_concepts), labels=labels,
    )


def test_map_metric_excludes_unannotated_and_skips_concepts_without_positives() -> None:
    spec = METRICS.get("map")
    assert spec.higher_is_better
    scores = np.array([[0.9, 0.1, 0.5], [0.8, 0.2, 0.4], [0.7, 0.3, 0.3], [0.6, 0.4, 0.2]])
    labels = np.array([[-1, 0, 0], [0, 0, 1], [1, 0, -1], [1, 0, 0]])
    res = spec.fn(_map_input(scores, labels))
    # c0: item 0 is not annotated -> ranking 1 (0), 2 (1), 3 (1): AP = (1/2 + 2/3) / 2
    # c1: no positive -> skipped; c2: item 2 excluded, positive at rank 2 of 3 -> AP 1/2
    assert res.concepts == ("c0", "c2")
    assert res.per_concept["ap"] == pytest.approx([(1 / 2 + 2 / 3) / 2, 1 / 2])
    assert res.overall["map"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1 / 2) / 2)
    assert res.notes["skipped_concepts"] == ("c1",)
    assert not np.isnan(res.overall["map"])


def test_map_metric_concept_subset_and_errors() -> None:
    spec = METRICS.get("map")
    rng = np.random.default_rng(0)
    scores = rng.random((20, 3))
    labels = (rng.random((20, 3)) < 0.4).astype(int)
    labels[0] = 1
    res = spec.fn(_map_input(scores, labels, eval_concepts=("c2", "c0")))
    assert res.concepts == ("c2", "c0")
    assert res.per_concept["ap"][0] == pytest.approx(average_precision(scores[:, 2], labels[:, 2]))
    with pytest.raises(InvalidParameterError, match="c9"):
        spec.fn(_map_input(scores, labels, eval_concepts=("c9",)))
    with pytest.raises(DataError, match="no|none"):
        spec.fn(_map_input(scores, np.zeros_like(labels)))
    with pytest.raises(DataError, match="NaN"):
        spec.fn(_map_input(np.full((20, 3), np.nan), labels))
