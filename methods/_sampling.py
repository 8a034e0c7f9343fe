"""Per-concept training sets: all positives plus at most ``ratio`` random negatives per positive.

METHODS.md 2.1 (step 1) and 2.3: every per-concept method of the DMTL_LC paper trains concept ``t``
on its annotated positives and a random sample of its annotated negatives, at most 15 negatives per
positive. One vectorised sampler serves every method so they all see the same kind of training set.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

log = logging.getLogger(__name__)

NEG_PER_POS = 15.0  # reported (METHODS.md 2.1): "negatives to a maximum of 15:1 ratio"


def sample_training_mask(labels: np.ndarray, *, neg_ratio: float = NEG_PER_POS, seed: int) -> np.ndarray:
    """Select each concept's training examples.

    Args:
        labels: (n, T) int array in {1, 0, -1 = not annotated}.
        neg_ratio: at most ``floor(neg_ratio * #positives)`` negatives per concept; ``0`` (or
            ``inf``) keeps every annotated negative (the ``lr`` plugin's convention).
        seed: seed of the random negative choice (derive it with ``harness.seeding.derive_seed``).

    Returns:
        (n, T) bool mask: True where example ``i`` is in concept ``t``'s training set. A concept
        without positives gets no examples at all (there is nothing to sample the ratio from).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (n, T), got shape {labels.shape}")
    if not neg_ratio >= 0:
        raise ValueError(f"neg_ratio must be >= 0, got {neg_ratio!r}")
    pos = labels == 1
    neg = labels == 0
    n_pos = pos.sum(axis=0)
    n_neg = neg.sum(axis=0)
    if neg_ratio == 0 or math.isinf(neg_ratio):
        budget = np.where(n_pos > 0, n_neg, 0)
    else:
        budget = np.minimum(n_neg, np.floor(neg_ratio * n_pos).astype(np.int64))
    # Uniform keys; non-negatives get a key above every negative's. Concept t keeps the negatives
    # whose key is among its ``budget[t]`` smallest: one column-wise sort instead of a loop.
    keys = np.random.default_rng(seed).random(labels.shape)
    keys[~neg] = 2.0
    if labels.shape[0] == 0:
        return pos.copy()
    sorted_keys = np.sort(keys, axis=0)
    kth = sorted_keys[np.maximum(budget - 1, 0), np.arange(labels.shape[1])]
    chosen_neg = neg & (keys <= kth[None, :]) & (budget[None, :] > 0)
    return pos | chosen_neg


def trainable_concepts(
    labels: np.ndarray, mask: np.ndarray, concepts: Sequence[str], method: str
) -> np.ndarray:
    """Which concepts have at least one positive and one negative in their training set.

    The others cannot be trained; methods give them the constant score 0 (documented behaviour,
    never NaN) and this function logs one warning naming them.

    Returns:
        (T,) bool array.
    """
    sel_pos = ((labels == 1) & mask).any(axis=0)
    sel_neg = ((labels == 0) & mask).any(axis=0)
    ok = sel_pos & sel_neg
    if not ok.all():
        bad = [f"{concepts[t]} ({'no positives' if not sel_pos[t] else 'no negatives'})" for t in np.flatnonzero(~ok).tolist()]
        log.warning(
            "%s: %d of %d concepts have no trainable examples and get the constant score 0: %s",
            method,
            len(bad),
            len(ok),
            ", ".join(bad),
        )
    return ok
