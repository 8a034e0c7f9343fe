"""Seed derivation: one base seed per run, per-component seeds derived by a pure function."""

from __future__ import annotations

import hashlib

import numpy as np

_MAX_SEED = 2**31 - 1


def derive_seed(base_seed: int, *components: object) -> int:
    """Return a seed in [0, 2**31) that depends only on ``base_seed`` and the component names.

    Hashing (rather than ``base + offset``) keeps seeds of different components uncorrelated
    and stable when components are added or reordered.
    """
    if not isinstance(base_seed, int) or isinstance(base_seed, bool) or base_seed < 0:
        raise ValueError(f"base seed must be a non-negative int, got {base_seed!r}")
    text = "/".join([str(base_seed), *map(str, components)])
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") % _MAX_SEED


def rng(base_seed: int, *components: object) -> np.random.Generator:
    """A numpy Generator seeded by :func:`derive_seed` (library code never uses the global RNG)."""
    return np.random.default_rng(derive_seed(base_seed, *components))
