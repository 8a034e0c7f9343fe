"""microNN detectors (METHODS.md 2.7): one small two-way softmax network per concept, a whole bank
trained at once.

Every concept has its own one-hidden-layer network (ReLU, dropout, 2 outputs) and its own training
set. The bank keeps the per-concept weights as grouped tensors with a leading concept axis
(``W1`` (C, d, h), ``b1`` (C, h), ``W2`` (C, h, 2), ``b2`` (C, 2)); one SGD step gathers the next
mini-batch of every concept's own set by index ((C, B, d)) and multiplies with ``torch.bmm``, so a
bank of 105 detectors costs a few large products per step instead of 105 small ones. Concepts never
share a parameter or a loss term, so this is exactly per-concept training (checked against
:func:`train_one`, a plain ``nn.Module`` + ``torch.optim.SGD`` loop, in the unit tests).

Concepts with smaller sets than the largest run out of batches earlier: a concept whose batch is
empty takes no step (its momentum is kept, as if its own loop had ended), so short sets train as
they would alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

MaskFn = Callable[[int, int, tuple[int, ...]], Any]  # (epoch, step, shape) -> keep mask in {0, 1}


@dataclass(frozen=True)
class NetSettings:
    """Network and SGD settings (METHODS.md 2.7 defaults, AMB-46 assumptions)."""

    hidden: int = 1024
    dropout: float = 0.5
    lr: float = 0.01
    momentum: float = 0.9
    epochs: int = 20
    batch_size: int = 256


@dataclass(frozen=True)
class TrainingSets:
    """Each concept's training set as rows of a shared feature matrix.

    rows: (C, m) int64 row indices (padded after ``sizes[c]``); targets: (C, m) int64, 1 = presence;
    sizes: (C,) int64 real examples per concept.
    """

    rows: np.ndarray
    targets: np.ndarray
    sizes: np.ndarray

    def __post_init__(self) -> None:
        if self.rows.shape != self.targets.shape or self.rows.ndim != 2 or self.sizes.shape != (self.rows.shape[0],):
            raise ValueError(f"inconsistent training sets: rows {self.rows.shape}, targets {self.targets.shape}, "
                             f"sizes {self.sizes.shape}")  # fmt: skip

    @property
    def n_concepts(self) -> int:
        return int(self.rows.shape[0])

    def concept(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, targets) of concept ``c`` without padding."""
        n = int(self.sizes[c])
        return self.rows[c, :n], self.targets[c, :n]


# --------------------------------------------------------------------------------------------
# Sampling (AMB-23)
# --------------------------------------------------------------------------------------------

SAMPLINGS = ("imbalanced", "balanced")


