"""MMDL-EG stage 2 and inference rules (METHODS.md 2.9): exponentiated-gradient modality weights on
triplets, the online pass (frozen networks or joint network updates), and label-set rules.

EG (Kivinen & Warmuth 1997) on the hinge ``h_t(alpha) = max(0, gamma - alpha.s_t)``: when
``h_t > 0``, ``alpha_j <- alpha_j exp(eta s_tj) / Z``, else unchanged. Weights are kept in log
space (exact same rule, no underflow over 160k steps) and several ``eta`` run side by side: the
networks' trajectory never depends on alpha, so one pass serves every candidate ``eta``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from harness.seeding import derive_seed

if TYPE_CHECKING:
    import torch

    from methods._mmdl_nets import ModalityNets


def eg_step(alpha: np.ndarray, s: np.ndarray, eta: float, gamma: float = 1.0) -> np.ndarray:
    """One EG update of the weights ``alpha`` (M,) on the margins ``s`` (M,) (seed Eq. 11 closed form)."""
    alpha = np.asarray(alpha, dtype=np.float64)
    if gamma - float(alpha @ s) <= 0:
        return alpha.copy()
    w = alpha * np.exp(eta * np.asarray(s, dtype=np.float64))
    return w / w.sum()


class EGWeights:
    """Modality weights for several learning rates at once: (E, M), each row on the simplex."""

    def __init__(self, n_modalities: int, etas: Sequence[float], gamma: float) -> None:
        self.etas = np.asarray(etas, dtype=np.float64)
        self.gamma = float(gamma)
        self.log_alpha = np.full((len(self.etas), n_modalities), -np.log(n_modalities))
        self.active_steps = np.zeros(len(self.etas), dtype=np.int64)

    @property
    def alpha(self) -> np.ndarray:
        return np.exp(self.log_alpha)

    def update(self, s: np.ndarray) -> None:
        """Apply the margins ``s`` (M,) of one triplet to every learning rate's weights."""
        active = self.gamma - self.alpha @ s > 0
        if not active.any():
            return
        z = self.log_alpha[active] + self.etas[active, None] * s
        self.log_alpha[active] = z - _logsumexp(z)
        self.active_steps += active


def _logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1, keepdims=True)
    return top + np.log(np.exp(z - top).sum(axis=1, keepdims=True))


def draw_triplets(labels: np.ndarray, steps: int, seed: int) -> np.ndarray:
    """(steps, 3) int64 (item, positive label, negative label), each uniform (METHODS.md 2.9).

    Items are drawn among those with at least one positive and one (annotated) negative label.
    """
    y = np.asarray(labels)
    eligible = np.flatnonzero((y == 1).any(axis=1) & (y == 0).any(axis=1))
    if len(eligible) == 0:
        raise ValueError("mmdl_eg: no training item has both a positive and a negative label; stage 2 has no triplet")
    g = np.random.default_rng(derive_seed(seed, "mmdl-triplets"))
    items = eligible[g.integers(len(eligible), size=steps)]
    out = np.empty((steps, 3), dtype=np.int64)
    out[:, 0] = items
    for t, i in enumerate(items):
        out[t, 1] = g.choice(np.flatnonzero(y[i] == 1))
        out[t, 2] = g.choice(np.flatnonzero(y[i] == 0))
    return out


def frozen_pass(posteriors: np.ndarray, triplets: np.ndarray, weights: EGWeights) -> None:
    """Stage 2 with fixed networks: margins from precomputed training posteriors (n, M, L)."""
    i, pos, neg = triplets.T
    margins = posteriors[i, :, pos] - posteriors[i, :, neg]  # (T, M), all steps at once
    for s in margins:
        weights.update(s)


@dataclass(frozen=True)
class JointSettings:
    lr: float
    gamma: float


def joint_pass(nets: Sequence[ModalityNets], blocks: Mapping[str, torch.Tensor], triplets: np.ndarray,
               weights: EGWeights, settings: JointSettings) -> None:  # fmt: skip
    """Stage 2 of Algorithm 1: per triplet, the EG update, then one SGD step of every modality's
    network on its own hinge ``max(0, gamma - s_tj)`` (AMB-33; no dropout in this pass).

    ``nets``: one grouped :class:`ModalityNets` (all modalities), or several (one per modality,
    stepped in lockstep: EG needs every margin of a step at once).
    """
    import torch

    opts = [torch.optim.SGD(net.params, lr=settings.lr) for net in nets]
    for i, pos, neg in triplets:
        margins = []
        for net in nets:
            logits = net.forward(net.inputs(blocks, slice(int(i), int(i) + 1)), train=False)
            probs = torch.softmax(logits, dim=2)
            margins.append(probs[:, 0, int(pos)] - probs[:, 0, int(neg)])  # (M_group,)
        weights.update(torch.cat(margins).detach().cpu().numpy())
        for s, opt in zip(margins, opts, strict=True):
            opt.zero_grad(set_to_none=True)
            torch.relu(settings.gamma - s).sum().backward()
            opt.step()


def threshold_sweep(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The global threshold tau minimising the Hamming loss of ``scores >= tau`` on 0/1 ``labels``,
    and that loss. Candidates: midpoints between consecutive distinct scores, and above the
    largest (no label at all); ties go to the higher tau (fewer labels)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel() == 1
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    # Predicting the top j pairs: errors = (negatives among them) + (positives not among them).
    last_of_value = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])
    taken = last_of_value + 1
    pos_taken = np.cumsum(y_sorted)[last_of_value]
    errors = np.r_[y.sum(), (taken - pos_taken) + (y.sum() - pos_taken)]
    best = int(np.argmin(errors))  # first minimum = highest threshold
    values = s_sorted[last_of_value]
    if best == 0:
        tau = float(values[0] + max(abs(values[0]) * 1e-9, 1e-12))
    elif best == len(values):
        tau = float(values[-1] - max(abs(values[-1]) * 1e-9, 1e-12))
    else:
        tau = float((values[best - 1] + values[best]) / 2)
    return tau, float(errors[best] / max(len(s), 1))


def top_k_labels(scores: np.ndarray, k: int) -> np.ndarray:
    """0/1 label sets: each item's ``k`` highest-scoring labels (ties by label order)."""
    out = np.zeros(scores.shape, dtype=np.float64)
    if k <= 0:
        return out
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    np.put_along_axis(out, top, 1.0, axis=1)
    return out
