"""The ``micronn`` method (METHODS.md 2.7): gradual transfer images -> video shots checked by value,
the LSTM's initialisation from step 2 (AMB-22), D_M_3 on frame sequences, the cached bank."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harness import api  # noqa: E402
from harness.params import resolve_config  # noqa: E402
from harness.seeding import derive_seed  # noqa: E402
from methods import _micronn_lstm as lstm  # noqa: E402
from methods import _micronn_nets as nets  # noqa: E402
from methods import micronn  # noqa: E402

D = 8


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _source(name: str, concepts: tuple[str, ...], n: int, seed: int, frames: bool = False) -> api.MethodData:
    g = np.random.default_rng(seed)
    lengths = g.integers(1, 4, size=n)
    seqs = api.Sequences.from_list([g.normal(size=(k, D)).astype(np.float32) for k in lengths])
    X = seqs.pool("max")
    labels = (X[:, : len(concepts)] > 0.8).astype(np.int8)
    blocks: dict[str, Any] = {"features": X}
    if frames:
        blocks["frames"] = seqs
    return api.MethodData(ids=np.array([f"{name}{i}" for i in range(n)]), groups=np.array([f"v{i}" for i in range(n)]),
                          concepts=concepts, task="multilabel", labels=labels, features=X, blocks=blocks, dataset=name)  # fmt: skip


def _data(frames: bool = False) -> tuple[api.MethodData, api.MethodData]:
    video = _source("sin", ("a", "b", "c"), 90, 0, frames)  # c: video only
    images = _source("img", ("a", "b", "d"), 70, 1, frames)  # d: image only
    mapping = {"501": ("a", "d"), "502": ("b",), "503": ("c", "zzz"), "504": ("zzz",)}
    info = MappingProxyType({"query_concepts": mapping})
    target = _source("avs", ("x",), 40, 2, frames)
    queries = tuple(mapping)
    train = api.MethodData(ids=np.array([], str), groups=np.array([], str), concepts=queries, task="multilabel",
                           labels=np.zeros((0, 4), np.int8), info=info, dataset="avs",
                           sources={"video": video, "images": images})  # fmt: skip
    test = api.MethodData(ids=target.ids, groups=target.groups, concepts=queries, task="multilabel",
                          features=target.features, blocks=target.blocks, info=info, dataset="avs")  # fmt: skip
    return train, test


def _method(**sets: Any) -> micronn.MicroNN:
    items = [f"{k}={v}" for k, v in {"image_source": "img", "hidden": 5, "epochs": 2, "batch_size": 16, **sets}.items()]
    return micronn.MicroNN(config=resolve_config(micronn.MicroNN.Config, None, items), seed=0, device="cpu")


def test_step_two_starts_from_step_one(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = []
    real = nets.train_bank

    def spy(X: Any, sets: Any, params: dict[str, Any], *args: Any, **kw: Any) -> dict[str, Any]:
        out = real(X, sets, params, *args, **kw)
        calls.append(({k: v.clone() for k, v in params.items()}, out))
        return out

    monkeypatch.setattr(nets, "train_bank", spy)
    train, test = _data()
    m = _method().fit(train)
    assert len(calls) == 2  # step 1 on images, step 2 on video shots
    (init1, step1), (init2, step2) = calls
    fresh = nets.init_bank(4, D, 5, derive_seed(0, "init"))
    for k in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(init1[k].numpy(), fresh[k][[0, 1, 3]].numpy())
    # bank order: the video concepts a, b, c, then the image-only d; step 1 trains a, b, d
    assert m.bank_ == ["a", "b", "c", "d"] and m.image_concepts_ == ["a", "b", "d"]
    for k in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(init2[k][[0, 1, 3]].numpy(), step1[k].numpy())  # a, b, d from step 1
        np.testing.assert_array_equal(init2[k][2].numpy(), fresh[k][2].numpy())  # c: no images, random start
        assert not np.array_equal(init2[k][2].numpy(), step2[k][2].numpy())  # c trained in step 2
        # the detectors: a, b, c after step 2; d (no video shots) keeps its step-1 network
        np.testing.assert_array_equal(m.params_[k][:3].numpy(), step2[k][:3].numpy())
        np.testing.assert_array_equal(m.params_[k][3].numpy(), step1[k][2].numpy())
    assert m.unanswered_queries_ == ["504"]
    scores = m.predict(test)
    assert scores.shape == (40, 4) and np.all(scores[:, 3] == 0) and np.isfinite(scores).all()


def test_without_step_one_every_video_concept_starts_at_random(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    real = nets.train_bank
    monkeypatch.setattr(nets, "train_bank", lambda X, sets, params, *a, **k: seen.append(sets) or real(X, sets, params, *a, **k))
    train, _ = _data()
    m = _method(image_source="").fit(dataclasses.replace(train, sources={"video": train.sources["video"]}))
    assert len(seen) == 1 and m.image_concepts_ == [] and m.concepts_ == ["a", "b", "c"]


def test_lstm_is_initialised_from_the_micronn() -> None:
    bank = nets.init_bank(3, 6, 4, seed=0)
    init = lstm.init_lstm_from(bank, seed=1)
    h = 4
    np.testing.assert_array_equal(init["W_ih"][:, :, 2 * h : 3 * h].numpy(), bank["W1"].numpy())  # cell input g
    np.testing.assert_array_equal(init["b"][:, 2 * h : 3 * h].numpy(), bank["b1"].numpy())
    np.testing.assert_array_equal(init["W2"].numpy(), bank["W2"].numpy())
    np.testing.assert_array_equal(init["b2"].numpy(), bank["b2"].numpy())
    for gate in (0, 1, 3):  # i, f, o: random
        assert not np.allclose(init["W_ih"][:, :, gate * h : (gate + 1) * h].numpy(), bank["W1"].numpy())
    assert init["W_hh"].shape == (3, h, 4 * h) and float(init["W_hh"].abs().max()) <= 1 / np.sqrt(h)


def test_lstm_reads_the_last_real_frame() -> None:
    init = lstm.init_lstm_from(nets.init_bank(2, 3, 4, seed=0), seed=1)
    g = np.random.default_rng(0)
    a, b = g.normal(size=(2, 3)).astype(np.float32), g.normal(size=(3, 3)).astype(np.float32)
    bank = lstm.FrameBank.from_sequences(api.Sequences.from_list([a, b, a[:0]]))
    x, lengths = bank.gather(torch.tensor([[0, 1], [2, 0]]))
    assert x.shape == (2, 2, 3, 3) and lengths.tolist() == [[2, 3], [1, 2]]
    np.testing.assert_array_equal(x[0, 0, 2].numpy(), a[1])  # a shorter item repeats its last frame as padding
    np.testing.assert_array_equal(x[1, 0].numpy(), 0)  # an item without frames: one zero frame
    together = lstm.lstm_presence(bank, init)
    alone = lstm.lstm_presence(lstm.FrameBank.from_sequences(api.Sequences.from_list([a])), init)
    np.testing.assert_allclose(together[0], alone[0], atol=1e-6)  # padding to b's length changes nothing
    assert not np.allclose(together[0], together[1])


def test_lstm_run_scores_its_concepts_from_the_frames() -> None:
    train, test = _data(frames=True)
    flat = _method().fit(train)
    m = _method(temporal="lstm", lstm_concepts="a,c").fit(train)
    assert m.cached_  # the step-1/2 bank of the first fit is reused
    assert m.lstm_concepts_ == ["a", "c"]
    for k in flat.params_:
        np.testing.assert_array_equal(flat.params_[k].numpy(), m.params_[k].numpy())
    p_flat, p_lstm = flat.presence(test), m.presence(test)
    np.testing.assert_array_equal(p_flat[:, [1, 3]], p_lstm[:, [1, 3]])  # b, d unchanged
    assert not np.allclose(p_flat[:, [0, 2]], p_lstm[:, [0, 2]])
    assert np.isfinite(m.predict(test)).all()


def test_default_lstm_concepts_are_the_most_queried() -> None:
    train, _ = _data(frames=True)
    m = _method(temporal="lstm", lstm_count=1).fit(train)
    assert m.lstm_concepts_ == ["a"]  # a, b, c, d are each queried once: ties by name


def test_svm_concepts_trains_on_micronns_training_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    from methods import svm_concepts

    drawn: list[Any] = []
    real = nets.sample_sets
    monkeypatch.setattr(nets, "sample_sets", lambda *a, **k: drawn.append(real(*a, **k)) or drawn[-1])
    train, test = _data()
    _method().fit(train)
    video_sets = drawn[1]  # micronn: images, then video shots
    drawn.clear()
    cfg = resolve_config(svm_concepts.SVMConcepts.Config, None, ["image_source=img"])
    svm = svm_concepts.SVMConcepts(config=cfg, seed=0).fit(train)
    np.testing.assert_array_equal(drawn[0].rows, video_sets.rows)
    np.testing.assert_array_equal(drawn[0].targets, video_sets.targets)
    assert svm.concepts_ == ["a", "b", "c", "d"]  # d, image-only, trained on the images
    scores = svm.predict(test)
    assert scores.shape == (40, 4) and np.isfinite(scores).all() and np.all(scores[:, 3] == 0)
