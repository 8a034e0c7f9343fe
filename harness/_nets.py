"""Torch modules behind :mod:`harness.backbones` (imported lazily: this module imports torch).

A :class:`Trunk` is a network cut into named blocks run in order (``conv1 ... conv5, pool5, fc6,
fc7, fc8`` for AlexNet-shaped nets; ``conv1, layer1 ... layer4, avgpool, fc`` for ResNets), so
features can be tapped after any block and end-to-end methods can copy the first H layers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

# Learnable layers of AlexNet-shaped nets in order (METHODS.md 2.1: V_so = 8). ``pool5`` is a
# parameter-free block between conv5 and fc6 and is not counted as a layer.
ALEXNET_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
ALEXNET_BLOCKS = ("conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8")


class Trunk(nn.Module):
    """Named blocks applied in order.

    Attributes:
        blocks: ``nn.ModuleDict`` in forward order.
        layers: the learnable layers in order (what "the first H layers" counts).
        backbone: registered backbone name.
    """

    def __init__(self, blocks: Sequence[tuple[str, nn.Module]], layers: Sequence[str], backbone: str) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict(OrderedDict(blocks))
        self.layers = tuple(layers)
        self.backbone = backbone
        unknown = [name for name in self.layers if name not in self.blocks]
        if unknown:
            raise ValueError(f"layers {unknown} are not blocks of {backbone}")

    @property
    def block_names(self) -> tuple[str, ...]:
        return tuple(self.blocks.keys())

    def forward(self, x: torch.Tensor, until: str | None = None) -> torch.Tensor:
        """Run the blocks in order; stop after block ``until`` (default: run all)."""
        if until is not None and until not in self.blocks:
            raise KeyError(until)
        for name, block in self.blocks.items():
            x = block(x)
            if name == until:
                break
        return x

    def upto(self, name: str) -> nn.Sequential:
        """The blocks up to and including ``name`` (modules shared, not copied)."""
        if name not in self.blocks:
            raise KeyError(name)
        out = []
        for block_name, block in self.blocks.items():
            out.append((block_name, block))
            if block_name == name:
                break
        return nn.Sequential(OrderedDict(out))

    def first_layers(self, h: int) -> nn.Sequential:
        """The first ``h`` learnable layers (with the parameter-free blocks between them)."""
        if not 1 <= h <= len(self.layers):
            raise ValueError(f"h must be in [1, {len(self.layers)}], got {h}")
        return self.upto(self.layers[h - 1])


class GlobalAvgPool(nn.Module):
    """(n, c, h, w) -> (n, c); used when a spatial map is tapped as a feature vector."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3)) if x.dim() == 4 else x


def mini_alexnet_blocks(num_classes: int) -> list[tuple[str, nn.Module]]:
    """AlexNet's shape (5 conv + 3 FC, ReLU, max-pooling, dropout in fc6/fc7), narrow, for 64x64 input.

    Spatial sizes: 64 -conv1/s2-> 32 -pool-> 15 -conv2-> 15 -pool-> 7 -conv3..5-> 7 -pool5-> 3.
    """
    return [
        ("conv1", nn.Sequential(nn.Conv2d(3, 24, 5, stride=2, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))),
        ("conv2", nn.Sequential(nn.Conv2d(24, 48, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))),
        ("conv3", nn.Sequential(nn.Conv2d(48, 64, 3, padding=1), nn.ReLU(inplace=True))),
        ("conv4", nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True))),
        ("conv5", nn.Sequential(nn.Conv2d(64, 48, 3, padding=1), nn.ReLU(inplace=True))),
        ("pool5", nn.Sequential(nn.MaxPool2d(3, 2), nn.Flatten())),
        ("fc6", nn.Sequential(nn.Dropout(0.5), nn.Linear(48 * 3 * 3, 256), nn.ReLU(inplace=True))),
        ("fc7", nn.Sequential(nn.Dropout(0.5), nn.Linear(256, 256), nn.ReLU(inplace=True))),
        ("fc8", nn.Linear(256, num_classes)),
    ]


def build_mini_alexnet(num_classes: int) -> Trunk:
    return Trunk(mini_alexnet_blocks(num_classes), ALEXNET_LAYERS, "mini_alexnet")


