"""The torch device for the runner's device string (``cpu``, ``cuda``, ``cuda:N``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

SMALL_WORK = 50_000_000  # multiply-adds per tensor product below which one CPU thread is faster


def torch_device(device: str) -> Any:
    """``torch.device(device)``; ``auto`` picks CUDA when visible (direct use outside the runner)."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


@contextlib.contextmanager
def threads_for(work: int, device: Any) -> Iterator[None]:
    """Run small CPU workloads on one thread.

    For products this small, waking and synchronising intra-op threads costs more than it saves,
    and on a busy machine it costs a lot more (measured: 10x on the project's shared 2-core box).
    """
    import torch

    if str(device) != "cpu" or work >= SMALL_WORK:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
