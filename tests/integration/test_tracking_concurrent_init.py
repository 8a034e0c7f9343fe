"""Two processes opening one new local MLflow store at once (two `harness tune` workers) must both work."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path


def _open_and_log(out_dir: str, barrier: object, results: object) -> None:
    from harness.tracking import Tracker, default_tracking_uri

    barrier.wait()  # type: ignore[attr-defined]  # start together: the race is on the new store
    try:
        tracker = Tracker(default_tracking_uri(Path(out_dir)), Path(out_dir))
        run_id = tracker.start("concurrent", "r", {})
        results.put(("ok", run_id))  # type: ignore[attr-defined]
    except Exception as exc:  # reported to the parent, which fails the test with the reason
        results.put(("error", f"{type(exc).__name__}: {exc}"))  # type: ignore[attr-defined]


def test_two_processes_create_one_store(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    for attempt in range(3):  # the race does not show every time; three fresh stores
        out = tmp_path / f"out{attempt}"
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_open_and_log, args=(str(out), barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert all(kind == "ok" for kind, _ in outcomes), outcomes
        assert len({run_id for _, run_id in outcomes}) == 2
