"""harness.backbones: named layers, trunks for fine-tuning, weights resolution and its errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from harness import backbones as B
from harness.errors import HarnessError, MissingDataError, UnknownNameError


def _image(w: int = 80, h: int = 60):
    from PIL import Image

    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_mini_alexnet_trunk_layers_and_shapes() -> None:
    import torch

    from harness.synthetic_source import SOURCE_CLASSES

    bb = B.build_trunk("mini_alexnet", "random")
    trunk = bb.trunk
    assert trunk.layers == ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
    assert trunk.block_names == ("conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8")
    assert bb.weights.source == "random" and bb.input_size == 64
    x = torch.stack([bb.preprocess(_image()), bb.preprocess(_image(64, 64))])
    assert x.shape == (2, 3, 64, 64)
    with torch.no_grad():
        dims = {layer: bb.extractor(layer)(x).shape[1] for layer in B.layer_names("mini_alexnet")}
        assert dims == {"conv1": 24, "conv2": 48, "conv3": 64, "conv4": 64, "conv5": 48, "pool5": 432,
                        "fc6": 256, "fc7": 256, "fc8": len(SOURCE_CLASSES)}  # fmt: skip
        assert (bb.extractor("fc6")(x) >= 0).all() and (bb.extractor("fc7")(x) >= 0).all()
        # First H layers for fine-tuning: H=7 ends at fc7 (and includes pool5 on the way).
        head = trunk.first_layers(7)
        assert list(dict(head.named_children())) == ["conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7"]
        torch.testing.assert_close(head(x), bb.extractor("fc7")(x))
        assert head.fc7 is trunk.blocks["fc7"]  # shared, not copied
    with pytest.raises(ValueError, match=r"\[1, 8\]"):
        trunk.first_layers(9)


def test_checkpoint_round_trip_and_hash(tmp_path: Path) -> None:
    import torch

    bb = B.build_trunk("mini_alexnet", "random")
    path = tmp_path / "mine.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in bb.trunk.state_dict().items()}}, path)
    loaded = B.build_trunk("mini_alexnet", str(path))
    assert loaded.weights.source == "checkpoint"
    assert loaded.weights.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    x = bb.preprocess(_image())[None]
    with torch.no_grad():
        torch.testing.assert_close(loaded.extractor("fc8")(x), bb.extractor("fc8")(x))


def test_checkpoint_errors(tmp_path: Path) -> None:
    import torch

    with pytest.raises(MissingDataError, match="does not exist"):
        B.build_trunk("mini_alexnet", str(tmp_path / "absent.pt"))
    wrong = tmp_path / "wrong.pt"
    torch.save({"blocks.conv1.0.weight": torch.zeros(3)}, wrong)
    with pytest.raises(HarnessError, match="do not fit backbone 'mini_alexnet'"):
        B.build_trunk("mini_alexnet", str(wrong))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    with pytest.raises(HarnessError, match="Cannot read checkpoint"):
        B.build_trunk("mini_alexnet", str(junk))
    with pytest.raises(HarnessError, match="no weights named 'imagenet'"):
        B.build_trunk("mini_alexnet", "imagenet")


def test_unavailable_torchvision_weights_are_an_error_not_random(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    with pytest.raises(HarnessError, match=r"not in the torch hub cache .*alexnet-owt-7be5be79\.pth"):
        B.build_trunk("alexnet", "default")
    with pytest.raises(HarnessError, match="Available: default, IMAGENET1K_V1"):
        B.build_trunk("resnet18", "IMAGENET9K")


def test_torchvision_weights_found_in_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file at the hub path is used (here: a random resnet18 saved under the official name)."""
    import torch
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HARNESS_OFFLINE", "1")
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    w = torchvision.models.ResNet18_Weights.DEFAULT
    torch.save(torchvision.models.resnet18().state_dict(), hub / Path(w.url).name)
    bb = B.build_trunk("resnet18", "default")
    assert bb.weights.source == "torchvision:IMAGENET1K_V1" and bb.input_size == 224
    x = bb.preprocess(_image(300, 200))[None]
    assert x.shape == (1, 3, 224, 224)
    with torch.no_grad():
        assert bb.extractor("avgpool")(x).shape == (1, 512)
        assert bb.extractor("layer3")(x).shape == (1, 256)
        assert bb.extractor("fc")(x).shape == (1, 1000)


def test_alexnet_caffe_layer_names() -> None:
    import torch

    bb = B.build_trunk("alexnet", "random")
    assert bb.trunk.layers == ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
    x = torch.zeros(1, 3, 224, 224)
    with torch.no_grad():
        assert bb.extractor("pool5")(x).shape == (1, 9216)
        assert bb.extractor("fc7")(x).shape == (1, 4096)
        assert bb.extractor("fc8")(x).shape == (1, 1000)
        # The cut trunk computes exactly torchvision's forward.
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(bb.trunk(x), bb.trunk.upto("fc8")(x))


def test_vgg_conv_groups() -> None:
    import torch

    bb = B.build_trunk("vgg11", "random")
    assert bb.trunk.block_names[-4:] == ("pool5", "fc6", "fc7", "fc8")
    with torch.no_grad():
        assert bb.extractor("fc7")(torch.zeros(1, 3, 32, 32)).shape == (1, 4096)


def test_generic_model_by_graph_node() -> None:
    import torch

    bb = B.build_trunk("mobilenet_v3_small", "random")
    assert "logits" in bb.layers() and "avgpool" in bb.layers()
    with torch.no_grad():
        x = torch.zeros(1, 3, 96, 96)
        assert bb.extractor("logits")(x).shape == (1, 1000)
        assert bb.extractor("avgpool")(x).shape == (1, 576)
    with pytest.raises(HarnessError, match="has no layer 'nope'"):
        bb.extractor("nope")


def test_unknown_backbone_suggests_close_names() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet18'"):
        B.check_name("resnet81")
    with pytest.raises(HarnessError, match="Valid layers: conv1, layer1"):
        B.check_layer("resnet18", "fc7")
