"""The two reference plugins on hand-made MethodData: ``nearest_class_mean`` and ``coview_gap_linear``."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import numpy as np
import pytest

from harness import api
from harness.errors import DataError
from harness.params import resolve_config
from harness.search_space import validate_space
from methods.coview_gap_linear import CoviewGapLinear
from methods.nearest_class_mean import UNSEEN_SCORE, NearestClassMean

# -- nearest_class_mean ------------------------------------------------------------------------


def clips(n: int, seed: int, C: int = 4, d: int = 16, noise: float = 1.0) -> api.MethodData:
    """Clips of C classes around fixed class centres (shared by every split)."""
    centres = np.random.default_rng(7).normal(size=(C, d)) * 2.0 + 3.0  # off the origin, as ReLU features
    g = np.random.default_rng(seed)
    y = np.arange(n) % C
    X = (centres[y] + noise * g.normal(size=(n, d))).astype(np.float32)
    return api.MethodData(ids=np.array([f"c{i}" for i in range(n)]), groups=np.array([f"g{i // 3}" for i in range(n)]),
                          concepts=tuple(f"class{c}" for c in range(C)), task="multiclass", labels=y.astype(np.int64),
                          features=X, protocol=api.Protocol(metric="video_accuracy", val_metric="video_accuracy"))  # fmt: skip


def ncm(**sets: object) -> NearestClassMean:
    return NearestClassMean(config=resolve_config(NearestClassMean.Config, None, sets), seed=0)


def test_ncm_scores_are_cosines_to_class_means() -> None:
    train = clips(40, 0)
    m = ncm().fit(train)
    Z = train.features / np.linalg.norm(train.features, axis=1, keepdims=True)
    mean0 = Z[train.labels == 0].mean(axis=0)
    x = train.features[5]
    expected = float(x @ mean0 / np.linalg.norm(x) / np.linalg.norm(mean0))
    assert m.predict(dataclasses.replace(train, labels=None))[5, 0] == pytest.approx(expected)
    assert np.abs(m.predict(train)).max() <= 1.0 + 1e-9


def test_ncm_classifies_held_out_clips_and_reports_validation() -> None:
    train, val, test = clips(200, 0), clips(60, 1), clips(100, 2)
    for normalize in ("l2", "center_l2", "standardize_l2"):
        m = ncm(normalize=normalize).fit(train, val)
        accuracy = float(np.mean(m.predict(test).argmax(axis=1) == test.labels))
        assert accuracy > 0.9, (normalize, accuracy)
        assert m.val_score_ == pytest.approx(float(np.mean(m.predict(val).argmax(axis=1) == val.labels)))


def test_ncm_center_and_standardize_use_training_statistics() -> None:
    train, test = clips(60, 0), clips(30, 2)
    mean, std = train.features.astype(np.float64).mean(axis=0), train.features.astype(np.float64).std(axis=0)
    for normalize, shifted in (("center_l2", lambda X: X - mean), ("standardize_l2", lambda X: (X - mean) / std)):
        got = ncm(normalize=normalize).fit(train).predict(test)
        plain = ncm(normalize="l2").fit(dataclasses.replace(train, features=shifted(train.features)))
        np.testing.assert_allclose(got, plain.predict(dataclasses.replace(test, features=shifted(test.features))),
                                   atol=1e-10)  # fmt: skip


def test_ncm_uses_the_runners_scorer() -> None:
    train, val = clips(40, 0), clips(20, 1)
    seen = []

    def fn(scores: np.ndarray, **kwargs: object) -> float:
        seen.append(np.asarray(scores).shape)
        return 0.25

    m = ncm().fit(train, dataclasses.replace(val, val_score=api.Scorer("video_accuracy", True, fn)))
    assert m.val_score_ == 0.25 and seen == [(20, 4)]


def test_ncm_class_without_training_clips_is_never_predicted() -> None:
    train = clips(40, 0)
    keep = train.labels != 3
    sub = dataclasses.replace(train, ids=train.ids[keep], groups=train.groups[keep], labels=train.labels[keep],
                              features=train.features[keep])  # fmt: skip
    m = ncm().fit(sub)
    scores = m.predict(train)
    assert m.classes_without_training_ == ["class3"]
    assert (scores[:, 3] == UNSEEN_SCORE).all() and (scores.argmax(axis=1) != 3).all() and np.isfinite(scores).all()


def test_ncm_alpha_shrinks_towards_the_global_mean() -> None:
    train = clips(40, 0)
    a, b = ncm(alpha=0.0).fit(train).means_, ncm(alpha=0.8).fit(train).means_
    spread = lambda M: float(np.linalg.norm(M - M.mean(axis=0)))  # noqa: E731
    assert spread(b) < spread(a)


def test_ncm_bad_input() -> None:
    train = clips(20, 0)
    with pytest.raises(DataError, match="class indices"):
        ncm().fit(dataclasses.replace(train, labels=train.labels + 10))
    with pytest.raises(DataError, match="needs feature vectors"):
        ncm().fit(dataclasses.replace(train, features=None))
    m = ncm().fit(train)
    with pytest.raises(DataError, match="columns"):
        m.predict(dataclasses.replace(train, features=train.features[:, :3]))


def test_search_spaces_validate() -> None:
    for cls in (NearestClassMean, CoviewGapLinear):
        assert validate_space(cls.search_space(), cls.Config, cls.name)


# -- coview_gap_linear ---------------------------------------------------------------------------

S, A = 3, 5
HEADS = MappingProxyType({"scene": (S,), "action": (A,), "importance": ()})


def segments(n_videos: int, seed: int, per_video: int = 8, d: int = 12) -> api.MethodData:
    """Segments whose scene, action and importance are linear in their (noisy) features."""
    g = np.random.default_rng(seed)
    ws, wa, wi = (np.random.default_rng(k).normal(size=(d, m)) for k, m in ((1, S), (2, A), (3, 1)))
    X = g.normal(size=(n_videos * per_video, d))
    scene, action = (X @ ws).argmax(axis=1), (X @ wa).argmax(axis=1)
    importance = np.clip(1.0 + 0.5 * (X @ wi)[:, 0], 0.0, 2.0)
    labels = np.column_stack([scene, action, importance])
    n = len(X)
    protocol = api.Protocol(metric="coview", extra_metrics=("segment_accuracy",), val_metric="segment_accuracy",
                            heads=HEADS, options={"n_scene_classes": S, "n_action_classes": A, "label_base": 0})  # fmt: skip
    return api.MethodData(ids=np.array([f"v{i // per_video}/{i % per_video}" for i in range(n)]),
                          groups=np.array([f"v{seed}_{i // per_video}" for i in range(n)]),
                          concepts=("scene", "action", "importance"), task="coview", labels=labels,
                          features=(X + 0.1 * g.normal(size=X.shape)).astype(np.float32), protocol=protocol,
                          extra={"segment_index": np.arange(n) % per_video})  # fmt: skip


def gap(**sets: object) -> CoviewGapLinear:
    return CoviewGapLinear(config=resolve_config(CoviewGapLinear.Config, None, {"max_epochs": 30, **sets}), seed=0)


def test_gap_linear_heads_match_the_protocol() -> None:
    train, val, test = segments(30, 0), segments(8, 1), segments(10, 2)
    m = gap().fit(train, val)
    out = m.predict(dataclasses.replace(test, labels=None))
    assert set(out) == set(HEADS)
    for head, shape in HEADS.items():
        assert out[head].shape == (len(test), *shape) and np.isfinite(out[head]).all()
    np.testing.assert_allclose(out["scene"].sum(axis=1), 1.0, atol=1e-6)
    scene_acc = float(np.mean(out["scene"].argmax(1) == test.labels[:, 0]))
    action_acc = float(np.mean(out["action"].argmax(1) == test.labels[:, 1]))
    corr = float(np.corrcoef(out["importance"], test.labels[:, 2])[0, 1])
    assert scene_acc > 0.8 and action_acc > 0.7 and corr > 0.75, (scene_acc, action_acc, corr)
    # Model selection on the protocol's validation metric: the kept epoch's score is reproduced.
    from methods._validation import val_scorer

    assert m.val_metric_ == "segment_accuracy"
    assert val_scorer(val)(m.predict(val)) == pytest.approx(m.best_val_score_)
    assert m.best_val_score_ == pytest.approx(max(r["val_score"] for r in m.history_))


def test_gap_linear_sizes_from_info_without_heads() -> None:
    train = segments(10, 0)
    bare = dataclasses.replace(train, protocol=None, info=MappingProxyType({"n_scene_classes": 4, "n_action_classes": 6}))
    out = gap(max_epochs=2).fit(bare).predict(bare)
    assert out["scene"].shape == (len(train), 4) and out["action"].shape == (len(train), 6)


def test_gap_linear_is_deterministic_and_seed_dependent() -> None:
    train, val = segments(10, 0), segments(4, 1)
    a = gap(max_epochs=5).fit(train, val).predict(val)
    b = gap(max_epochs=5).fit(train, val).predict(val)
    c = CoviewGapLinear(config=resolve_config(CoviewGapLinear.Config, None, {"max_epochs": 5}), seed=1).fit(train, val)
    for head in HEADS:
        np.testing.assert_array_equal(a[head], b[head])
    assert not np.array_equal(a["scene"], c.predict(val)["scene"])


def test_gap_linear_bad_labels() -> None:
    train = segments(4, 0)
    bad = train.labels.copy()
    bad[0, 1] = A + 3
    with pytest.raises(DataError, match="action labels"):
        gap().fit(dataclasses.replace(train, labels=bad))
    with pytest.raises(DataError, match=r"\(n, 3\)|, 3\)"):
        gap().fit(dataclasses.replace(train, labels=train.labels[:, :2]))
