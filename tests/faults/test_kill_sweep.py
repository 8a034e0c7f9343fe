"""kill -9 of a sweep's main process: its workers die with it, and a rerun neither loses nor duplicates a cell."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from faultkit import (
    DATASET,
    HEADLINE,
    LR,
    SETS,
    alive,
    assert_clean,
    children,
    finish,
    mlflow_runs,
    spawn,
)

from harness import results
from harness.sweep import claimed

pytestmark = pytest.mark.slow

SWEEP = ["sweep", "--methods", "lr", "--datasets", DATASET, "--device", "cpu", *SETS, "--seeds", "3", "--workers", "2"]


def _finished_cells(out: Path) -> list[tuple[int, str]]:
    table = results.read_table(out)
    done = table[(table.status == "FINISHED") & (table.concept == "") & (table.metric == HEADLINE)]
    return sorted((int(s), str(r)) for s, r in zip(done.seed, done.run_id, strict=True))


def test_kill9_sweep_parent_kills_workers_and_rerun_has_no_duplicates(home: Path, warm: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    proc = spawn(home, *SWEEP, "--out", str(out))
    workers: list[int] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        workers = [p for p in children(proc.pid) if "spawn" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
        if len(workers) >= 2 and (out / "claims").is_dir() and any((out / "claims").iterdir()):
            break  # workers are running cells
        time.sleep(0.2)
    assert proc.poll() is None, finish(proc).text
    assert workers, "the pool started no worker"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    gone_by = time.monotonic() + 15
    while time.monotonic() < gone_by and any(alive(p) for p in workers):
        time.sleep(0.2)
    assert not [p for p in workers if alive(p)], "pool workers outlived the killed sweep"
    before = _finished_cells(out)

    rerun = finish(spawn(home, *SWEEP, "--out", str(out)))
    assert rerun.code == 0, rerun.text
    assert_clean(rerun)
    cells = _finished_cells(out)
    assert [s for s, _ in cells] == [0, 1, 2], cells  # every cell once: none lost, none twice
    assert set(before) <= set(cells)  # results finished before the kill are kept
    runs = mlflow_runs(out)
    assert sum(r.info.status == "FINISHED" for r in runs) == 3
    assert not [r for r in runs if r.info.status == "RUNNING"], "runs of the killed workers still RUNNING"
    for run in runs:
        assert "harness.process" in run.data.tags

    again = finish(spawn(home, *SWEEP, "--out", str(out), "--dry-run"))
    assert again.code == 0 and "3 already recorded" in again.out and "0 to run" in again.out, again.text


def test_a_claimed_cell_waits_for_its_holder_then_is_skipped(tmp_path: Path) -> None:
    """Two claimants of one cell run one after the other (the second then finds it recorded)."""
    import threading

    path = tmp_path / "claims" / "lr@x-abc-s0.lock"
    order: list[str] = []

    def second() -> None:
        with claimed(path):
            order.append("second in")

    with claimed(path):
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("first out")
    t.join(5)
    assert order == ["first out", "second in"]


def _run_states(db: Path) -> list[str]:
    """Run states read straight from the SQLite store (no MLflow client: it would migrate a store being created)."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return [row[0] for row in con.execute("SELECT status FROM runs")]
    except sqlite3.Error:
        return []


def test_kill9_of_a_run_is_closed_as_killed_by_results_check(cli, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    proc = spawn(home, "run", *LR, "--out", str(out))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and "RUNNING" not in _run_states(out / "mlflow.db"):
        time.sleep(0.2)
    assert proc.poll() is None, finish(proc).text
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert _run_states(out / "mlflow.db") == ["RUNNING"]  # what a kill -9 leaves behind
    check = cli("results", "check", "--out", str(out))
    assert check.code == 0 and "1 run(s) left RUNNING by a process that is gone closed as KILLED" in check.out, check.text
    assert _run_states(out / "mlflow.db") == ["KILLED"]
    (run,) = mlflow_runs(out)
    assert "is gone" in run.data.tags["harness.end_reason"]
