"""The two target networks of Table 1 and the Default-TL losses (torch; imported inside ``fit``).

* :class:`DefaultTLNet` (METHODS.md 2.2): fine-tuning trunk + a new T-way FC classification layer
  (Gaussian std 0.01). Trained on positives only, each keyframe once per positive concept
  (AMB-17), with Caffe's ``SoftmaxWithLoss`` or ``HingeLoss`` (L1, one-vs-all).
* :class:`DMTLNet` (METHODS.md 2.1): fine-tuning trunk + the two-sided head of
  :mod:`methods._two_sided` (L, ReLU'd S, and C for the label constraint).

Replication (AMB-17) is exact at the level of the loss: every (keyframe, positive concept) pair is
one term and the batch loss is the mean over the batch's pairs, as if each replica were a separate
example. A keyframe is forwarded once per batch for all its replicas (same crop for its replicas),
which gives the same loss as a replicated batch at a fraction of the compute.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods._finetune import INIT_STD, FineTuneTrunk, gaussian_linear
from methods._two_sided import TwoSidedHead

DEFAULT_TL_LOSSES = ("softmax", "hinge")


def replicate_positives(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AMB-17: one (row, concept) training example per positive label, in row-major order.

    Args:
        labels: (n, T) in {1, 0, -1}.

    Returns:
        ``rows`` and ``classes`` (int64 arrays of equal length): keyframe ``rows[i]`` with the single
        integer label ``classes[i]``. Rows without positives do not appear.
    """
    rows, classes = np.nonzero(np.asarray(labels) == 1)
    return rows.astype(np.int64), classes.astype(np.int64)


def softmax_replica_loss(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Caffe ``SoftmaxWithLoss`` over the replicas: ``mean_(n,y) -log softmax(f(x_n))_y``.

    Args:
        logits: (B, T) outputs.
        positives: (B, T) bool, the replicas (keyframe b carries one replica per positive concept).
    """
    pos = positives.to(logits.dtype)
    nll = -(F.log_softmax(logits, dim=1) * pos).sum()
    return nll / pos.sum().clamp(min=1.0)


def hinge_replica_loss(logits: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Caffe ``HingeLoss`` (L1) over the replicas: ``mean_(n,y) sum_k max(0, 1 - d_nk f_k(x_n))``.

    ``d_nk = +1`` if ``k = y_n`` else -1. For keyframe b with positive set P, the replicas add up to
    ``sum_{y in P} max(0, 1 - f_y) + |P| sum_k max(0, 1 + f_k) - sum_{y in P} max(0, 1 + f_y)``,
    computed for the whole batch at once.
    """
    pos = positives.to(logits.dtype)
    n_pos = pos.sum(dim=1)
    above = F.relu(1.0 - logits)
    below = F.relu(1.0 + logits)
    per_row = (above * pos).sum(dim=1) + n_pos * below.sum(dim=1) - (below * pos).sum(dim=1)
    return per_row.sum() / n_pos.sum().clamp(min=1.0)


def default_tl_scores(logits: torch.Tensor, loss: str) -> torch.Tensor:
    """Ranking scores (AMB-42): softmax probability for the softmax net, raw output for the hinge net."""
    return F.softmax(logits, dim=1) if loss == "softmax" else logits


class DefaultTLNet(nn.Module):
    """Fine-tuning trunk + new T-way FC classification layer."""

    def __init__(self, trunk: FineTuneTrunk, n_concepts: int, generator: torch.Generator, init_std: float = INIT_STD) -> None:
        super().__init__()
        self.trunk = trunk
        self.classifier = gaussian_linear(trunk.out_dim, n_concepts, generator, init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.trunk(x))


class DMTLNet(nn.Module):
    """Fine-tuning trunk + two-sided head: scores ``(h L) relu(S)^T`` of all T concepts at once."""

    def __init__(self, trunk: nn.Module, out_dim: int, n_concepts: int, k: int, *, relu_s: bool,
                 with_constraint: bool, generator: torch.Generator, init_std: float = INIT_STD) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = TwoSidedHead(out_dim, n_concepts, k, relu_s=relu_s, with_constraint=with_constraint,
                                 init_std=init_std, generator=generator)  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))
