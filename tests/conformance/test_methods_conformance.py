"""API checks generated from the method registry: every feature-based method, on each task it declares.

Each method is checked on tiny synthetic :class:`~harness.api.MethodData` of every task in its
``tasks`` (multi-label (n, T) scores, multiclass (n, C) clip scores, CoVieW heads named by the
protocol): ``fit`` returns self, prediction shapes and finiteness, same seed same output, inputs
not mutated, item order does not change per-item scores, the constructor only stores. Methods
that read raw pixels (no feature spec) are checked in their own tests, on the miniature.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

from harness import api
from harness.params import resolve_config
from harness.registry import load_plugins

load_plugins()

# Settings that keep each method's conformance fit to a second or two (the math is unchanged).
FAST = {
    "two_sided_nn": {"max_epochs": 3},
    "amtl": {"max_iter": 50},
    "cmtl": {"max_iter": 50},
    "coview_gap_linear": {"max_epochs": 5},
    "micronn": {"hidden": 16, "epochs": 3},
    "mmdl_eg": {"hidden": 16, "epochs": 2, "online_steps": 30},
    "mtn": {"fine_tuning": "a", "max_epochs": 3, "batch_size": 32, "dim": 16, "frames": 1, "test_frames": 1},
}
N_SCENE, N_ACTION = 3, 4


def feature_cases() -> list[tuple[str, str]]:
    """(method, task) for every feature-based method and every task it declares."""
    out = []
    for name, cls in api.METHODS.items():
        if not cls.feature_specs(cls.Config()):
            continue
        out.extend((name, task) for task in cls.tasks)
    return out


def _labels(task: str, X: np.ndarray, g: np.random.Generator, T: int) -> np.ndarray:
    d = X.shape[1]
    if task == "multilabel":
        labels = (X @ g.normal(size=(d, T)) - 1.5 > 0).astype(np.int8)
        labels[g.random(labels.shape) < 0.1] = -1  # partial annotation
        labels[:, -1] = np.where(labels[:, -1] == 1, 0, labels[:, -1])  # last concept: no positives
        return labels
    if task == "multiclass":
        return (X @ g.normal(size=(d, T))).argmax(axis=1).astype(np.int64)
    scene = (X @ g.normal(size=(d, N_SCENE))).argmax(axis=1)
    action = (X @ g.normal(size=(d, N_ACTION))).argmax(axis=1)
    return np.column_stack([scene, action, np.clip(1 + X[:, 0], 0, 2)])


def _protocol(task: str, concepts: tuple[str, ...]) -> api.Protocol:
    if task == "multiclass":
        return api.Protocol(metric="video_accuracy", val_metric="video_accuracy")
    if task == "coview":
        return api.Protocol(metric="coview", val_metric="segment_accuracy",
                            heads=MappingProxyType({"scene": (N_SCENE,), "action": (N_ACTION,), "importance": ()}),
                            options={"n_scene_classes": N_SCENE, "n_action_classes": N_ACTION, "label_base": 0})  # fmt: skip
    return api.Protocol(metric="map", val_metric="map")


def make_data(name: str, task: str, n: int = 160, d: int = 12, T: int = 5,
              seed: int = 0) -> tuple[api.MethodData, api.MethodData, api.MethodData]:  # fmt: skip
    """Train / validation / test data of ``task`` with the blocks (and sources) ``name`` declares."""
    g = np.random.default_rng(seed)
    X = g.normal(size=(n, d)).astype(np.float32)
    labels = _labels(task, X, g, T)
    concepts = ("scene", "action", "importance") if task == "coview" else tuple(f"c{t}" for t in range(T))
    groups = np.array([f"v{i // 4}" for i in range(n)])
    cls = api.METHODS.get(name)
    cfg = cls.Config()
    specs = cls.feature_specs(cfg)
    blocks = {key: X if i == 0 else X[:, ::-1].copy() for i, key in enumerate(specs)}
    sources = {key: _source(spec, seed) for key, spec in cls.training_sources(cfg).items()}
    # A query -> concept mapping for methods trained on a source's concepts (AVS-style).
    info = MappingProxyType({"query_concepts": {c: (f"s{t}",) for t, c in enumerate(concepts)},
                             "n_scene_classes": N_SCENE, "n_action_classes": N_ACTION})  # fmt: skip

    def md(idx: slice, with_labels: bool) -> api.MethodData:
        return api.MethodData(
            ids=np.array([f"s{i}" for i in range(n)])[idx], groups=groups[idx], concepts=concepts, task=task,
            labels=labels[idx] if with_labels else None, features=blocks.get("features", X)[idx],
            blocks={k: v[idx] for k, v in blocks.items()}, protocol=_protocol(task, concepts), info=info,
            dataset="synthetic", sources=sources if with_labels else {},
        )  # fmt: skip

    return md(slice(0, 100), True), md(slice(100, 130), True), md(slice(130, n), False)


def _source(spec: api.SourceSpec, seed: int, n: int = 120, d: int = 12, T: int = 5) -> api.MethodData:
    g = np.random.default_rng(seed + 1)
    X = g.normal(size=(n, d)).astype(np.float32)
    labels = _labels("multilabel", X, g, T)
    labels[:, -1] = np.where(g.random(n) < 0.2, 1, labels[:, -1])
    return api.MethodData(ids=np.array([f"x{i}" for i in range(n)]), groups=np.array([f"w{i // 4}" for i in range(n)]),
                          concepts=tuple(f"s{t}" for t in range(T)), task="multilabel", labels=labels, features=X,
                          blocks={"features": X}, dataset=spec.dataset)  # fmt: skip


def build(name: str, seed: int = 0) -> api.Method:
    cls = api.METHODS.get(name)
    cfg_fields = {f.name for f in dataclasses.fields(cls.Config)}
    sets = {k: v for k, v in FAST.get(name, {}).items() if k in cfg_fields}
    return cls(config=resolve_config(cls.Config, None, sets), seed=seed, device="cpu")


def check_prediction(pred: Any, data: api.MethodData) -> dict[str, np.ndarray]:
    """The prediction as named arrays, after checking it against the data's protocol."""
    heads = data.protocol.heads if data.protocol is not None else {}
    if heads:
        assert isinstance(pred, Mapping), f"protocol heads {sorted(heads)} need a mapping, got {type(pred).__name__}"
        assert set(pred) >= set(heads), f"missing heads {sorted(set(heads) - set(pred))}"
        out = {k: np.asarray(pred[k]) for k in heads}
        for k, shape in heads.items():
            assert out[k].shape == (len(data), *shape), (k, out[k].shape)
    else:
        out = {"scores": np.asarray(pred)}
        assert out["scores"].shape == (len(data), len(data.concepts))
    for k, v in out.items():
        assert np.isfinite(v).all(), f"{k}: no NaN/inf, even for a concept without positives"
    return out


