"""microNN's LSTM detectors (D_M_3, METHODS.md 2.7 step 3): the hidden layer replaced by an LSTM
over the shot's per-frame features, a bank of them trained at once like the feed-forward bank.

Per concept: gates ``[i, f, g, o] = x_t W_ih + h_{t-1} W_hh + b`` (PyTorch's order), ``c_t = f c_{t-1}
+ i g``, ``h_t = o tanh(c_t)``; the score is the two-way softmax of the output layer at the shot's
last frame (dropout before it, as before the microNN's output layer). Initialised from the step-2
microNN (AMB-22): the input-to-cell weights ``W_ig`` and their bias are the microNN's hidden layer,
the output layer is copied, every other gate and all hidden-to-hidden weights are random.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from methods._micronn_nets import (
    MaskFn,
    NetSettings,
    TrainingSets,
    batch_plan,
    sgd_step,
    training_state,
)


@dataclass(frozen=True)
class FrameBank:
    """Every item's frames as one (N, d) tensor with per-item starts and lengths; batches are padded
    when gathered (:meth:`gather`), never the whole collection (335,944 AVS shots would not fit)."""

    values: Any  # (N + 1, d): the frames, then one zero row for items without frames
    starts: Any  # (n,) int64
    lengths: Any  # (n,) int64, >= 1

    @classmethod
    def from_sequences(cls, seqs: Any, device: Any = "cpu") -> FrameBank:
        import torch

        values = np.asarray(seqs.values, dtype=np.float32).reshape(len(seqs.values), -1)
        zero = np.zeros((1, values.shape[1]), np.float32)
        lengths = np.asarray(seqs.lengths, dtype=np.int64)
        starts = np.where(lengths > 0, np.asarray(seqs.offsets[:-1], dtype=np.int64), len(values))
        return cls(torch.as_tensor(np.concatenate([values, zero]), device=device),
                   torch.as_tensor(starts, device=device), torch.as_tensor(np.maximum(lengths, 1), device=device))  # fmt: skip

    def __len__(self) -> int:
        return int(self.starts.shape[0])

    def gather(self, idx: Any) -> tuple[Any, Any]:
        """(..., L, d) frames of items ``idx`` (any shape), padded to the longest of them, and (...) lengths."""
        import torch

        lengths = self.lengths[idx]
        steps = torch.arange(int(lengths.max()) if lengths.numel() else 1, device=lengths.device)
        pos = self.starts[idx].unsqueeze(-1) + torch.minimum(steps, (lengths - 1).unsqueeze(-1))
        return self.values[pos], lengths


def init_lstm_from(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """LSTM bank parameters initialised from a microNN bank ``params`` (same concepts, same hidden size)."""
    import torch

    W1, b1 = params["W1"], params["b1"]
    C, d, h = W1.shape
    g = torch.Generator().manual_seed(int(seed))
    bound = 1.0 / math.sqrt(h)  # nn.LSTM's initialisation

    def u(*shape: int) -> Any:
        return (torch.rand(shape, generator=g, dtype=torch.float32) * 2 - 1) * bound

    W_ih, b = u(C, d, 4 * h), u(C, 4 * h)
    W_ih[:, :, 2 * h : 3 * h] = W1.cpu()  # the cell-input gate g is the microNN's hidden layer
    b[:, 2 * h : 3 * h] = b1.cpu()
    dev = W1.device
    return {"W_ih": W_ih.to(dev), "W_hh": u(C, h, 4 * h).to(dev), "b": b.to(dev),
            "W2": params["W2"].detach().clone(), "b2": params["b2"].detach().clone()}  # fmt: skip


def _last_hidden(xb: Any, lengths: Any, p: dict[str, Any]) -> Any:
    """(C, B, h) hidden state at each sequence's last real frame; ``xb`` (C, B, L, d), ``lengths`` (C, B)."""
    import torch

    C, B, L, _ = xb.shape
    hdim = p["W_hh"].shape[1]
    h = xb.new_zeros((C, B, hdim))
    c = xb.new_zeros((C, B, hdim))
    last = xb.new_zeros((C, B, hdim))
    for t in range(L):
        gates = torch.baddbmm(p["b"].unsqueeze(1), xb[:, :, t], p["W_ih"])
        if t > 0:  # h_0 = 0: no hidden-to-hidden term at the first frame
            gates = gates + torch.bmm(h, p["W_hh"])
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        last = torch.where((lengths == t + 1).unsqueeze(-1), h, last)
    return last


def train_lstm_bank(frames: FrameBank, sets: TrainingSets, params: dict[str, Any], settings: NetSettings,
                    seed: int, *, masks: MaskFn | None = None) -> dict[str, Any]:
    """Train every concept's LSTM on its own set of items of ``frames``."""
    import torch
    import torch.nn.functional as F

    device = frames.values.device
    p, bufs, masks, rows, targets = training_state(params, sets, settings, seed, device, masks)
    keep = 1.0 - settings.dropout
    for epoch, step, pos_np, valid_np in batch_plan(sets.sizes, settings.epochs, settings.batch_size, seed):
        pos = torch.as_tensor(pos_np, device=device)
        valid = torch.as_tensor(valid_np, device=device, dtype=torch.float32)
        idx = torch.gather(rows, 1, pos)
        y = torch.gather(targets, 1, pos)
        h = _last_hidden(*frames.gather(idx), p)
        if settings.dropout > 0:
            h = h * masks(epoch, step, tuple(h.shape)) / keep
        logits = torch.baddbmm(p["b2"].unsqueeze(1), h, p["W2"])
        ce = F.cross_entropy(logits.reshape(-1, 2), y.reshape(-1), reduction="none").reshape(y.shape)
        count = valid.sum(dim=1)
        loss = ((ce * valid).sum(dim=1) / count.clamp(min=1)).sum()
        grads = torch.autograd.grad(loss, list(p.values()), allow_unused=True)  # W_hh unused on 1-frame batches
        grads = [torch.zeros_like(v) if g is None else g for v, g in zip(p.values(), grads, strict=True)]
        sgd_step(p, bufs, grads, count > 0, settings)
    return {k: v.detach() for k, v in p.items()}


def lstm_presence(frames: FrameBank, params: dict[str, Any], *, chunk: int = 256) -> np.ndarray:
    """(n, C) presence probabilities at each shot's last frame, ``chunk`` shots at a time."""
    import torch

    C = params["W_ih"].shape[0]
    out = []
    with torch.no_grad():
        for s in range(0, len(frames), chunk):
            x, ln = frames.gather(torch.arange(s, min(s + chunk, len(frames)), device=frames.starts.device))
            xb = x.unsqueeze(0).expand(C, *x.shape)  # a view: the chunk's frames are shared by the concepts
            ln = ln.unsqueeze(0).expand(C, -1)
            h = _last_hidden(xb, ln, params)
            logits = torch.baddbmm(params["b2"].unsqueeze(1), h, params["W2"])
            out.append(torch.softmax(logits, dim=-1)[..., 1].T.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, C), np.float32)
