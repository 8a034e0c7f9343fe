"""End-to-end fit/predict of dmtl, dmtl_lc and Default-TL on a tiny keyframe set (random mini_alexnet).

Covers: learning-rate choice over a grid, determinism, untouched inputs, untrainable concepts,
caching of fitted Default-TL networks, ``init_from`` and the ``default_tl_*`` feature source.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from harness import api  # noqa: E402
from harness.params import resolve_config  # noqa: E402
from harness.registry import load_plugins  # noqa: E402

load_plugins()

FAST = {"backbone": "mini_alexnet", "backbone_weights": "random", "max_epochs": 1, "lr_grid": "0.001,0.01",
        "eval_batch_size": 16}
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 220)]


def _images(folder: Path, n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Keyframes with up to two coloured squares; concept t = colour t present; concept 3 never."""
    from PIL import Image, ImageDraw

    g = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths, labels = [], []
    for i in range(n):
        img = Image.new("RGB", (64, 64), tuple(int(v) for v in g.integers(90, 160, 3)))
        draw = ImageDraw.Draw(img)
        present = g.random(3) < 0.4
        for t in np.flatnonzero(present):
            x, y = g.integers(0, 40, 2)
            draw.rectangle([int(x), int(y), int(x) + 22, int(y) + 22], fill=COLOURS[t])
        p = folder / f"k{i}.png"
        img.save(p)
        paths.append(str(p))
        labels.append([*present.astype(np.int8), 0])
    return paths, np.asarray(labels, dtype=np.int8)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, api.MethodData]:
    root = tmp_path_factory.mktemp("keyframes")
    concepts = ("red", "green", "blue", "never")
    out = {}
    for name, n, seed in (("train", 32, 0), ("val", 16, 1), ("test", 12, 2)):
        paths, labels = _images(root / name, n, seed)
        labels[np.random.default_rng(seed + 10).random(labels.shape) < 0.1] = -1  # partial annotation
        out[name] = api.MethodData(ids=np.array([f"{name}{i}" for i in range(n)]), groups=np.array([f"v{i // 4}" for i in range(n)]),
                                   concepts=concepts, task="multilabel", labels=labels if name != "test" else None,
                                   paths=tuple(paths))  # fmt: skip
    return out


def build(name: str, seed: int = 0, **extra: object) -> api.Method:
    cls = api.METHODS.get(name)
    return cls(config=resolve_config(cls.Config, None, {**FAST, **extra}), seed=seed, device="cpu")


@pytest.mark.parametrize("name", ["dmtl_lc", "dmtl", "default_tl_hinge", "default_tl_softmax"])
def test_fit_predict_shapes_grid_and_untrainable_concept(name: str, data: dict[str, api.MethodData]) -> None:
    m = build(name)
    assert [k for k in vars(m) if k.endswith("_")] == []
    assert m.fit(data["train"], data["val"]) is m
    scores = m.predict(data["test"])
    assert scores.shape == (12, 4) and np.isfinite(scores).all()
    assert (scores[:, 3] == 0).all(), "a concept without training positives gets the constant score 0"
    assert "never" in m.skipped_concepts_
    assert m.lr_ in (0.001, 0.01)
    assert {h["lr"] for h in m.history_} == {0.001, 0.01}, "every learning rate of the grid is tried"
    assert set(m.val_map_per_lr_) == {"0.001", "0.01"}
    assert m.best_val_map_ == max(m.val_map_per_lr_.values())


def test_same_seed_same_scores_and_inputs_untouched(data: dict[str, api.MethodData]) -> None:
    before = data["train"].labels.copy()
    a = build("dmtl_lc", seed=3, lr_grid="0.01").fit(data["train"], data["val"]).predict(data["test"])
    b = build("dmtl_lc", seed=3, lr_grid="0.01").fit(data["train"], data["val"]).predict(data["test"])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(data["train"].labels, before)
    c = build("dmtl_lc", seed=4, lr_grid="0.01").fit(data["train"], data["val"]).predict(data["test"])
    assert not np.array_equal(a, c)


def test_dmtl_has_no_constraint_layer(data: dict[str, api.MethodData]) -> None:
    m = build("dmtl", lr_grid="0.01", max_epochs=1).fit(data["train"], data["val"])
    assert m.net_.head.C is None
    lc = build("dmtl_lc", lr_grid="0.01", max_epochs=1).fit(data["train"], data["val"])
    assert lc.net_.head.C is not None and lc.net_.head.C.shape == (4, 157)


