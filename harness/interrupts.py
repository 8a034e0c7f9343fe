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


_RECEIVED: list[int] = []  # signals received by this process (an interrupt may surface as another error)


def raise_on_sigterm(signum: int, frame: Any) -> None:
    _RECEIVED.append(signum)
    raise Terminated(f"terminated by signal {signum}")


def raise_on_sigint(signum: int, frame: Any) -> None:
    _RECEIVED.append(signum)
    raise KeyboardInterrupt


def received() -> int | None:
    """The last SIGINT / SIGTERM this process received, or None. A library's cleanup code can turn
    the KeyboardInterrupt into another error (Optuna's trial loop raises UnboundLocalError when the
    interrupt lands between two of its statements); callers use this to report the interrupt."""
    return _RECEIVED[-1] if _RECEIVED else None


def install_sigterm_handler() -> None:
    """Raise :class:`Terminated` on SIGTERM and KeyboardInterrupt on SIGINT, remembering either
    (main thread only; elsewhere a no-op)."""
    _RECEIVED.clear()  # a new command (tests call the CLI several times in one process)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, raise_on_sigterm)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, raise_on_sigint)
