"""Helpers of the fault-injection suite (imported by its tests and conftest).

See conftest.py for what every fault test asserts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The cheapest real run: lr on the scene miniature's own 294 features (no source CNN to pretrain,
# no features to extract; a few seconds per fit).
DATASET = "scene-mini"
SETS = ["--set", "backbone=provided", "--set", "layer=all"]
LR = ["--method", "lr", "--dataset", DATASET, "--device", "cpu", *SETS]
HEADLINE = "hamming_loss"


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


def harness_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(HARNESS_HOME=str(home), HARNESS_PROGRESS="0", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env


def _default_sigint() -> None:
    # A pytest-xdist worker ignores SIGINT, and an ignored signal stays ignored across exec (Python
    # then installs no KeyboardInterrupt handler): give the child the default, as a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(home: Path, *args: str, **popen: object) -> subprocess.Popen[str]:
    """``harness ARGS`` as a subprocess (its own process group, so a test's signals reach only it)."""
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], cwd=REPO, env=harness_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_default_sigint, **popen)  # type: ignore[call-overload]


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
