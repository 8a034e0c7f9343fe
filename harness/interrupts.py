"""Interruptions as exceptions: SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``).

Turning the signal into an exception lets every ``finally`` block run (temporary folders of a
cache rebuild are removed, MLflow runs are closed as KILLED) instead of the process vanishing.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def raise_on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated(f"terminated by signal {signum}")


def install_sigterm_handler() -> None:
    """Raise :class:`Terminated` on SIGTERM (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, raise_on_sigterm)
