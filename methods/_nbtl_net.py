"""The frame classifier of ``finetune_cnn`` / ``nbtl`` (METHODS.md 2.8): fc6, fc7 copied from an ImageNet
(or the miniature's source) network, a new fc8, trained on per-frame features below fc6; imports torch.

``FrameHead`` multiplies fc6's and fc7's outputs by fixed 0/1 masks (buffers): dropping a unit (NB-TL)
sets its mask to 0, which is the same as zeroing all of its outgoing weights (:meth:`effective_weights`),
and stays so if the head is trained further (the mask is not a parameter).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.errors import HarnessError, InvalidParameterError
from methods._device import threads_for

FC_FAMILIES = ("mini", "alexnet", "vgg")


def _linear(block: nn.Module) -> nn.Linear:
    layers = [m for m in block.modules() if isinstance(m, nn.Linear)]
    if len(layers) != 1:
        raise InvalidParameterError(f"expected one Linear layer in an FC block, found {len(layers)}")
    return layers[0]


class FrameHead(nn.Module):
    """fc6 -> mask6 -> fc7 -> mask7 -> fc8 on (n, d) frame features (the flattened ``pool5``)."""

    mask6: torch.Tensor  # buffers: 1 = kept, 0 = dropped unit
    mask7: torch.Tensor

    def __init__(self, fc6: nn.Module, fc7: nn.Module, n_classes: int, generator: torch.Generator,
                 init_std: float = 0.01) -> None:
        super().__init__()
        self.fc6, self.fc7 = fc6, fc7
        n6, n7 = _linear(fc6).out_features, _linear(fc7).out_features
        self.fc8 = nn.Linear(n7, n_classes)
        with torch.no_grad():  # a new layer: N(0, std^2) weights, zero biases (Caffe's fillers)
            self.fc8.weight.copy_(torch.randn(n_classes, n7, generator=generator) * init_std)
            self.fc8.bias.zero_()
        self.register_buffer("mask6", torch.ones(n6))
        self.register_buffer("mask7", torch.ones(n7))

    @property
    def in_features(self) -> int:
        return int(_linear(self.fc6).in_features)

    def activations(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(h6, h7, logits): the masked fc6 and fc7 outputs (the inputs of fc7 and fc8) and the class scores."""
        h6 = self.fc6(x) * self.mask6
        h7 = self.fc7(h6) * self.mask7
        return h6, h7, self.fc8(h7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activations(x)[2]

    def drop(self, fc7_units: np.ndarray, fc6_units: np.ndarray) -> None:
        """Drop units: ``fc7_units`` (inputs of fc8, the last FC layer), ``fc6_units`` (inputs of fc7)."""
        with torch.no_grad():
            self.mask7[torch.as_tensor(np.asarray(fc7_units, dtype=np.int64))] = 0.0
            self.mask6[torch.as_tensor(np.asarray(fc6_units, dtype=np.int64))] = 0.0

    def effective_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(W7, W8) with the masks folded in: a dropped unit's outgoing weights are zero."""
        w7 = _linear(self.fc7).weight.detach() * self.mask6
        w8 = self.fc8.weight.detach() * self.mask7
        return w7.cpu().numpy(), w8.cpu().numpy()


def build_head(backbone: Any, n_classes: int, generator: torch.Generator, init_std: float) -> FrameHead:
    """fc6 and fc7 deep-copied from an AlexNet-shaped backbone's trunk, a new ``n_classes``-way fc8."""
    if backbone.family not in FC_FAMILIES:
        raise InvalidParameterError(
            f"finetune_cnn fine-tunes the fc6/fc7/fc8 classifier of an AlexNet-shaped network; backbone "
            f"{backbone.name!r} is a {backbone.family} network. Use mini_alexnet, alexnet or a vgg* model."
        )
    blocks = backbone.trunk.blocks
    return FrameHead(copy.deepcopy(blocks["fc6"]).cpu(), copy.deepcopy(blocks["fc7"]).cpu(), n_classes, generator, init_std)


def param_groups(head: FrameHead, lr: float, boost: float) -> list[dict[str, Any]]:
    """SGD groups: fc6 (and any earlier layer) at ``lr``; the last two FC layers (fc7, fc8) at ``lr * boost``."""
    return [
        {"name": "earlier", "params": list(head.fc6.parameters()), "lr": lr},
        {"name": "last_two_fc", "params": [*head.fc7.parameters(), *head.fc8.parameters()], "lr": lr * boost},
    ]


def _batches(n: int, size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for s in range(0, n, size):
        yield order[s : s + size]


def train_head(head: FrameHead, X: np.ndarray, y: np.ndarray, groups: list[dict[str, Any]], *, momentum: float,
               weight_decay: float, epochs: int, batch_size: int, seed: int, device: torch.device) -> list[float]:
    """Mini-batch SGD on random frames, softmax cross-entropy; returns the mean training loss per epoch."""
    head.to(device).train()
    opt = torch.optim.SGD(groups, momentum=momentum, weight_decay=weight_decay)
    rng = np.random.default_rng(seed)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    losses = []
    devices = [device.index or 0] if device.type == "cuda" else []
    work = batch_size * sum(p.numel() for g in groups for p in g["params"])  # multiply-adds per step, about
    with torch.random.fork_rng(devices=devices), threads_for(work, device):  # dropout draws: reproducible
        torch.manual_seed(seed)
        for _ in range(epochs):
            total, count = 0.0, 0
            for idx in _batches(len(yt), batch_size, rng):
                ix = torch.as_tensor(idx)
                loss = nn.functional.cross_entropy(head(Xt[ix].to(device)), yt[ix].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total, count = total + float(loss.detach()) * len(idx), count + len(idx)
            losses.append(total / max(count, 1))
            if not math.isfinite(losses[-1]):
                raise HarnessError(f"fine-tuning diverged (training loss {losses[-1]}); lower lr")
    head.eval()
    return losses


def frame_outputs(head: FrameHead, X: np.ndarray, device: torch.device, batch_size: int = 1024
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(h6, h7, softmax probabilities) of every frame, eval mode, in batches."""
    head.to(device).eval()
    parts: list[tuple[np.ndarray, ...]] = []
    work = batch_size * sum(p.numel() for p in head.parameters())
    with torch.no_grad(), threads_for(work, device):
        for idx in _batches(len(X), batch_size, None):
            h6, h7, logits = head.activations(torch.as_tensor(X[idx], dtype=torch.float32, device=device))
            parts.append((h6.cpu().numpy(), h7.cpu().numpy(), torch.softmax(logits, 1).cpu().numpy()))
    if not parts:
        return (np.zeros((0, len(head.mask6)), np.float32), np.zeros((0, len(head.mask7)), np.float32),
                np.zeros((0, head.fc8.out_features), np.float32))  # fmt: skip
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]


def clip_means(frame_probs: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(n_clips, C): the mean of each clip's frame softmax vectors (METHODS.md 1.8); a clip without frames
    gets the uniform vector."""
    n, c = len(offsets) - 1, frame_probs.shape[1]
    cum = np.concatenate([np.zeros((1, c)), np.cumsum(frame_probs, axis=0, dtype=np.float64)])
    sums = cum[offsets[1:]] - cum[offsets[:-1]]
    lengths = np.diff(offsets)
    out = np.full((n, c), 1.0 / c)
    has = lengths > 0
    out[has] = sums[has] / lengths[has, None]
    return out
