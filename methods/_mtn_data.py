"""MTN's inputs: per-segment frame features (cached backbone maps) sampled into padded batches, the
trainable conv5_x copy of fine-tuning level B, and the Nesterov SGD with warm-up (METHODS.md 2.10)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.api import Sequences
from harness.errors import DataError


@dataclass
class FrameStore:
    """Every segment's frames: ``values`` (frames, F) float32 rows, segment ``i`` = rows
    ``offsets[i]:offsets[i+1]``; a plain (n, F) block is one frame per segment."""

    values: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, block: Any, name: str) -> FrameStore:
        if isinstance(block, Sequences):
            values, offsets = block.values, block.offsets
        else:
            values = np.asarray(block)
            if values.ndim != 2:
                raise DataError(f"mtn: feature block {name!r} must be per-frame Sequences or (n, d), got shape {values.shape}.")
            offsets = np.arange(len(values) + 1, dtype=np.int64)
        values = np.asarray(values, dtype=np.float32).reshape(len(values), -1)
        if not np.isfinite(values).all():
            raise DataError(f"mtn: feature block {name!r} contains NaN or inf.")
        return cls(values, np.asarray(offsets, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def width(self) -> int:
        return int(self.values.shape[1])

    def views(self, k: int) -> list[FrameStore]:
        """Split a store of ``k`` consecutive rows per frame (e.g. ten-crop features) into ``k`` stores."""
        if (self.offsets % k).any():
            raise DataError(f"mtn: a segment of a {k}-view block has a number of rows that is not a multiple of {k}.")
        return [FrameStore(self.values[v::k], self.offsets // k) for v in range(k)]


def frame_positions(length: int, frames: int, gen: np.random.Generator | None) -> np.ndarray:
    """Which of a segment's ``length`` frames to use: training (``gen`` given) draws ``frames`` at
    random without replacement (orderless, 2D backbones); test takes them evenly (the middle of
    ``frames`` equal parts); ``frames == 0`` or ``length <= frames`` keeps every frame."""
    if length <= 0:
        raise DataError("mtn: a segment has no frames.")
    if frames <= 0 or length <= frames:
        return np.arange(length)
    if gen is not None:
        return np.sort(gen.choice(length, size=frames, replace=False))
    j = np.arange(frames)
    return (2 * j + 1) * length // (2 * frames)


def batch_positions(stores: tuple[FrameStore, ...], index: np.ndarray, frames: int,
                    gen: np.random.Generator | None) -> list[list[np.ndarray]]:  # fmt: skip
    """Per store, per segment of ``index``: the frame positions (the same frames for stores of equal
    lengths, i.e. both streams see the same sampled frames)."""
    out: list[list[np.ndarray]] = []
    for s, store in enumerate(stores):
        if s and np.array_equal(store.lengths[index], stores[0].lengths[index]):
            out.append(out[0])
            continue
        out.append([frame_positions(int(store.lengths[i]), frames, gen) for i in index])
    return out


def gather(store: FrameStore, index: np.ndarray, positions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(B, T, F) frames of the segments ``index`` (zero padded) and their (B, T) mask."""
    t = max(len(p) for p in positions)
    out = np.zeros((len(index), t, store.width), np.float32)
    mask = np.zeros((len(index), t), np.float32)
    for b, (i, pos) in enumerate(zip(index, positions, strict=True)):
        out[b, : len(pos)] = store.values[store.offsets[i] + pos]
        mask[b, : len(pos)] = 1.0
    return out, mask


class Stream(nn.Module):
    """Per-frame features (B, T, C*H*W) -> tokens (B, T*H*W, C'), mask (B, T*H*W).

    ``block`` (fine-tuning level B): a trainable copy of the backbone's conv5_x applied frame by
    frame to the cached conv4_x maps; kept in eval mode (BatchNorm statistics frozen, weights
    trained). Without it the cached maps are the tokens (level A, frozen backbone)."""

    def __init__(self, shape: tuple[int, ...], block: nn.Module | None = None) -> None:
        super().__init__()
        self.shape = tuple(int(v) for v in shape) if len(shape) == 3 else (int(np.prod(shape)), 1, 1)
        self.block = copy.deepcopy(block) if block is not None else None
        if self.block is not None:
            for p in self.block.parameters():
                p.requires_grad_(True)

    def train(self, mode: bool = True) -> Stream:
        super().train(mode)
        if self.block is not None:
            self.block.eval()
        return self

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, _ = x.shape
        c, h, w = self.shape
        maps = x.reshape(b * t, c, h, w)
        if self.block is not None:
            maps = self.block(maps)
        c2, h2, w2 = maps.shape[1:]
        tokens = maps.reshape(b, t, c2, h2 * w2).permute(0, 1, 3, 2).reshape(b, t * h2 * w2, c2)
        return tokens, mask.repeat_interleave(h2 * w2, dim=1)

    def channels(self) -> int:
        if self.block is None:
            return self.shape[0]
        with torch.no_grad():
            p = next(self.block.parameters())
            return int(self.block(torch.zeros(1, *self.shape, device=p.device, dtype=p.dtype)).shape[1])


class NesterovSGD:
    """``torch.optim.SGD(nesterov=True)``'s update, by hand (importing torch.optim costs seconds of
    torch._dynamo): ``buf = m buf + g + wd p``; ``p -= lr (g + wd p + m buf)``."""

    def __init__(self, params: list[nn.Parameter], momentum: float, weight_decay: float) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.momentum, self.weight_decay = momentum, weight_decay
        self.buffers = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, lr: float) -> None:
        with torch.no_grad():
            for p, buf in zip(self.params, self.buffers, strict=True):
                if p.grad is None:
                    continue
                g = p.grad + self.weight_decay * p if self.weight_decay else p.grad
                buf.mul_(self.momentum).add_(g)
                p.sub_(lr * (g + self.momentum * buf))


def warmup_lr(lr: float, step: int, warmup_steps: int) -> float:
    """Gradual warm-up (Goyal et al.): linear from lr / warmup_steps to lr over ``warmup_steps``."""
    return lr if warmup_steps <= 0 or step >= warmup_steps else lr * (step + 1) / warmup_steps


@contextmanager
def cpu_threads(n: int, device: Any) -> Iterator[None]:
    """``torch.set_num_threads(n)`` for the block on a CPU device (``n == 0``: leave it)."""
    if n <= 0 or str(device) != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def autocast(device: Any, enabled: bool) -> Iterator[None]:
    """bfloat16 autocast of the forward pass on CUDA when ``enabled``; a no-op on CPU."""
    if not enabled or torch.device(device).type != "cuda":
        yield
        return
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
        yield
