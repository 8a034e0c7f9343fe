"""MMDL-EG's per-modality networks, all modalities in one set of grouped weight tensors (METHODS.md 2.9).

A modality is (feature block, similarity measure). Network j: ``H`` similarity units
``a_u = S_j(W_u, x)`` (linear ``mu W.x``, cosine ``mu W.x / (|W||x|)``, RBF
``mu exp(-|W - x|^2 / 2 sigma^2)``), two dense ReLU layers of ``H`` units with dropout, an L-way
output. The M networks are stored stacked on a leading modality axis (``W1`` (M, Dmax, H),
``W2`` (M, H, H), ...) and run with ``torch.bmm``: one product per layer for every modality.
Inputs of narrower blocks are zero-padded to ``Dmax`` and their padded weights start (and, since
their gradients are exactly 0 for all three measures, stay) at 0, so a modality's network computes
exactly what it would alone. Each modality draws its initial weights and dropout masks from its own
generator (seeded by its name), so training M together equals training each alone on the same
batches (tests/unit/test_mmdl_eg.py checks it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.seeding import derive_seed

if TYPE_CHECKING:
    import torch

MEASURES = ("linear", "cosine", "rbf")
EPS = 1e-12


@dataclass(frozen=True)
class Modality:
    """One (feature block, similarity) pair and its similarity constants (AMB-29)."""

    block: str
    measure: str
    mu: float
    sigma: float = 2.0

    @property
    def name(self) -> str:
        return f"{self.block}/{self.measure}"


@dataclass(frozen=True)
class NetShape:
    hidden: int
    n_labels: int
    dropout: float


class ModalityNets:
    """The stacked parameters of M modality networks and their batched forward pass."""

    def __init__(self, modalities: Sequence[Modality], dims: Mapping[str, int], shape: NetShape, seed: int,
                 device: torch.device, rbf_centres: Mapping[str, np.ndarray] | None = None,
                 dtype: str = "float32") -> None:  # fmt: skip
        import torch

        self.modalities = tuple(modalities)
        self.dims = np.array([dims[m.block] for m in self.modalities])
        self.shape, self.seed, self.device = shape, seed, device
        d_max, h, n_labels = int(self.dims.max()), shape.hidden, shape.n_labels
        M = len(self.modalities)
        w1 = torch.zeros(M, d_max, h, dtype=torch.float64)
        dense = [torch.zeros(M, h, h, dtype=torch.float64) for _ in range(2)] + [torch.zeros(M, h, n_labels, dtype=torch.float64)]
        biases = [torch.zeros(M, 1, h, dtype=torch.float64) for _ in range(2)] + [torch.zeros(M, 1, n_labels, dtype=torch.float64)]
        for j, mod in enumerate(self.modalities):
            g = torch.Generator().manual_seed(derive_seed(seed, "mmdl-init", mod.name))
            d = int(self.dims[j])
            if mod.measure == "rbf" and rbf_centres is not None:
                # RBF centres start at training inputs (the usual RBF-network start; random points in
                # [0, 1]^d are all far from the data, and every unit would then output ~0).
                pool = torch.as_tensor(rbf_centres[mod.block], dtype=torch.float64)
                w1[j, :d] = pool[torch.randint(len(pool), (h,), generator=g)].T
            else:
                w1[j, :d] = torch.randn(d, h, generator=g, dtype=torch.float64) / np.sqrt(d)
            for w, b in zip(dense, biases, strict=True):
                bound = 1.0 / np.sqrt(w.shape[1])  # torch.nn.Linear's default range
                w[j] = (torch.rand(w.shape[1:], generator=g, dtype=torch.float64) * 2 - 1) * bound
                b[j] = (torch.rand(b.shape[1:], generator=g, dtype=torch.float64) * 2 - 1) * bound
        self.dtype = getattr(torch, dtype)
        # Drawn in float64 on the CPU (the same start for every dtype and device), then cast.
        self.params = [p.to(device=device, dtype=self.dtype).requires_grad_(True) for p in (w1, *dense, *biases)]
        self.mu = torch.tensor([m.mu for m in self.modalities], dtype=self.dtype, device=device).view(M, 1, 1)
        self.inv_two_sigma_sq = torch.tensor([1.0 / (2.0 * m.sigma**2) for m in self.modalities],
                                             dtype=self.dtype, device=device).view(M, 1, 1)  # fmt: skip
        self.by_measure = {k: torch.tensor([j for j, m in enumerate(self.modalities) if m.measure == k],
                                           dtype=torch.long, device=device) for k in MEASURES}  # fmt: skip
        self.dropout_gens = [torch.Generator(device=device).manual_seed(derive_seed(seed, "mmdl-dropout", m.name))
                             for m in self.modalities]  # fmt: skip

    def inputs(self, blocks: Mapping[str, torch.Tensor], rows: torch.Tensor | slice) -> torch.Tensor:
        """(M, B, Dmax) each modality's block rows, zero-padded to the widest block."""
        import torch
        import torch.nn.functional as F

        d_max = int(self.dims.max())
        per_block = {name: F.pad(x[rows], (0, d_max - x.shape[1])) for name, x in blocks.items()
                     if any(m.block == name for m in self.modalities)}  # fmt: skip
        return torch.stack([per_block[m.block] for m in self.modalities])

    def forward(self, x: torch.Tensor, *, train: bool) -> torch.Tensor:
        """(M, B, L) output logits of every modality for inputs ``x`` (M, B, Dmax)."""
        import torch

        w1, w2, w3, w4, b2, b3, b4 = self.params
        dot = torch.bmm(x, w1)  # (M, B, H): W_u.x for every unit of every modality
        sim = torch.empty_like(dot)
        for measure, idx in self.by_measure.items():
            if len(idx) == 0:
                continue
            part = dot[idx]
            if measure == "linear":
                sim[idx] = part
            elif measure == "cosine":
                x_norm = x[idx].norm(dim=2, keepdim=True).clamp_min(EPS)
                w_norm = w1[idx].norm(dim=1, keepdim=True).clamp_min(EPS)
                sim[idx] = part / (x_norm * w_norm)
            else:
                sq = (x[idx] ** 2).sum(dim=2, keepdim=True) - 2.0 * part + (w1[idx] ** 2).sum(dim=1, keepdim=True)
                sim[idx] = torch.exp(-sq.clamp_min(0.0) * self.inv_two_sigma_sq[idx])
        h = sim * self.mu
        for w, b in ((w2, b2), (w3, b3)):
            h = torch.relu(torch.baddbmm(b, h, w))
            if train and self.shape.dropout > 0:
                h = h * self._dropout_mask(h.shape[1]) / (1.0 - self.shape.dropout)
        return torch.baddbmm(b4, h, w4)

    def _dropout_mask(self, batch: int) -> torch.Tensor:
        import torch

        keep = 1.0 - self.shape.dropout
        return torch.stack([(torch.rand(batch, self.shape.hidden, generator=g, device=self.device) < keep).to(self.dtype)
                            for g in self.dropout_gens])  # fmt: skip

    def posteriors(self, blocks: Mapping[str, torch.Tensor], n: int, batch: int = 1024) -> np.ndarray:
        """(n, M, L) softmax posteriors of every modality (no dropout)."""
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, n, batch):
                logits = self.forward(self.inputs(blocks, slice(start, start + batch)), train=False)
                out.append(torch.softmax(logits, dim=2).permute(1, 0, 2).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.modalities), self.shape.n_labels))

    def state(self) -> list[np.ndarray]:
        return [p.detach().cpu().numpy().copy() for p in self.params]


