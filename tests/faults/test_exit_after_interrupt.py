"""After an interrupt the ``harness`` process ends even when a non-daemon thread would keep it alive."""

from __future__ import annotations

import subprocess
import sys
import time

HANGS = """
import threading, time
from harness import cli
threading.Thread(target=time.sleep, args=(600,), daemon=False).start()  # what a stuck library thread does
cli._exit_within(0.5, 130)
"""


def test_a_stuck_thread_cannot_keep_an_interrupted_process_alive() -> None:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", HANGS], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert time.monotonic() - t0 < 60
