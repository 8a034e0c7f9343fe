"""Leak-free validation splits: whole groups (videos, UCF101 groups) go to one side only."""

from __future__ import annotations

import numpy as np

from harness.api import Split
from harness.seeding import rng


def group_holdout(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Hold out about ``fraction`` of the groups of ``split`` (at least one, never all)."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    groups = np.asarray(split.groups).astype(str)
    unique = np.unique(groups)
    if len(unique) < 2:
        raise ValueError("cannot hold out a validation split: the training split has fewer than 2 groups")
    n_val = min(max(1, round(fraction * len(unique))), len(unique) - 1)
    chosen = rng(seed, "validation-groups").permutation(unique)[:n_val]
    is_val = np.isin(groups, chosen)
    return split.subset(np.flatnonzero(~is_val)), split.subset(np.flatnonzero(is_val))
