"""``backbone=auto`` resolves to the backbone the data set's adapter declares, for every kind of method.

Feature methods get it through the runner's feature spec; pixel methods through
``MethodData.default_backbone``. The resolved name is recorded with the run (param ``run.backbone``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from datasets import trecvid2013 as sin
from harness import api, runner
from harness.errors import InvalidParameterError
from harness.params import resolve_config
from harness.registry import load_plugins

load_plugins()
SMALL = {"train_videos": 6, "train_shots": 60, "test_videos": 4, "test_shots": 40, "eval_concepts": 5}


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny data set in the real TRECVID SIN 2013 layout, read by the real adapter."""
    root = tmp_path_factory.mktemp("sin_auto") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sin, "MINI_SIZES", SMALL)
        sin.write_sin_mini(root, seed=0)
    return root


def _dataset(info: dict, features: dict | None = None) -> api.Dataset:
    split = api.Split(ids=np.array(["a", "b"]), groups=np.array(["v", "w"]), labels=np.zeros((2, 1), np.int8),
                      features=features)  # fmt: skip
    return api.Dataset(name="toy", task="multilabel", concepts=("c",), train=split, test=split,
                       protocol=api.Protocol(metric="map"), manifest_hash="x", root=Path("."), info=info)  # fmt: skip


def test_real_trecvid_declares_alexnet(small_root: Path) -> None:
    ds = sin.TrecvidSin2013().load(small_root)
    assert ds.default_backbone == "alexnet" and not ds.is_miniature
    md = runner._method_data(ds, ds.train, None, True)
    assert md.default_backbone == "alexnet"  # what pixel methods see


def test_feature_spec_auto_is_the_declared_default() -> None:
    spec = api.FeatureSpec("auto", "fc7")
    assert runner._resolve_feature_spec(spec, _dataset({"default_backbone": "mini_alexnet"})).backbone == "mini_alexnet"
    assert runner._resolve_feature_spec(spec, _dataset({"default_backbone": "resnet18"})).backbone == "resnet18"
    explicit = api.FeatureSpec("vgg16", "fc7")
    assert runner._resolve_feature_spec(explicit, _dataset({"default_backbone": "resnet18"})) == explicit
    assert runner._resolve_feature_spec(None, _dataset({})) is None
    blocks = {"CH": np.zeros((2, 3), np.float32)}
    with pytest.raises(InvalidParameterError, match="declares none.*backbone=provided --set layer=all"):
        runner._resolve_feature_spec(spec, _dataset({}, blocks))
    with pytest.raises(InvalidParameterError, match="--set backbone=resnet18"):
        runner._resolve_feature_spec(spec, _dataset({}))


def _keyframes(folder: Path, n: int, side: int) -> tuple[str, ...]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    g = np.random.default_rng(side)
    paths = []
    for i in range(n):
        p = folder / f"k{i}.png"
        Image.fromarray(g.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return tuple(paths)


def test_pixel_method_uses_the_declared_default_not_the_image_size(tmp_path: Path) -> None:
    """100-px keyframes: the old size heuristic would pick alexnet; the data declares mini_alexnet."""
    from methods import _finetune as ft

    paths = _keyframes(tmp_path / "k", 12, 100)
    assert ft.resolve_backbone_name("auto", paths) == "alexnet"  # data without a declared default
    assert ft.resolve_backbone_name("auto", paths, "mini_alexnet") == "mini_alexnet"
    assert ft.resolve_backbone_name("vgg16", paths, "mini_alexnet") == "vgg16"

    labels = np.array([[1, 0], [0, 1]] * 6, dtype=np.int8)

    def md(rows: slice, default: str | None) -> api.MethodData:
        return api.MethodData(ids=np.arange(12)[rows].astype(str), groups=np.arange(12)[rows].astype(str),
                              concepts=("a", "b"), task="multilabel", labels=labels[rows], paths=paths[rows],
                              default_backbone=default)  # fmt: skip

    cls = api.METHODS.get("default_tl_hinge")
    cfg = resolve_config(cls.Config, None, ["max_epochs=1", "lr=0.001", "backbone_weights=random", "fine_tuning=a"])
    m = cls(config=cfg, seed=0).fit(md(slice(0, 8), "mini_alexnet"), md(slice(8, 12), "mini_alexnet"))
    assert m.backbone_name_ == "mini_alexnet"
    assert runner._method_backbone(m) == "mini_alexnet"


def test_cached_network_key_holds_the_resolved_backbone(tmp_path: Path) -> None:
    from methods._default_tl import network_key

    paths = _keyframes(tmp_path / "k", 4, 64)
    md = api.MethodData(ids=np.arange(4).astype(str), groups=np.arange(4).astype(str), concepts=("a",),
                        task="multilabel", labels=np.array([[1], [0], [1], [0]], np.int8), paths=paths)  # fmt: skip
    cls = api.METHODS.get("default_tl_hinge")
    auto, mini = (resolve_config(cls.Config, None, [f"backbone={b}"]) for b in ("auto", "mini_alexnet"))
    as_mini = dataclasses.replace(md, default_backbone="mini_alexnet")
    as_alex = dataclasses.replace(md, default_backbone="alexnet")
    assert network_key("default_tl_hinge", auto, 0, as_mini, None) == network_key("default_tl_hinge", mini, 0, as_mini, None)
    assert network_key("default_tl_hinge", auto, 0, as_mini, None) != network_key("default_tl_hinge", auto, 0, as_alex, None)


@pytest.mark.slow
def test_run_records_the_resolved_backbone(small_root: Path, tmp_path: Path) -> None:
    """``lr`` with backbone=auto on real-format TRECVID data extracts AlexNet features and records it."""
    from harness.tracking import Tracker

    result = runner.execute(runner.RunRequest(
        method="lr", dataset="trecvid2013", data_root=small_root, out_dir=tmp_path, device="cpu",
        sets=("backbone_weights=random", "layer=fc7"),
    ))  # fmt: skip
    assert result.backbone == "alexnet"
    run = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path).get_run(result.run_id)
    assert run.data.params["backbone"] == "auto"
    assert run.data.params["run.backbone"] == run.data.params["features.backbone"] == "alexnet"
