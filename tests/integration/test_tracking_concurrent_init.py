"""Two processes opening one new local MLflow store at once (two `harness tune` workers) must both work."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # two spawned processes importing MLflow (about 10 s)

# (store folder, HARNESS_MLFLOW_TEMPLATE): MLflow's own migrations racing; both workers making the
# schema template at once; both copying the template that now exists.
ATTEMPTS = (("no_template", "0"), ("template_made", "1"), ("template_copied", "1"))


def _open_and_log(root: str, barrier: object, results: object) -> None:
    from harness.tracking import Tracker, default_tracking_uri

    for name, template in ATTEMPTS:
        os.environ["HARNESS_MLFLOW_TEMPLATE"] = template
        out = Path(root) / name
        barrier.wait()  # type: ignore[attr-defined]  # start together: the race is on the new store
        try:
            tracker = Tracker(default_tracking_uri(out), out)
            results.put((name, "ok", tracker.start("concurrent", "r", {})))  # type: ignore[attr-defined]
        except Exception as exc:  # reported to the parent, which fails the test with the reason
            results.put((name, "error", f"{type(exc).__name__}: {exc}"))  # type: ignore[attr-defined]


def test_two_processes_create_one_store(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")  # the race does not show every time: three fresh stores, one pair of processes
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_open_and_log, args=(str(tmp_path), barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(2 * len(ATTEMPTS))]
    for p in procs:
        p.join(timeout=60)
    assert all(kind == "ok" for _, kind, _ in outcomes), outcomes
    for name, _ in ATTEMPTS:
        assert len({run_id for n, _, run_id in outcomes if n == name}) == 2, (name, outcomes)
    assert sorted(p.name for p in (Path(os.environ["HARNESS_HOME"]) / "schemas").glob("*.db")), "no template made"
