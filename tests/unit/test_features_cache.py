"""harness.features: extraction on keyframes, frame pooling, the feature cache and provided blocks."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from datasets import trecvid2013 as sin
from harness import features as F
from harness.api import FeatureSpec, Split
from harness.cache import Cache
from harness.errors import DataError, HarnessError, UnknownNameError

SMALL = {"train_videos": 6, "train_shots": 60, "test_videos": 4, "test_shots": 40, "eval_concepts": 5}


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sin_tiny") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sin, "MINI_SIZES", SMALL)
        sin.write_sin_mini(root, seed=0)
    return root


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two different mini_alexnet state dicts (user checkpoints; no pretraining in unit tests)."""
    import torch

    from harness._nets import build_mini_alexnet

    folder = tmp_path_factory.mktemp("ckpt")
    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        path = folder / f"mini_{seed}.pt"
        torch.save(build_mini_alexnet(36).state_dict(), path)
        paths.append(path)
    return paths[0], paths[1]


@pytest.fixture()
def ds(small_root: Path):
    return sin.TrecvidSin2013().load(small_root)


@pytest.fixture()
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts how many times the backbone actually runs over a split."""
    calls: list[int] = []
    real = F.compute_features

    def wrapper(paths, spec, **kw):
        calls.append(len(paths))
        return real(paths, spec, **kw)

    monkeypatch.setattr(F, "compute_features", wrapper)
    return calls


def test_extracts_float32_rows_per_item(ds, checkpoints, counted) -> None:
    spec = FeatureSpec("mini_alexnet", "fc7", weights=str(checkpoints[0]))
    x = F.extract_features(ds, "train", ds.train, spec)
    assert x.shape == (len(ds.train), 256) and x.dtype == np.float32
    assert np.isfinite(x).all() and (x >= 0).all()  # fc7 is a ReLU output (Caffe relu7 in place)
    assert x.std(axis=0).max() > 0  # items differ
    assert counted == [len(ds.train)]


def test_second_call_reuses_cache(ds, checkpoints, counted) -> None:
    spec = FeatureSpec("mini_alexnet", "fc8", weights=str(checkpoints[0]))
    first = F.extract_features(ds, "test", ds.test, spec)
    second = F.extract_features(ds, "test", ds.test, spec)
    assert counted == [len(ds.test)]
    np.testing.assert_array_equal(first, second)
    assert len(Cache().entries("features")) == 1


def test_layer_or_weights_change_invalidates(ds, checkpoints, counted) -> None:
    a = F.extract_features(ds, "test", ds.test, FeatureSpec("mini_alexnet", "fc7", weights=str(checkpoints[0])))
    b = F.extract_features(ds, "test", ds.test, FeatureSpec("mini_alexnet", "fc6", weights=str(checkpoints[0])))
    c = F.extract_features(ds, "test", ds.test, FeatureSpec("mini_alexnet", "fc7", weights=str(checkpoints[1])))
    assert len(counted) == 3 and len(Cache().entries("features")) == 3
    assert a.shape == b.shape == c.shape and not np.allclose(a, c)
    # The same weights under another file name hit the same entry (the key is the content hash).
    copy = checkpoints[0].parent / "renamed.pt"
    shutil.copy(checkpoints[0], copy)
    F.extract_features(ds, "test", ds.test, FeatureSpec("mini_alexnet", "fc7", weights=str(copy)))
    assert len(counted) == 3


def test_corrupt_entry_is_rebuilt(ds, checkpoints, counted) -> None:
    spec = FeatureSpec("mini_alexnet", "pool5", weights=str(checkpoints[0]))
    good = F.extract_features(ds, "test", ds.test, spec)
    (entry,) = Cache().entries("features")
    data = entry.path / "data.npz"
    data.write_bytes(data.read_bytes()[:100])
    again = F.extract_features(ds, "test", ds.test, spec)
    assert len(counted) == 2
    np.testing.assert_allclose(again, good, rtol=1e-5, atol=1e-6)


def test_different_items_do_not_share_an_entry(ds, checkpoints, counted) -> None:
    spec = FeatureSpec("mini_alexnet", "fc8", weights=str(checkpoints[0]))
    full = F.extract_features(ds, "train", ds.train, spec)
    part = F.extract_features(ds, "train", ds.train.subset(np.arange(10)), spec)
    assert len(counted) == 2
    np.testing.assert_allclose(part, full[:10], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_frames_of_an_item_are_pooled(ds, checkpoints, monkeypatch: pytest.MonkeyPatch, pooling: str) -> None:
    from PIL import Image

    paths = ds.train.paths[:3]
    spec = FeatureSpec("mini_alexnet", "fc8", weights=str(checkpoints[0]), pooling=pooling)
    single = F.compute_features(paths, spec)

    def two_frames(path: str) -> list:
        with Image.open(path) as im:
            frame = im.convert("RGB")
        return [frame, frame.transpose(Image.FLIP_LEFT_RIGHT)]

    monkeypatch.setattr(F, "_load_frames", two_frames)
    pooled = F.compute_features(paths, spec)
    monkeypatch.setattr(F, "_load_frames", lambda p: two_frames(p)[1:])
    mirror = F.compute_features(paths, spec)
    expected = np.maximum(single, mirror) if pooling == "max" else (single + mirror) / 2
    np.testing.assert_allclose(pooled, expected, rtol=1e-4, atol=1e-5)


def test_unreadable_keyframe_names_the_file(ds, checkpoints, tmp_path: Path) -> None:
    bad = tmp_path / "shot1_1.jpg"
    bad.write_bytes(b"not a jpeg")
    spec = FeatureSpec("mini_alexnet", "fc8", weights=str(checkpoints[0]))
    with pytest.raises(DataError, match="shot1_1.jpg"):
        F.compute_features([str(bad)], spec)


def test_bad_names_fail_before_work(ds, checkpoints) -> None:
    with pytest.raises(HarnessError, match="Valid layers: conv1"):
        F.extract_features(ds, "test", ds.test, FeatureSpec("mini_alexnet", "fc9", weights=str(checkpoints[0])))
    with pytest.raises(UnknownNameError, match="resnet18"):
        F.extract_features(ds, "test", ds.test, FeatureSpec("resnet81", "fc"))
    with pytest.raises(HarnessError, match="pooling"):
        F.extract_features(ds, "test", ds.test, FeatureSpec("mini_alexnet", "fc8", pooling="median"))


def test_provided_blocks(ds) -> None:
    n = len(ds.test)
    blocks = {"a": np.ones((n, 2)), "b": np.zeros((n, 3))}
    split = Split(ids=ds.test.ids, groups=ds.test.groups, labels=None, features=blocks)
    np.testing.assert_array_equal(F.extract_features(ds, "test", split, FeatureSpec("provided", "b")), blocks["b"])
    both = F.extract_features(ds, "test", split, FeatureSpec("provided", "all"))
    assert both.shape == (n, 5) and both.dtype == np.float32 and both[:, :2].all()
    with pytest.raises(DataError, match="Available: a, b"):
        F.extract_features(ds, "test", split, FeatureSpec("provided", "c"))
    assert Cache().entries("features") == []
    no_paths = Split(ids=ds.test.ids, groups=ds.test.groups, labels=None)
    with pytest.raises(DataError, match="no raw inputs"):
        F.extract_features(ds, "test", no_paths, FeatureSpec("mini_alexnet", "fc8", weights="random"))


@pytest.mark.slow
def test_miniature_train_split_with_pretrained_mini_alexnet(shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's path: trecvid2013-mini + the source-pretrained mini_alexnet (shipped with the package)."""
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))
    ds = sin.TrecvidSin2013Mini().load(None)
    spec = FeatureSpec(ds.info["default_backbone"], "fc7")
    x = F.extract_features(ds, "train", ds.train, spec)
    assert x.shape == (2500, 256) and x.dtype == np.float32 and np.isfinite(x).all()
    assert Cache().entries("backbones") == []  # the shipped network: nothing pretrained (tests/unit/test_shipped_source.py)
    again = F.extract_features(ds, "train", ds.train, spec)
    np.testing.assert_array_equal(x, again)
