"""Fault-injection suite: kills, torn files, bad input, unreachable servers (issue 17).

Every test asserts the exit code, a message naming what went wrong and where, no traceback
without ``--debug``, that no finished result is lost or duplicated and that no secret is printed.
Commands that need signals run as real subprocesses; the others call ``harness.cli.main`` in
process. All share one HARNESS_HOME (the session's), so the miniature and its features are built
once. Helpers live in ``faultkit.py``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from faultkit import LR, REPO, Result, harness_env

from harness.cli import main


@pytest.fixture
def home(shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))
    return shared_home


@pytest.fixture
def cli(home: Path, capsys: pytest.CaptureFixture[str]):
    """``cli(*args)`` runs ``harness ARGS`` in this process and returns a :class:`Result`."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        t0 = time.monotonic()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err, time.monotonic() - t0)

    return run


@pytest.fixture(scope="session")
def warm(shared_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished ``lr`` run in a folder of its own (builds the miniature and its features once)."""
    out = tmp_path_factory.mktemp("warm")
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", *LR, "--out", str(out)], cwd=REPO,
                          env=harness_env(shared_home), capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    return out
