"""MMDL-EG's per-modality networks, all modalities in one set of grouped weight tensors (METHODS.md 2.9).

A modality is (feature block, similarity measure). Network j: ``H`` similarity units
``a_u = S_j(W_u, x)`` (linear ``mu W.x``, cosine ``mu W.x / (|W||x|)``, RBF
``mu exp(-|W - x|^2 / 2 sigma^2)``), two dense ReLU layers of ``H`` units with dropout, an L-way
output. The M networks are stored stacked on a leading modality axis (``W2`` (M, H, H), ...;
the first layer once per input width, ``(M_w, w, H)``, so no block is padded) and run with
``torch.bmm``: one product per layer (per width for the first) for every modality. Each modality draws its initial weights and dropout masks from its own
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
        h, n_labels = shape.hidden, shape.n_labels
        M = len(self.modalities)
        first = []
        dense = [torch.zeros(M, h, h, dtype=torch.float64) for _ in range(2)] + [torch.zeros(M, h, n_labels, dtype=torch.float64)]
        biases = [torch.zeros(M, 1, h, dtype=torch.float64) for _ in range(2)] + [torch.zeros(M, 1, n_labels, dtype=torch.float64)]
        for j, mod in enumerate(self.modalities):
            g = torch.Generator().manual_seed(derive_seed(seed, "mmdl-init", mod.name))
            d = int(self.dims[j])
            if mod.measure == "rbf" and rbf_centres is not None:
                # RBF centres start at training inputs (the usual RBF-network start; random points in
                # [0, 1]^d are all far from the data, and every unit would then output ~0).
                pool = torch.as_tensor(rbf_centres[mod.block], dtype=torch.float64)
                first.append(pool[torch.randint(len(pool), (h,), generator=g)].T.contiguous())
            else:
                first.append(torch.randn(d, h, generator=g, dtype=torch.float64) / np.sqrt(d))
            for w, b in zip(dense, biases, strict=True):
                bound = 1.0 / np.sqrt(w.shape[1])  # torch.nn.Linear's default range
                w[j] = (torch.rand(w.shape[1:], generator=g, dtype=torch.float64) * 2 - 1) * bound
                b[j] = (torch.rand(b.shape[1:], generator=g, dtype=torch.float64) * 2 - 1) * bound
        self.dtype = getattr(torch, dtype)
        # Modalities of equal input width share one first-layer tensor (no padding, no wasted products).
        self.widths = sorted({int(d) for d in self.dims})
        self.groups = [np.flatnonzero(self.dims == w) for w in self.widths]
        order = np.concatenate(self.groups)
        self.restore = torch.as_tensor(np.argsort(order), dtype=torch.long, device=device)  # group order -> ours

        def cast(t: torch.Tensor) -> torch.Tensor:
            # Drawn in float64 on the CPU (the same start for every dtype and device), then cast.
            return t.to(device=device, dtype=self.dtype).requires_grad_(True)

        self.first = [cast(torch.stack([first[j] for j in idx])) for idx in self.groups]  # (M_w, w, H) each
        self.params = [*self.first, *(cast(p) for p in (*dense, *biases))]

        def per_group(values: list[float]) -> list[torch.Tensor]:
            return [torch.tensor([values[j] for j in idx], dtype=self.dtype, device=device).view(-1, 1, 1)
                    for idx in self.groups]  # fmt: skip

        self.mu = per_group([m.mu for m in self.modalities])
        self.inv_two_sigma_sq = per_group([1.0 / (2.0 * m.sigma**2) for m in self.modalities])
        self.measure = [torch.tensor([MEASURES.index(self.modalities[j].measure) for j in idx], device=device).view(-1, 1, 1)
                        for idx in self.groups]  # fmt: skip
        self.dropout_gens = [torch.Generator(device=device).manual_seed(derive_seed(seed, "mmdl-dropout", m.name))
                             for m in self.modalities]  # fmt: skip

    def inputs(self, blocks: Mapping[str, torch.Tensor], rows: torch.Tensor | slice) -> list[torch.Tensor]:
        """Per input width, (M_w, B, w): the block rows of each modality of that width."""
        import torch

        taken = {m.block: blocks[m.block][rows] for m in self.modalities}
        return [torch.stack([taken[self.modalities[j].block] for j in idx]) for idx in self.groups]

    def forward(self, xs: list[torch.Tensor], *, train: bool) -> torch.Tensor:
        """(M, B, L) output logits of every modality for the inputs of :meth:`inputs`."""
        import torch

        w2, w3, w4, b2, b3, b4 = self.params[len(self.first) :]
        sims = []
        for x, w1, kind, mu, inv in zip(xs, self.first, self.measure, self.mu, self.inv_two_sigma_sq, strict=True):
            dot = torch.bmm(x, w1)  # (M_w, B, H): W_u.x for every unit of every modality of this width
            x_sq, w_sq = (x * x).sum(dim=2, keepdim=True), (w1 * w1).sum(dim=1, keepdim=True)
            cosine = dot / (x_sq.sqrt().clamp_min(EPS) * w_sq.sqrt().clamp_min(EPS))
            rbf = torch.exp(-(x_sq - 2.0 * dot + w_sq).clamp_min(0.0) * inv)
            # Every branch is finite, so where() passes exact zeros to the unused ones.
            sims.append(mu * torch.where(kind == 0, dot, torch.where(kind == 1, cosine, rbf)))
        h = torch.cat(sims)[self.restore] if len(sims) > 1 else sims[0]
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

    def modality_state(self, j: int) -> list[np.ndarray]:
        """Modality ``j``'s weights: first layer (d_j, H), then the dense weights and biases."""
        group = next(g for g, idx in enumerate(self.groups) if j in idx)
        row = int(np.flatnonzero(self.groups[group] == j)[0])
        rest = self.params[len(self.first) :]
        return [self.first[group][row].detach().cpu().numpy().copy(), *(p[j].detach().cpu().numpy().copy() for p in rest)]


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
