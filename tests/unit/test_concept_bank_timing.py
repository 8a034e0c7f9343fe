"""What the ``micronn.timing`` table reads: held-out videos kept out of training, the held-out mean
AP of the detectors, the one-at-a-time schedule, a bank trained again on request, and the action
clips' own frame stride (a training source's feature fields)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harness import api  # noqa: E402
from harness.errors import InvalidParameterError  # noqa: E402
from harness.params import resolve_config  # noqa: E402
from harness.run_inputs import source_feature_specs  # noqa: E402
from harness.seeding import derive_seed  # noqa: E402
from methods import _micronn_nets as nets  # noqa: E402
from methods import micronn, svm_concepts  # noqa: E402
from methods._concept_bank import heldout_map, hold_out_video  # noqa: E402
from tests.unit.test_micronn_method import _data, _one_thread  # noqa: E402, F401 (autouse fixture)


def _fit(cls: Any, **sets: Any) -> Any:
    base = {"image_source": "img", "heldout_fraction": 0.25}
    if cls is micronn.MicroNN:
        base.update(hidden=5, epochs=2, batch_size=16)
    items = [f"{k}={v}" for k, v in {**base, **sets}.items()]
    return cls(config=resolve_config(cls.Config, None, items), seed=0, device="cpu")


def test_hold_out_keeps_each_video_on_one_side() -> None:
    groups = np.repeat(np.arange(10), 3).astype(str)  # 10 videos of 3 shots
    X = np.arange(30, dtype=np.float32)[:, None]
    labels = np.zeros((30, 1), np.int8)
    (kept, *_), held = hold_out_video([(X, labels, ("a",))], groups, 0.3, 7)
    assert held is not None and len(held[0]) == 9 and len(kept[0]) == 21  # 3 of 10 videos
    held_videos = set(groups[held[0][:, 0].astype(int)])
    assert held_videos.isdisjoint(groups[kept[0][:, 0].astype(int)])
    again = hold_out_video([(X, labels, ("a",))], groups, 0.3, 7)[1]
    assert again is not None and np.array_equal(again[0], held[0])  # the seed fixes the videos
    same, none = hold_out_video([(X, labels, ("a",))], groups, 0.0, 7)
    assert none is None and same[0][0] is X


def test_heldout_map_by_hand() -> None:
    outputs = np.array([[0.9, 0.1, 0.5], [0.8, 0.9, 0.5], [0.1, 0.8, 0.5], [0.2, 0.2, 0.5]])
    labels = np.array([[1, 0, 1], [0, 1, 1], [1, 0, -1], [0, -1, 1]], np.int8)
    # a: ranking 0(+) 1(-) 3(-) 2(+): AP = (1/1 + 2/4) / 2 = 0.75; b: known rows 0-2, ranking 1(+): AP 1;
    # c: no negative among the known rows: not scored
    value, scored = heldout_map(outputs, labels)
    assert scored == 2 and value == pytest.approx((0.75 + 1.0) / 2)


def test_micronn_scores_its_detectors_on_held_out_videos(monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[int] = []
    real = nets.train_bank

    def spy(X: Any, *args: Any, **kw: Any) -> Any:
        rows.append(int(X.shape[0]))
        return real(X, *args, **kw)

    monkeypatch.setattr(nets, "train_bank", spy)
    train, _ = _data()
    m = _fit(micronn.MicroNN, bank_cache=False).fit(train)
    assert rows == [70, 90 - 22]  # step 1 on every image; step 2 without the 22 held-out videos (25 % of 90)
    t = m.timing_
    assert t["schedule"] == "batched" and t["concepts"] == len(m.concepts_) and t["train_s"] > 0
    assert t["per_concept_s"] == pytest.approx(t["train_s"] / t["concepts"])
    _, held = hold_out_video([(train.sources["video"].features, train.sources["video"].labels, ("a", "b", "c"))],
                             train.sources["video"].groups, 0.25, derive_seed(0, "heldout"))  # fmt: skip
    assert held is not None and t["heldout_shots"] == 22
    out = m._presence_of(held[0])
    from sklearn.metrics import average_precision_score

    cols = [m.concept_index_[c] for c in ("a", "b", "c") if held[1][:, "abc".index(c)].min() == 0
            and held[1][:, "abc".index(c)].max() == 1]  # fmt: skip
    expect = np.mean([average_precision_score(held[1][:, k], out[:, k]) for k in cols])
    assert t["heldout_concepts"] == len(cols) and t["heldout_map"] == pytest.approx(expect)


def test_one_at_a_time_schedule_trains_each_network_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a: Any, **k: Any) -> Any:
        raise AssertionError("the batched trainer ran")

    monkeypatch.setattr(nets, "train_bank", refuse)
    train, _ = _data()
    m = _fit(micronn.MicroNN, schedule="one_at_a_time", bank_cache=False).fit(train)
    assert m.timing_["schedule"] == "one_at_a_time" and 0 <= m.timing_["heldout_map"] <= 1


def test_bank_cache_off_trains_again_and_on_reuses(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = nets.train_bank
    monkeypatch.setattr(nets, "train_bank", lambda *a, **k: calls.append(1) or real(*a, **k))
    train, _ = _data()
    first = _fit(micronn.MicroNN, epochs=3).fit(train)  # epochs=3: a key no other test fills
    _fit(micronn.MicroNN, epochs=3).fit(train)
    assert len(calls) == 2  # the second fit read the cache
    again = _fit(micronn.MicroNN, epochs=3, bank_cache=False).fit(train)
    assert len(calls) == 4 and not again.cached_
    cached = _fit(micronn.MicroNN, epochs=3).fit(train)
    assert cached.cached_ and cached.timing_["train_s"] == pytest.approx(first.timing_["train_s"])  # when trained


def test_svm_bank_holds_out_the_same_videos() -> None:
    train, _ = _data()
    s = _fit(svm_concepts.SVMConcepts).fit(train)
    m = _fit(micronn.MicroNN, bank_cache=False).fit(train)
    assert s.timing_["schedule"] == "svm" and s.timing_["heldout_shots"] == m.timing_["heldout_shots"] == 22
    assert 0 <= s.timing_["heldout_map"] <= 1 and s.timing_["per_concept_s"] > 0


def test_lstm_with_held_out_shots_is_refused() -> None:
    train, _ = _data(frames=True)
    with pytest.raises(InvalidParameterError, match="heldout_fraction"):
        _fit(micronn.MicroNN, temporal="lstm").fit(train)


def test_action_clips_keep_their_own_frame_stride() -> None:
    for cls in (micronn.MicroNN, svm_concepts.SVMConcepts):
        cfg = resolve_config(cls.Config, None, [])
        sources = cls.training_sources(cfg)
        assert sources["actions"].features == {"frame_stride": 30} and not sources["video"].features
    spec = api.FeatureSpec(backbone="mini_alexnet", layer="fc7", pooling="max")
    out = source_feature_specs({"features": spec}, sources["actions"], "actions")
    assert out["features"].frame_stride == 30 and out["features"].layer == "fc7"
    with pytest.raises(InvalidParameterError, match="unknown feature fields"):
        source_feature_specs({"features": spec}, api.SourceSpec("ucf101", features={"stride": 2}), "actions")
