"""API checks generated from the method registry: every feature-based multilabel method gets them.

Methods that read raw pixels (``feature_spec`` is None) are checked in their own tests, on the
miniature.
"""

from __future__ import annotations

import dataclasses

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
}


def feature_methods() -> list[str]:
    out = []
    for name, cls in api.METHODS.items():
        if "multilabel" not in cls.tasks:
            continue
        if cls.feature_spec(cls.Config()) is None:
            continue
        out.append(name)
    return out


def make_data(n: int = 160, d: int = 12, T: int = 5, seed: int = 0) -> tuple[api.MethodData, api.MethodData, api.MethodData]:
    g = np.random.default_rng(seed)
    X = g.normal(size=(n, d)).astype(np.float32)
    W = g.normal(size=(d, T))
    logits = X @ W - 1.5
    labels = (logits > 0).astype(np.int8)
    labels[g.random(labels.shape) < 0.1] = -1  # partial annotation
    labels[:, -1] = np.where(labels[:, -1] == 1, 0, labels[:, -1])  # last concept: no positives
    concepts = tuple(f"c{t}" for t in range(T))
    groups = np.array([f"v{i // 4}" for i in range(n)])

    def md(idx: slice, with_labels: bool) -> api.MethodData:
        return api.MethodData(ids=np.array([f"s{i}" for i in range(n)])[idx], groups=groups[idx], concepts=concepts,
                              task="multilabel", labels=labels[idx] if with_labels else None, features=X[idx])

    return md(slice(0, 100), True), md(slice(100, 130), True), md(slice(130, n), False)


def build(name: str, seed: int = 0) -> api.Method:
    cls = api.METHODS.get(name)
    cfg_fields = {f.name for f in dataclasses.fields(cls.Config)}
    sets = {k: v for k, v in FAST.get(name, {}).items() if k in cfg_fields}
    return cls(config=resolve_config(cls.Config, None, sets), seed=seed, device="cpu")


@pytest.fixture(params=feature_methods())
def method_name(request: pytest.FixtureRequest) -> str:
    return request.param


def test_registry_has_feature_methods() -> None:
    assert "lr" in feature_methods()


def test_fit_returns_self_and_predict_shape(method_name: str) -> None:
    train, val, test = make_data()
    m = build(method_name)
    assert m.fit(train, val) is m
    scores = m.predict(test)
    assert scores.shape == (len(test), len(test.concepts))
    assert np.isfinite(scores).all(), "no NaN/inf, even for the concept without positives"


def test_same_seed_same_scores(method_name: str) -> None:
    train, val, test = make_data()
    a = build(method_name, seed=3).fit(train, val).predict(test)
    b = build(method_name, seed=3).fit(train, val).predict(test)
    np.testing.assert_array_equal(a, b)


def test_inputs_not_mutated(method_name: str) -> None:
    train, val, test = make_data()
    before = [x.copy() for x in (train.features, train.labels, val.features, val.labels, test.features)]
    m = build(method_name).fit(train, val)
    m.predict(test)
    after = (train.features, train.labels, val.features, val.labels, test.features)
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


def test_item_order_does_not_change_per_item_scores(method_name: str) -> None:
    train, val, test = make_data()
    m = build(method_name).fit(train, val)
    perm = np.random.default_rng(1).permutation(len(test))
    shuffled = dataclasses.replace(test, ids=test.ids[perm], groups=test.groups[perm], features=test.features[perm])
    np.testing.assert_allclose(m.predict(shuffled), m.predict(test)[perm], rtol=1e-5, atol=1e-6)


def test_constructor_only_stores(method_name: str) -> None:
    m = build(method_name)
    learned = [k for k in vars(m) if k.endswith("_") and not k.startswith("_")]
    assert learned == [], f"learned state before fit: {learned}"