def normalised_label_loss(logits: torch.Tensor, y: torch.Tensor, annotated: torch.Tensor) -> torch.Tensor:
    """Stage-1 loss of every modality (seed Eqs. 5-7), (M,): the mean over the batch's items of
    ``-sum_l [q log p + (1 - q) log(1 - p)]`` with p = softmax over labels and q = y / |y|_1
    (Eq. 7 sums over items; summed over a batch of 128, SGD at lr 0.01 diverges on scene).

    ``annotated`` (B, L) masks out labels that are not annotated (-1; TRECVID), so they add nothing.
    """
    import torch

    q = y / y.sum(dim=1, keepdim=True).clamp_min(1.0)
    log_p = torch.log_softmax(logits, dim=2)
    log_not_p = torch.log((-torch.expm1(log_p)).clamp_min(EPS))  # log(1 - p), stable for small p
    per_pair = -(q * log_p + (1.0 - q) * log_not_p) * annotated
    return per_pair.sum(dim=2).mean(dim=1)


@dataclass(frozen=True)
class Stage1Settings:
    epochs: int
    batch_size: int
    lr: float
    momentum: float


def train_stage1(nets: ModalityNets, blocks: Mapping[str, torch.Tensor], labels: np.ndarray,
                 settings: Stage1Settings, seed: int) -> list[float]:  # fmt: skip
    """Fine-tune every modality network at once by SGD on its own loss; returns the mean loss per epoch.

    Only items with at least one positive label train (their q is defined, METHODS.md 3.6). The batch
    order depends on ``seed`` only (not on which modalities are trained), so one network trained
    alone sees the same batches as in the group.
    """
    import torch

    y_all = np.asarray(labels)
    rows = np.flatnonzero((y_all == 1).any(axis=1))
    y = torch.as_tensor((y_all == 1), dtype=nets.dtype, device=nets.device)
    annotated = torch.as_tensor((y_all >= 0), dtype=nets.dtype, device=nets.device)
    opt = torch.optim.SGD(nets.params, lr=settings.lr, momentum=settings.momentum)
    order_gen = np.random.default_rng(derive_seed(seed, "mmdl-batches"))
    history = []
    for _ in range(settings.epochs):
        perm = rows[order_gen.permutation(len(rows))]
        total = 0.0
        for start in range(0, len(perm), settings.batch_size):
            idx = torch.as_tensor(perm[start : start + settings.batch_size], device=nets.device)
            logits = nets.forward(nets.inputs(blocks, idx), train=True)
            # The sum over modalities keeps each network's gradient its own (their parameters are disjoint).
            loss = normalised_label_loss(logits, y[idx], annotated[idx]).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / max(len(perm), 1) / len(nets.modalities))
    return history