def _subset(data: api.MethodData, perm: np.ndarray) -> api.MethodData:
    return dataclasses.replace(data, ids=data.ids[perm], groups=data.groups[perm],
                               features=None if data.features is None else data.features[perm],
                               blocks={k: v[perm] for k, v in data.blocks.items()})  # fmt: skip


@pytest.fixture(params=feature_cases(), ids=lambda case: f"{case[0]}-{case[1]}")
def case(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param


def test_registry_covers_every_task() -> None:
    cases = feature_cases()
    assert ("lr", "multilabel") in cases
    assert ("nearest_class_mean", "multiclass") in cases
    assert ("coview_gap_linear", "coview") in cases


def test_fit_returns_self_and_predict_shape(case: tuple[str, str]) -> None:
    train, val, test = make_data(*case)
    m = build(case[0])
    assert m.fit(train, val) is m
    check_prediction(m.predict(test), test)


def test_same_seed_same_output(case: tuple[str, str]) -> None:
    train, val, test = make_data(*case)
    a = check_prediction(build(case[0], seed=3).fit(train, val).predict(test), test)
    b = check_prediction(build(case[0], seed=3).fit(train, val).predict(test), test)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_inputs_not_mutated(case: tuple[str, str]) -> None:
    train, val, test = make_data(*case)
    parts = [(d, f) for d in (train, val, test) for f in ("features", "labels")]
    before = [None if getattr(d, f) is None else getattr(d, f).copy() for d, f in parts]
    blocks_before = [{k: v.copy() for k, v in d.blocks.items()} for d in (train, val, test)]
    m = build(case[0]).fit(train, val)
    m.predict(test)
    for (d, f), b in zip(parts, before, strict=True):
        if b is not None:
            np.testing.assert_array_equal(getattr(d, f), b)
    for d, b in zip((train, val, test), blocks_before, strict=True):
        for k, v in b.items():
            np.testing.assert_array_equal(d.blocks[k], v)


def test_item_order_does_not_change_per_item_scores(case: tuple[str, str]) -> None:
    train, val, test = make_data(*case)
    m = build(case[0]).fit(train, val)
    perm = np.random.default_rng(1).permutation(len(test))
    shuffled = check_prediction(m.predict(_subset(test, perm)), test)
    reference = check_prediction(m.predict(test), test)
    for k in reference:
        np.testing.assert_allclose(shuffled[k], reference[k][perm], rtol=1e-5, atol=1e-6)


def test_constructor_only_stores(case: tuple[str, str]) -> None:
    m = build(case[0])
    learned = [k for k in vars(m) if k.endswith("_") and not k.startswith("_")]
    assert learned == [], f"learned state before fit: {learned}"
