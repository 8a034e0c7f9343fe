"""The validation score methods select models with (``methods._validation``): the protocol's metric."""

from __future__ import annotations

import numpy as np
import pytest

from harness import api
from methods._sampling import sample_training_mask
from methods._validation import safe_score, sampled_labels, scorer_from_data, val_scorer


def _data(n: int, T: int, seed: int, protocol: api.Protocol | None = None) -> tuple[api.MethodData, np.ndarray]:
    g = np.random.default_rng(seed)
    labels = (g.random((n, T)) < g.uniform(0.05, 0.4)).astype(np.int8)
    labels[g.random((n, T)) < 0.1] = -1
    labels[:, 0] = np.minimum(labels[:, 0], 0)  # one concept without positives
    md = api.MethodData(ids=np.array([f"s{i}" for i in range(n)]), groups=np.array([f"v{i // 3}" for i in range(n)]),
                        concepts=tuple(f"c{t}" for t in range(T)), task="multilabel", labels=labels,
                        protocol=protocol)  # fmt: skip
    return md, labels


def _oracle_map(scores: np.ndarray, labels: np.ndarray, selected: np.ndarray) -> float:
    """Mean over concepts with a selected positive of scikit-learn's AP on the selected annotated rows."""
    from sklearn.metrics import average_precision_score

    aps = []
    for t in range(labels.shape[1]):
        rows = selected[:, t] & (labels[:, t] >= 0)
        if (labels[rows, t] == 1).any():
            aps.append(average_precision_score(labels[rows, t] == 1, scores[rows, t]))
    return float(np.mean(aps))


@pytest.mark.parametrize("seed", range(20))
def test_sampled_validation_map_matches_an_independent_oracle(seed: int) -> None:
    # The test protocol scores 1 of T concepts; the methods' validation (held-out training shots) scores
    # every annotated concept (all_concepts=True), as they always have (tie-free scores: sklearn breaks
    # ties differently).
    md, labels = _data(120, 6, seed, api.Protocol(metric="mxinfap", eval_concepts=("c1",)))
    scores = np.random.default_rng(seed + 100).normal(size=labels.shape)
    mask = sample_training_mask(labels, neg_ratio=15.0, seed=seed)
    got = val_scorer(md)(scores, labels=sampled_labels(labels, mask), all_concepts=True)
    assert got == pytest.approx(_oracle_map(scores, labels, mask), abs=1e-12)


def test_runner_scorer_is_used_when_set() -> None:
    md, labels = _data(30, 3, 0)
    calls = []
    runner = api.Scorer("map", True, lambda s, **kwargs: calls.append(1) or 0.5)
    import dataclasses

    assert val_scorer(dataclasses.replace(md, val_score=runner)) is runner
    assert val_scorer(dataclasses.replace(md, labels=None)) is None
    assert val_scorer(None) is None


def test_eval_concepts_unless_all_concepts() -> None:
    md, labels = _data(80, 4, 3, api.Protocol(metric="mxinfap", eval_concepts=("c2",)))
    scores = np.random.default_rng(1).normal(size=labels.shape)
    only = np.full_like(labels, -1)
    only[:, 2] = labels[:, 2]
    scorer = val_scorer(md)
    assert scorer(scores) == pytest.approx(scorer(scores, labels=only, all_concepts=True))
    assert scorer(scores, all_concepts=True) != pytest.approx(scorer(scores))


def test_rows_and_direction() -> None:
    md, labels = _data(60, 4, 1)
    scores = np.random.default_rng(0).normal(size=labels.shape)
    scorer = scorer_from_data(md)
    rows = np.arange(0, 60, 2)
    sub = api.MethodData(ids=md.ids[rows], groups=md.groups[rows], concepts=md.concepts, task="multilabel",
                         labels=labels[rows])  # fmt: skip
    assert scorer(scores, rows=rows) == pytest.approx(scorer_from_data(sub)(scores[rows]))
    assert scorer.higher_is_better and scorer.better(0.6, 0.5)


def test_no_positive_gives_nan_not_an_error() -> None:
    md, labels = _data(20, 2, 2)
    scorer = scorer_from_data(md)
    assert np.isnan(safe_score(scorer, np.zeros(labels.shape), labels=np.minimum(labels, 0)))


def test_multiclass_fallback_is_clip_accuracy() -> None:
    y = np.array([0, 1, 2, 1])
    md = api.MethodData(ids=np.array(list("abcd")), groups=np.array(list("abcd")), concepts=("x", "y", "z"),
                        task="multiclass", labels=y)  # fmt: skip
    scores = np.eye(3)[[0, 1, 2, 2]]
    scorer = val_scorer(md)
    assert scorer.metric == "video_accuracy" and scorer(scores) == pytest.approx(0.75)