def test_fixed_lr_trains_one_network(data: dict[str, api.MethodData]) -> None:
    m = build("default_tl_hinge", lr=0.005, max_epochs=1).fit(data["train"], data["val"])
    assert m.lr_ == 0.005 and {h["lr"] for h in m.history_} == {0.005}


def test_default_tl_network_is_cached_and_reused(data: dict[str, api.MethodData], monkeypatch: pytest.MonkeyPatch) -> None:
    from methods import _default_tl, _finetune

    source = "default_tl_hinge:" + ";".join(f"{k}={v}" for k, v in FAST.items()) + ";max_epochs=1"
    cls, cfg = _default_tl.parse_source(source)
    fitted = cls(config=cfg, seed=7, device="cpu").fit(data["train"], data["val"])
    expected = fitted.predict(data["test"])

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached network should have been loaded, not trained again")

    monkeypatch.setattr(_finetune, "train_with_lr_selection", no_training)
    loaded = _default_tl.fitted_source(source, 7, data["train"], data["val"], "cpu")
    np.testing.assert_allclose(loaded.predict(data["test"]), expected, rtol=1e-5, atol=1e-6)
    assert loaded.outputs(data["test"], "trunk").shape == (12, 1096)
    assert loaded.outputs(data["test"], "fc8").shape == (12, 4)


def test_init_from_starts_dmtl_lc_on_the_default_tl_trunk(data: dict[str, api.MethodData]) -> None:
    from methods import _default_tl

    source = "default_tl_hinge:" + ";".join(f"{k}={v}" for k, v in FAST.items()) + ";max_epochs=1;lr_grid=0.01"
    m = build("dmtl_lc", seed=5, init_from=source, lr_grid="0.01", max_epochs=1).fit(data["train"], data["val"])
    assert m.net_.head.L.shape == (1096, 157), "the head sits on the 1096-d extension layer of process (b)"
    cls, cfg = _default_tl.parse_source(source)
    key = _default_tl.network_key("default_tl_hinge", cfg, 5, data["train"], data["val"])
    assert m.init_network_ == key


def test_bad_sources_are_explained() -> None:
    from harness.errors import InvalidParameterError
    from methods import _default_tl

    with pytest.raises(InvalidParameterError, match="not a Default-TL source"):
        _default_tl.parse_source("lr:C=1")
    with pytest.raises(InvalidParameterError, match="Unknown parameter 'fine_tunning'"):
        _default_tl.parse_source("default_tl_hinge:fine_tunning=b")
    from harness.fitted_methods import parse_reference, source_run_seed

    with pytest.raises(InvalidParameterError, match="seed<N>"):
        source_run_seed("imagenet")
    assert source_run_seed("seed12") == 12 and source_run_seed("default") == 0
    with pytest.raises(InvalidParameterError, match="cannot be cached and reused.*default_tl_hinge"):
        parse_reference("lr:C=1")


def test_feature_source_through_extract_features(data: dict[str, api.MethodData], tmp_path: Path) -> None:
    from harness.features import extract_features

    def split(md: api.MethodData, labels: np.ndarray | None) -> api.Split:
        return api.Split(ids=md.ids, groups=md.groups, labels=labels, paths=md.paths)

    tr, va = data["train"], data["val"]
    train = split(dataclasses.replace(tr, ids=np.concatenate([tr.ids, va.ids]), groups=np.concatenate([tr.groups, np.array([f"w{i // 4}" for i in range(16)])]),
                                      paths=tr.paths + va.paths), np.concatenate([tr.labels, va.labels]))  # fmt: skip
    ds = api.Dataset(name="tiny", task="multilabel", concepts=tr.concepts, train=train, test=split(data["test"], None),
                     protocol=api.Protocol(metric="map"), manifest_hash="tiny-1", root=tmp_path)  # fmt: skip
    backbone = "default_tl_hinge:" + ";".join(f"{k}={v}" for k, v in FAST.items()) + ";max_epochs=1;lr_grid=0.01"
    spec = api.FeatureSpec(backbone=backbone, layer="fc8", weights="seed2")
    feats = extract_features(ds, "test", ds.test, spec)
    assert feats.shape == (12, 4) and feats.dtype == np.float32
    again = extract_features(ds, "test", ds.test, spec)
    np.testing.assert_array_equal(feats, again)
    trunk = extract_features(ds, "train", ds.train, dataclasses.replace(spec, layer="trunk"))
    assert trunk.shape == (48, 1096)
    with pytest.raises(Exception, match="layer"):
        extract_features(ds, "test", ds.test, dataclasses.replace(spec, layer="fc7"))
    from harness.fitted_methods import source_run_seed

    assert source_run_seed(spec.weights) == 2
