"""`harness sweep` on a local process pool and on a real local Dask cluster (two worker processes,
loopback only): each cell recorded once, a rerun does no new work, bad scheduler addresses fail fast."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main

pytestmark = pytest.mark.slow

METHOD, DATASET = "lr", "trecvid2013-mini"


@pytest.fixture()
def cli(shared_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # noqa: ANN201
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _finished(out: Path) -> pd.DataFrame:
    t = pd.read_parquet(out / "results.parquet")
    return t[(t.status == "FINISHED") & (t.metric == "mxinfap") & (t.concept == "")]


def test_local_pool_sweep_resumes(cli, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "runs"
    args = ("sweep", "--methods", METHOD, "--datasets", DATASET, "--seeds", "2", "--workers", "2", "--out", str(out),
            "--device", "cpu")
    code, stdout, err = cli(*args)
    assert code == 0, err
    assert "2 to run on 2 local worker(s)" in stdout
    first = _finished(out)
    assert sorted(first.seed) == [0, 1] and first.run_id.nunique() == 2
    assert "mxinfap" in stdout and "n=2" in stdout  # summary with mean, std, n, CI
    rows = len(pd.read_parquet(out / "results.parquet"))

    code, stdout, err = cli(*args)
    assert code == 0, err
    assert "2 already recorded" in stdout and "0 to run" in stdout
    assert len(pd.read_parquet(out / "results.parquet")) == rows  # nothing new was run or written

    # one more seed runs only the new cell
    code, stdout, err = cli(*args[:6], "3", *args[7:])
    assert code == 0, err
    assert "1 to run" in stdout
    assert sorted(_finished(out).seed) == [0, 1, 2]


def test_dask_cluster_sweep_and_rerun(cli, tmp_path: Path) -> None:  # noqa: ANN001
    from distributed import LocalCluster

    out = tmp_path / "runs"  # HARNESS_HOME (set by the fixture) is inherited by the Dask worker processes
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=40) as cluster:
        args = ("sweep", "--methods", METHOD, "--datasets", DATASET, "--seeds", "2", "--scheduler",
                cluster.scheduler_address, "--out", str(out), "--device", "cpu")
        code, stdout, err = cli(*args)
        assert code == 0, err
        assert f"2 to run on Dask cluster {cluster.scheduler_address}" in stdout
        hosts = set(re.findall(r"on (\S+:\d+)\)", stdout))
        assert hosts and all(int(h.rsplit(":", 1)[1]) != os.getpid() for h in hosts)  # ran in the Dask workers
        first = _finished(out)
        assert sorted(first.seed) == [0, 1]
        rows = len(pd.read_parquet(out / "results.parquet"))

        code, stdout, err = cli(*args)
        assert code == 0, err
        assert "0 to run" in stdout
        assert len(pd.read_parquet(out / "results.parquet")) == rows


def test_unreachable_scheduler_fails_fast(cli, tmp_path: Path) -> None:  # noqa: ANN001
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, stdout, _ = cli("sweep", "--methods", METHOD, "--datasets", DATASET, "--dry-run", "--out", str(tmp_path))
    assert code == 0 and "to run: lr on trecvid2013-mini seed 0" in stdout  # also loads the plugins (slow imports)
    t0 = time.monotonic()
    code, _, err = cli("sweep", "--methods", METHOD, "--datasets", DATASET, "--scheduler", f"tcp://127.0.0.1:{port}",
                       "--out", str(tmp_path))
    assert code == 1 and "Traceback" not in err
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in err
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--methods", "lrr", "--datasets", DATASET), "Did you mean 'lr'"),
        (("--methods", "lr,lr", "--datasets", DATASET), "lists lr more than once"),
        (("--methods", "lr", "--datasets", DATASET, "--seeds", "0"), "--seeds must be a positive"),
        (("--methods", "lr", "--datasets", DATASET, "--tuned"), "no lock file for (lr, trecvid2013-mini)"),
        (("--methods", "lr", "--datasets", DATASET, "--scheduler", "localhost"), "expected tcp://HOST:PORT"),
    ],
)
def test_bad_plans_fail_before_any_run(cli, tmp_path: Path, args: tuple[str, ...], expected: str) -> None:  # noqa: ANN001
    code, _, err = cli("sweep", *args, "--out", str(tmp_path))
    assert code == 1 and expected in err and "Traceback" not in err
    assert not (tmp_path / "results.parquet").exists()