def alexnet_trunk(model: Any, name: str) -> Trunk:
    """Cut torchvision's ``AlexNet`` into the Caffe layer names (modules shared with ``model``)."""
    f, c = model.features, model.classifier
    blocks = [
        ("conv1", nn.Sequential(*f[0:3])),
        ("conv2", nn.Sequential(*f[3:6])),
        ("conv3", nn.Sequential(*f[6:8])),
        ("conv4", nn.Sequential(*f[8:10])),
        ("conv5", nn.Sequential(*f[10:12])),
        ("pool5", nn.Sequential(f[12], model.avgpool, nn.Flatten())),
        ("fc6", nn.Sequential(*c[0:3])),
        ("fc7", nn.Sequential(*c[3:6])),
        ("fc8", c[6]),
    ]
    return Trunk(blocks, ALEXNET_LAYERS, name)


def vgg_trunk(model: Any, name: str) -> Trunk:
    """Cut a torchvision VGG into conv1..conv5 (the five conv groups), pool5, fc6, fc7, fc8."""
    f, c = list(model.features), model.classifier
    pools = [i for i, m in enumerate(f) if isinstance(m, nn.MaxPool2d)]
    if len(pools) != 5:
        raise ValueError(f"{name}: expected 5 max-pooling layers in features, found {len(pools)}")
    starts = [0, *[p + 1 for p in pools[:4]]]
    blocks: list[tuple[str, nn.Module]] = []
    for i, (start, stop) in enumerate(zip(starts, pools, strict=True), start=1):
        # conv1..conv4 end with their pooling (as AlexNet's); conv5's pool is pool5.
        end = stop + 1 if i < 5 else stop
        blocks.append((f"conv{i}", nn.Sequential(*f[start:end])))
    blocks += [
        ("pool5", nn.Sequential(f[pools[4]], model.avgpool, nn.Flatten())),
        ("fc6", nn.Sequential(*c[0:2])),
        ("fc7", nn.Sequential(*c[2:5])),
        ("fc8", nn.Sequential(*c[5:7])),
    ]
    return Trunk(blocks, ALEXNET_LAYERS, name)


def resnet_trunk(model: Any, name: str) -> Trunk:
    """Cut a torchvision ResNet/ResNeXt into conv1 (stem), layer1..layer4, avgpool, fc."""
    blocks = [
        ("conv1", nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)),
        ("layer1", model.layer1),
        ("layer2", model.layer2),
        ("layer3", model.layer3),
        ("layer4", model.layer4),
        ("avgpool", nn.Sequential(model.avgpool, nn.Flatten())),
        ("fc", model.fc),
    ]
    return Trunk(blocks, ("conv1", "layer1", "layer2", "layer3", "layer4", "fc"), name)


# --------------------------------------------------------------------------------------------
# Batch normalisation for pretraining only
# --------------------------------------------------------------------------------------------
# The deployed mini_alexnet keeps AlexNet's shape (no BN), so fine-tuning methods see a plain
# conv net. Pretraining inserts BN after each conv (it trains a narrow net several times faster)
# and folds it back into the conv weights afterwards: conv+BN in eval mode is an affine map.


def insert_batchnorm(trunk: Trunk) -> Trunk:
    """Wrap the first module of every block that starts with a ``Conv2d`` as ``Sequential(conv, BN)``."""
    for block in trunk.blocks.values():
        if isinstance(block, nn.Sequential) and isinstance(block[0], nn.Conv2d):
            conv = block[0]
            block[0] = nn.Sequential(conv, nn.BatchNorm2d(conv.out_channels))
    return trunk


def fold_batchnorm(trunk: Trunk) -> None:
    """Undo :func:`insert_batchnorm` in place, folding each BN's running statistics into its conv."""
    for block in trunk.blocks.values():
        if not (isinstance(block, nn.Sequential) and isinstance(block[0], nn.Sequential)):
            continue
        conv, bn = block[0][0], block[0][1]
        if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
            continue
        assert bn.running_var is not None and bn.running_mean is not None
        with torch.no_grad():
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.mul_(scale.view(-1, 1, 1, 1))
            bias = conv.bias if conv.bias is not None else torch.zeros_like(scale)
            conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
        block[0] = conv