def _draw(pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` items of ``pool``: without replacement when it has enough, else all of it plus resampled extras."""
    if k <= 0 or len(pool) == 0:
        return pool[:0]
    if len(pool) >= k:
        return rng.choice(pool, size=k, replace=False)
    return np.concatenate([pool, rng.choice(pool, size=k - len(pool), replace=True)])


def sample_sets(labels: np.ndarray, scheme: str, total: int, seed: int) -> TrainingSets:
    """Training sets of every concept from (n, C) labels in {1, 0, -1}.

    ``imbalanced`` (D_M_1): all positives, then random negatives filling up to ``total`` (fewer if
    there are not enough: the natural ratio); ``balanced`` (D_M_2): ``total // 2`` positives and as
    many negatives, resampled with replacement where fewer exist. A concept without positives or
    negatives gets an empty set.
    """
    if scheme not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {scheme!r}")
    if total < 2:
        raise ValueError(f"the training-set size must be at least 2, got {total}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen: list[tuple[np.ndarray, np.ndarray]] = []
    for c in range(labels.shape[1]):
        pos, neg = np.flatnonzero(labels[:, c] == 1), np.flatnonzero(labels[:, c] == 0)
        if len(pos) == 0 or len(neg) == 0:
            chosen.append((pos[:0], neg[:0]))
        elif scheme == "imbalanced":
            p = pos if len(pos) <= total - 1 else rng.choice(pos, size=total - 1, replace=False)
            chosen.append((p, _draw(neg, min(len(neg), total - len(p)), rng)))
        else:
            chosen.append((_draw(pos, total // 2, rng), _draw(neg, total // 2, rng)))
    sizes = np.array([len(p) + len(n) for p, n in chosen], dtype=np.int64)
    m = int(sizes.max(initial=0))
    rows = np.zeros((labels.shape[1], m), dtype=np.int64)
    targets = np.zeros((labels.shape[1], m), dtype=np.int64)
    for c, (p, n) in enumerate(chosen):
        rows[c, : sizes[c]] = np.concatenate([p, n])
        targets[c, : len(p)] = 1
    return TrainingSets(rows, targets, sizes)


# --------------------------------------------------------------------------------------------
# Batches: each concept shuffles its own set every epoch
# --------------------------------------------------------------------------------------------


def batch_plan(sizes: np.ndarray, epochs: int, batch_size: int, seed: int,
               concepts: np.ndarray | None = None) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """Yield ``(epoch, step, positions (C, B), valid (C, B))``: concept ``c``'s step-``k`` batch is
    positions ``k*B .. (k+1)*B`` of its own permutation of ``range(sizes[c])`` (``valid`` marks them).

    Concept ``c`` shuffles with its own generator, seeded ``[seed, concepts[c]]`` (default ``c``), so
    a plan of one concept (``concepts=[c]``) gives exactly its batches in the plan of the bank."""
    sizes = np.asarray(sizes, dtype=np.int64)
    ids = range(len(sizes)) if concepts is None else [int(c) for c in concepts]
    gens = [np.random.default_rng([seed, c]) for c in ids]
    m = int(sizes.max(initial=0))
    steps = math.ceil(m / batch_size) if m else 0
    for epoch in range(epochs):
        perm = np.zeros((len(sizes), steps * batch_size), dtype=np.int64)
        for c, g in enumerate(gens):
            perm[c, : sizes[c]] = g.permutation(int(sizes[c]))
        valid = np.arange(steps * batch_size)[None, :] < sizes[:, None]
        for k in range(steps):
            sl = slice(k * batch_size, (k + 1) * batch_size)
            yield epoch, k, perm[:, sl], valid[:, sl]


# --------------------------------------------------------------------------------------------
# The batched bank
# --------------------------------------------------------------------------------------------


def init_bank(n_concepts: int, dim: int, hidden: int, seed: int) -> dict[str, Any]:
    """Grouped parameters, initialised like ``nn.Linear`` (uniform +-1/sqrt(fan_in)) per concept."""
    import torch

    g = torch.Generator().manual_seed(int(seed))

    def u(shape: tuple[int, ...], fan_in: int) -> Any:
        bound = 1.0 / math.sqrt(fan_in)
        return (torch.rand(shape, generator=g, dtype=torch.float32) * 2 - 1) * bound

    return {"W1": u((n_concepts, dim, hidden), dim), "b1": u((n_concepts, hidden), dim),
            "W2": u((n_concepts, hidden, 2), hidden), "b2": u((n_concepts, 2), hidden)}  # fmt: skip


def bernoulli_masks(seed: int, keep: float, device: Any = "cpu") -> MaskFn:
    """Dropout keep masks drawn from one seeded generator, batch after batch."""
    import torch

    g = torch.Generator(device=device).manual_seed(int(seed))

    def draw(epoch: int, step: int, shape: tuple[int, ...]) -> Any:
        return (torch.rand(shape, generator=g, device=device) < keep).to(torch.float32)

    return draw


def _forward_hidden(xb: Any, p: dict[str, Any]) -> Any:
    import torch

    return torch.relu(torch.baddbmm(p["b1"].unsqueeze(1), xb, p["W1"]))


def training_state(params: dict[str, Any], sets: TrainingSets, settings: NetSettings, seed: int, device: Any,
                   masks: MaskFn | None) -> tuple[dict[str, Any], dict[str, Any], MaskFn, Any, Any]:
    """What a bank's SGD loop starts from: trainable copies of ``params`` and their momentum buffers
    on ``device``, the dropout masks (default :func:`bernoulli_masks` of ``seed``), the sets' rows
    and targets as tensors. Shared by the feed-forward and the LSTM banks."""
    import torch

    p = {k: v.detach().clone().to(device).requires_grad_(True) for k, v in params.items()}
    bufs = {k: torch.zeros_like(v) for k, v in p.items()}
    masks = masks or bernoulli_masks(seed, 1.0 - settings.dropout, device)
    return p, bufs, masks, torch.as_tensor(sets.rows, device=device), torch.as_tensor(sets.targets, device=device)


def train_bank(X: Any, sets: TrainingSets, params: dict[str, Any], settings: NetSettings, seed: int, *,
               masks: MaskFn | None = None, on_epoch: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Train every concept's network on its own set, all in one pass per mini-batch; returns the parameters.

    ``X``: (n, d) float32 tensor on the training device (the parameters' device). ``masks``: dropout
    keep masks (C, B, h) per step (default: :func:`bernoulli_masks` of ``seed``).
    """
    import torch
    import torch.nn.functional as F

    device = X.device
    p, bufs, masks, rows, targets = training_state(params, sets, settings, seed, device, masks)
    keep = 1.0 - settings.dropout
    last_epoch = -1
    for epoch, step, pos_np, valid_np in batch_plan(sets.sizes, settings.epochs, settings.batch_size, seed):
        if epoch != last_epoch and on_epoch is not None and last_epoch >= 0:
            on_epoch(last_epoch)
        last_epoch = epoch
        pos = torch.as_tensor(pos_np, device=device)
        valid = torch.as_tensor(valid_np, device=device, dtype=torch.float32)
        idx = torch.gather(rows, 1, pos)
        y = torch.gather(targets, 1, pos)
        xb = X[idx]  # (C, B, d): each concept's own batch
        h = _forward_hidden(xb, p)
        if settings.dropout > 0:
            h = h * masks(epoch, step, tuple(h.shape)) / keep
        logits = torch.baddbmm(p["b2"].unsqueeze(1), h, p["W2"])
        ce = F.cross_entropy(logits.reshape(-1, 2), y.reshape(-1), reduction="none").reshape(y.shape)
        count = valid.sum(dim=1)
        loss = ((ce * valid).sum(dim=1) / count.clamp(min=1)).sum()  # each concept's own batch mean
        sgd_step(p, bufs, torch.autograd.grad(loss, list(p.values())), count > 0, settings)
    if on_epoch is not None and last_epoch >= 0:
        on_epoch(last_epoch)
    return {k: v.detach() for k, v in p.items()}


def sgd_step(p: dict[str, Any], bufs: dict[str, Any], grads: Any, active: Any, settings: NetSettings) -> None:
    """``torch.optim.SGD``'s momentum step (buf = m * buf + g; p -= lr * buf) for the ``active``
    concepts only (leading axis); the others keep their parameters and momentum."""
    import torch

    with torch.no_grad():
        for (k, v), g in zip(p.items(), grads, strict=True):
            a = active.float().reshape(-1, *([1] * (v.dim() - 1)))
            bufs[k].mul_(1 - a + a * settings.momentum).add_(a * g)
            v.sub_(settings.lr * a * bufs[k])


def presence(X: Any, params: dict[str, Any], *, chunk_bytes: int = 256 << 20) -> np.ndarray:
    """(n, C) presence probabilities (softmax output 1) of every concept, in row chunks."""
    import torch

    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    C, d, hdim = W1.shape
    flat = W1.permute(1, 0, 2).reshape(d, C * hdim)  # one product for all concepts: inputs are shared
    step = max(1, chunk_bytes // max(1, 4 * C * hdim))
    out = []
    with torch.no_grad():
        for s in range(0, X.shape[0], step):
            h = torch.relu((X[s : s + step] @ flat).reshape(-1, C, hdim) + b1)
            logits = torch.einsum("nch,cho->nco", h, W2) + b2
            out.append(torch.softmax(logits, dim=-1)[..., 1].cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, C), np.float32)


# --------------------------------------------------------------------------------------------
# One concept at a time (the reference the bank is tested against, and the benchmark's baseline)
# --------------------------------------------------------------------------------------------


def one_network(params: dict[str, Any], c: int, dropout: float) -> Any:
    """Concept ``c`` of a bank as a plain ``nn.Sequential`` (Linear, ReLU, Dropout, Linear)."""
    import torch
    from torch import nn

    d, h = params["W1"].shape[1:]
    net = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Dropout(dropout), nn.Linear(h, 2))
    with torch.no_grad():
        net[0].weight.copy_(params["W1"][c].T)
        net[0].bias.copy_(params["b1"][c])
        net[3].weight.copy_(params["W2"][c].T)
        net[3].bias.copy_(params["b2"][c])
    return net.to(params["W1"].device)


def train_one(X: Any, rows: np.ndarray, targets: np.ndarray, net: Any, settings: NetSettings,
              batches: Iterator[np.ndarray], masks: Iterator[Any] | None = None) -> Any:
    """Train one concept's ``nn.Sequential`` with ``torch.optim.SGD`` on the given position batches.

    ``masks``: dropout keep masks (B, h) per batch replacing ``nn.Dropout``'s own draws (to compare
    with the bank on identical randomness); without them the network's dropout layer draws.
    """
    import torch
    import torch.nn.functional as F

    opt = torch.optim.SGD(net.parameters(), lr=settings.lr, momentum=settings.momentum)
    rows_t = torch.as_tensor(rows, device=X.device)
    y_t = torch.as_tensor(targets, device=X.device)
    keep = 1.0 - settings.dropout
    net.train()
    for pos in batches:
        pos_t = torch.as_tensor(pos, device=X.device)
        xb, yb = X[rows_t[pos_t]], y_t[pos_t]
        if masks is None:
            logits = net(xb)
        else:
            mask = next(masks)
            logits = net[3](net[1](net[0](xb)) * mask / keep)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net


def bank_from_networks(nets: list[Any]) -> dict[str, Any]:
    """Grouped parameters of a list of ``one_network`` modules (the inverse of :func:`one_network`)."""
    import torch

    return {"W1": torch.stack([n[0].weight.detach().T for n in nets]), "b1": torch.stack([n[0].bias.detach() for n in nets]),
            "W2": torch.stack([n[3].weight.detach().T for n in nets]), "b2": torch.stack([n[3].bias.detach() for n in nets])}  # fmt: skip


def train_one_at_a_time(X: Any, sets: TrainingSets, params: dict[str, Any], settings: NetSettings, seed: int) -> dict[str, Any]:
    """The same networks trained one concept after the other (same batches as :func:`train_bank`;
    dropout drawn by each network's own layer): the baseline of the batching benchmark."""
    nets = []
    for c in range(sets.n_concepts):
        rows, targets = sets.concept(c)
        nets.append(train_one(X, rows, targets, one_network(params, c, settings.dropout), settings,
                              concept_batches(sets, c, settings, seed)))  # fmt: skip
    return bank_from_networks(nets)


def concept_batches(sets: TrainingSets, c: int, settings: NetSettings, seed: int) -> Iterator[np.ndarray]:
    """Concept ``c``'s own batches (positions in its set), the same as in the bank's plan."""
    for _, _, pos, valid in batch_plan(sets.sizes[c : c + 1], settings.epochs, settings.batch_size, seed, [c]):
        if valid[0].any():
            yield pos[0][valid[0]]
