"""The two-sided network head and its losses, shared by ``two_sided_nn`` (2S-NN) and DMTL / DMTL_LC.

METHODS.md 2.1 (reconstructed from Yang & Hospedales 2015 with GO-MTL):

* latent-task basis ``L`` (d x k, FC layer without bias, AMB-10) and task coefficients ``S``
  (T x k, the FC layer applied to one-hot task descriptors), optionally ReLU'd "to encourage sparse
  models"; prediction for all T concepts at once: ``(h L) relu(S)^T`` (n x T);
* hinge loss averaged over the selected (example, concept) pairs of a mini-batch (AMB-12);
* label constraint: phi coefficients between concepts on co-annotated examples (AMB-15), targets
  ``(phi + 1) / 2``, logits ``relu(S) C^T`` and sigmoid cross-entropy summed over ``t'`` and
  averaged over the batch's pairs (AMB-14); its gradient reaches ``S`` and ``C`` only.

Imports torch at module level: plugin modules import this file inside ``fit`` only, so
``harness --help`` never pays for torch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LC_REDUCTIONS = ("sum", "mean")


def phi_matrix(labels: np.ndarray) -> np.ndarray:
    """Phi coefficients between concept label vectors on co-annotated examples (METHODS.md 2.1).

    Args:
        labels: (n, T) in {1, 0, -1 = not annotated}.

    Returns:
        (T, T) float64 in [-1, 1]; ``phi_aa = 1``; 0 where the denominator is 0 (undefined).
    """
    y = np.asarray(labels)
    P = (y == 1).astype(np.float64)
    N = (y == 0).astype(np.float64)
    # Counts over examples annotated for both concepts: n11 = P^T P etc. (first index = a).
    n11, n10, n01, n00 = P.T @ P, P.T @ N, N.T @ P, N.T @ N
    denom = np.sqrt((n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00))
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(denom > 0, (n11 * n00 - n10 * n01) / np.where(denom > 0, denom, 1.0), 0.0)
    np.fill_diagonal(phi, 1.0)
    return np.clip(phi, -1.0, 1.0)


def phi_targets(phi: np.ndarray) -> np.ndarray:
    """Rescale phi from [-1, 1] to sigmoid targets in [0, 1]: ``(phi + 1) / 2``."""
    return (np.asarray(phi, dtype=np.float64) + 1.0) / 2.0


def two_sided_scores(h: torch.Tensor, L: torch.Tensor, S: torch.Tensor, relu_s: bool = True) -> torch.Tensor:
    """``(h L) act(S)^T``: (n, d) x (d, k) x (k, T) -> (n, T) scores of every concept."""
    s = F.relu(S) if relu_s else S
    return (h @ L) @ s.T


def masked_hinge_loss(scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``max(0, 1 - y f)`` over the selected (example, concept) pairs (AMB-12).

    Args:
        scores: (B, T) predictions.
        targets: (B, T) labels in {+1, -1} (values outside the mask are ignored).
        mask: (B, T) bool, the pairs in the sampled training sets.

    Returns:
        Scalar; 0 (still attached to the graph) when no pair is selected.
    """
    m = mask.to(scores.dtype)
    hinge = F.relu(1.0 - targets.to(scores.dtype) * scores) * m
    return hinge.sum() / m.sum().clamp(min=1.0)


def label_constraint_loss(
    s: torch.Tensor,
    C: torch.Tensor,
    targets: torch.Tensor,
    weights: torch.Tensor | None = None,
    reduction: str = "sum",
) -> torch.Tensor:
    """Sigmoid cross-entropy between ``s C^T`` and the phi targets (reconstructed Eq. 2).

    Args:
        s: (T, k) task vectors after the ReLU (AMB-13: the same vectors feed the prediction).
        C: (T, k) weights of the constraint layer.
        targets: (T, T) rescaled phi, row t = targets of concept t.
        weights: (T,) how many of the batch's (example, concept) pairs belong to each concept; the
            loss is the weighted mean of the per-concept losses, i.e. the mean over the batch's
            pairs of ``L_LC(t_i)``. None = uniform, the ``1/T sum_t`` of Eq. 2.
        reduction: ``sum`` over t' (Caffe SigmoidCrossEntropyLoss, AMB-14) or ``mean`` over t'.

    Returns:
        Scalar loss (without the beta factor).
    """
    if reduction not in LC_REDUCTIONS:
        raise ValueError(f"reduction must be one of {LC_REDUCTIONS}, got {reduction!r}")
    logits = s @ C.T
    per_pair = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    per_concept = per_pair.sum(dim=1) if reduction == "sum" else per_pair.mean(dim=1)
    if weights is None:
        return per_concept.mean()
    w = weights.to(per_concept.dtype)
    return (per_concept * w).sum() / w.sum().clamp(min=1e-12)


class TwoSidedHead(nn.Module):
    """``L`` (d x k), ``S`` (T x k) and, for the label constraint, ``C`` (T x k); no biases.

    Parameters are drawn from N(0, init_std^2) (Caffe-style Gaussian filler, assumption).
    """

    def __init__(
        self,
        in_features: int,
        n_tasks: int,
        k: int,
        *,
        relu_s: bool = True,
        with_constraint: bool = False,
        init_std: float = 0.01,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.relu_s = relu_s

        def gauss(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.randn(*shape, generator=generator) * init_std)

        self.L = gauss(in_features, k)
        self.S = gauss(n_tasks, k)
        self.C = gauss(n_tasks, k) if with_constraint else None

    def task_vectors(self) -> torch.Tensor:
        """(T, k): ``relu(S)`` or ``S``."""
        return F.relu(self.S) if self.relu_s else self.S

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """(n, T) scores of every concept for the trunk outputs ``h`` (n, d)."""
        return (h @ self.L) @ self.task_vectors().T

    def constraint_loss(
        self, targets: torch.Tensor, weights: torch.Tensor | None = None, reduction: str = "sum"
    ) -> torch.Tensor:
        """:func:`label_constraint_loss` of this head (needs ``with_constraint=True``)."""
        if self.C is None:
            raise RuntimeError("this head was built without the label-constraint layer C")
        return label_constraint_loss(self.task_vectors(), self.C, targets, weights, reduction)
