"""Fault-injection suite: kills, torn files, bad input, unreachable servers (issue 17).

Every test asserts the exit code, a message naming what went wrong and where, no traceback
without ``--debug``, that no finished result is lost or duplicated and that no secret is printed.
Commands that need signals run as real subprocesses; the others call ``harness.cli.main`` in
process. All share one HARNESS_HOME (the session's), so the miniature and its features are built
once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.cli import main

REPO = Path(__file__).resolve().parents[2]
LR = ["--method", "lr", "--dataset", "trecvid2013-mini", "--device", "cpu"]


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


def assert_clean(result: Result, *secrets: str) -> None:
    """No traceback (no --debug was given) and no secret anywhere in the output."""
    assert "Traceback" not in result.text, result.text
    for secret in secrets:
        assert secret not in result.text, f"{secret!r} printed:\n{result.text}"


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


def harness_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(HARNESS_HOME=str(home), HARNESS_PROGRESS="0", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env


def spawn(home: Path, *args: str, **popen: object) -> subprocess.Popen[str]:
    """``harness ARGS`` as a subprocess (its own process group, so a test's signals reach only it)."""
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=REPO, env=harness_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            **popen)  # type: ignore[call-overload]


def finish(proc: subprocess.Popen[str], timeout: float = 300) -> Result:
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=timeout)
    return Result(proc.returncode, out, err, time.monotonic() - t0)


def children(pid: int) -> list[int]:
    """Pids of the processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def mlflow_runs(out: Path) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{out.resolve() / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    return list(client.search_runs(ids, max_results=1000)) if ids else []


@pytest.fixture(scope="session")
def warm(shared_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished ``lr`` run in a folder of its own (builds the miniature and its features once)."""
    out = tmp_path_factory.mktemp("warm")
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", *LR, "--out", str(out)], cwd=REPO,
                          env=harness_env(shared_home), capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr
    return out
