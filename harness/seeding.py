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


# --------------------------------------------------------------------------------------------
# Determinism where it is free (torch)
# --------------------------------------------------------------------------------------------

THREADS_ENV = "HARNESS_THREADS"


def training_threads() -> int:
    """Intra-op threads for a run: ``$HARNESS_THREADS``, else ``$OMP_NUM_THREADS`` (a sweep worker's
    share), else the cores this process may use.

    Fixing the count (rather than leaving torch to pick per call site) keeps the reduction order of
    multi-threaded kernels the same between runs on one machine; the count is part of the hardware
    fingerprint, so runs with another count are told apart.
    """
    import os

    raw = os.environ.get(THREADS_ENV, "").strip()
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if not raw and omp.isdigit() and int(omp) > 0:
        return int(omp)
    if raw:
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"${THREADS_ENV} must be a positive integer, got {raw!r}") from None
        if n < 1:
            raise ValueError(f"${THREADS_ENV} must be a positive integer, got {raw!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def make_deterministic(threads: int | None = None) -> dict[str, object]:
    """Set the free determinism switches of torch; return what was set (recorded with the run).

    * a fixed intra-op thread count (:func:`training_threads`);
    * ``torch.use_deterministic_algorithms(True, warn_only=True)``: deterministic kernels where torch
      has them, a warning (not an error) for the few ops that have none;
    * cuDNN: deterministic, no benchmark autotuning; cuBLAS: a fixed workspace (set before CUDA
      starts, as cuBLAS requires).
    """
    import os

    import torch

    n = training_threads() if threads is None else int(threads)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return {"threads": n, "deterministic_algorithms": True, "warn_only": True,
            "cudnn_deterministic": True, "cudnn_benchmark": False}


def seed_worker(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=seed_worker)``: numpy / random in a worker follow torch's worker seed.

    torch seeds each worker from the loader's ``generator``; numpy's and Python's global RNGs are
    not, so forked workers would otherwise share (or inherit) one state.
    """
    import random

    import torch

    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)  # noqa: NPY002 (global RNG of a worker process, never of library code)
    random.seed(seed)


def loader_generator(base_seed: int, *components: object) -> object:
    """A ``torch.Generator`` seeded by :func:`derive_seed`, for ``DataLoader(generator=...)``."""
    import torch

    g = torch.Generator()
    g.manual_seed(derive_seed(base_seed, *components))
    return g
