"""Tuning on a real PostgreSQL server (loopback only): two `harness tune` workers share one study;
a worker killed mid-trial leaves the study consistent and its trial is retried.

The fixture starts a throw-away cluster with the Debian ``postgresql`` binaries
(``/usr/lib/postgresql/*/bin``) on a free port bound to 127.0.0.1, as the ``postgres`` user when the
tests run as root (initdb refuses root). It skips with the reason when the binaries are absent
(CI installs them: ``apt-get install -y postgresql``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
METHOD, DATASET = "lr", "trecvid2013-mini"


def _pg_bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                        if Path(p).parent.name.isdigit() else 0, reverse=True)
    for d in candidates:
        if os.access(Path(d) / "initdb", os.X_OK) and os.access(Path(d) / "pg_ctl", os.X_OK):
            return Path(d)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(pg_ctl).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """URL prefix ``postgresql://postgres@127.0.0.1:PORT`` of a fresh server with databases optuna, mlflow."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or on "
                    "PATH; install them with 'apt-get install -y postgresql'")
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:  # initdb refuses to run as root: use the package's service account
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("tests run as root and there is no 'postgres' user to run the server as "
                        "(the Debian 'postgresql' package creates it)")
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("tests run as root and 'runuser' (util-linux) is missing to start PostgreSQL as 'postgres'")
        run_as = [runuser, "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="harness-pg-"))  # not under pytest's 0700 tmp: postgres must enter it
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    data, logfile, port = base / "data", base / "server.log", _free_port()

    def run(cmd: list[str]) -> None:
        subprocess.run(run_as + cmd, check=True, capture_output=True, text=True, timeout=120)

    try:
        run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=200"
        run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(logfile), "-o", opts, "-w", "-t", "60", "start"])
    except subprocess.CalledProcessError as exc:
        log = logfile.read_text() if logfile.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {exc.stderr}\n{log}") from exc
    url = f"postgresql://postgres@127.0.0.1:{port}"
    try:
        import psycopg

        with psycopg.connect(f"{url}/postgres", autocommit=True) as conn:
            for db in ("optuna", "mlflow", "optuna_kill"):
                conn.execute(f"CREATE DATABASE {db}")
        yield url
    finally:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def warm_home(shared_home: Path) -> Path:
    """HARNESS_HOME with the miniature and its features built (the workers only fit and score)."""
    from harness.runner import RunRequest, execute

    old = os.environ.get("HARNESS_HOME")
    os.environ["HARNESS_HOME"] = str(shared_home)
    try:
        out = Path(tempfile.mkdtemp(prefix="harness-warm-"))
        execute(RunRequest(method=METHOD, dataset=DATASET, out_dir=out, device="cpu", eval_split="val"))
        shutil.rmtree(out, ignore_errors=True)
    finally:
        if old is None:
            os.environ.pop("HARNESS_HOME", None)
        else:
            os.environ["HARNESS_HOME"] = old
    return shared_home


def _worker(home: Path, out: Path, storage: str, tracking: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HARNESS_HOME": str(home), "HARNESS_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [sys.executable, "-m", "harness.cli", "tune", "--method", METHOD, "--dataset", DATASET, "--device", "cpu",
           "--storage", storage, "--tracking-uri", tracking, "--out", str(out), "--no-plot", *extra]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen[str], timeout: float = 400) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"worker did not finish in {timeout} s:\n{out}") from None
    assert proc.returncode == 0, out
    return out


def _study(storage_url: str, name: str | None = None):  # noqa: ANN202 - an optuna Study
    import optuna

    from harness.tuning import open_storage

    storage = open_storage(storage_url, heartbeat_interval=None)
    names = [s.study_name for s in storage.get_all_studies()]
    assert names, "no study was created"
    return optuna.load_study(study_name=name or names[0], storage=storage)


def _child_runs(tracking: str, parent: str) -> dict:
    from harness.tracking import Tracker

    tracker = Tracker(tracking, Path(tempfile.gettempdir()))
    exp = tracker.experiment_id(DATASET)
    runs = tracker.client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{parent}'", max_results=1000)
    return {r.info.run_id: r for r in runs}


def _init_tracking(tracking: str) -> None:
    # Create MLflow's schema once before the workers start (a tracking server does this in production).
    from harness.tracking import Tracker

    Tracker(tracking, Path(tempfile.gettempdir())).experiment_id(DATASET)


def test_two_workers_share_one_study(postgres: str, warm_home: Path, tmp_path: Path) -> None:
    from optuna.trial import TrialState

    storage, tracking, n_trials = f"{postgres}/optuna", f"{postgres}/mlflow", 4
    _init_tracking(tracking)
    workers = [_worker(warm_home, tmp_path / f"w{i}", storage, tracking, "--trials", str(n_trials),
                       "--worker-index", str(i), "--heartbeat-interval", "2") for i in range(2)]
    outputs = [_finish(w) for w in workers]

    study = _study(storage)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    assert len(complete) == n_trials, [(t.number, t.state.name, t.user_attrs) for t in trials]
    assert len({t.user_attrs["worker"] for t in complete}) == 2, "both workers should have run trials"
    assert all(f"trials counted: {n_trials}/{n_trials}" in out for out in outputs), outputs

    parent = next(v for k, v in study.user_attrs.items() if k.startswith("mlflow_parent_run_id:"))
    children = _child_runs(tracking, parent)
    for t in complete:
        run = children[t.user_attrs["mlflow_run_id"]]  # every trial is an MLflow child run of the study
        assert run.info.status == "FINISHED"
        assert run.data.tags["harness.eval_split"] == "val"
        assert run.data.metrics["map"] == pytest.approx(t.value)
    # both workers wrote the same lock file content (same best trial)
    import yaml

    locks = [yaml.safe_load((tmp_path / f"w{i}" / "tuned" / f"{METHOD}@{DATASET}.yaml").read_text()) for i in range(2)]
    assert locks[0]["trial_number"] == locks[1]["trial_number"] == study.best_trial.number
    assert locks[0]["storage"] == storage  # no password in this URL; redaction is tested separately


def test_killed_worker_trial_is_retried(postgres: str, warm_home: Path, tmp_path: Path) -> None:
    from optuna.trial import TrialState

    storage, tracking, n_trials = f"{postgres}/optuna_kill", f"{postgres}/mlflow", 3
    _init_tracking(tracking)
    args = ("--trials", str(n_trials), "--study", "kill-test", "--heartbeat-interval", "1", "--grace-period", "3")
    victim = _worker(warm_home, tmp_path / "victim", storage, tracking, *args, "--worker-index", "0")
    deadline = time.monotonic() + 240
    killed_number = None
    while time.monotonic() < deadline and killed_number is None:
        time.sleep(0.3)
        assert victim.poll() is None, f"the worker ended before it could be killed:\n{victim.communicate()[0]}"
        try:
            running = [t for t in _study(storage, "kill-test").get_trials(deepcopy=False)
                       if t.state == TrialState.RUNNING and "mlflow_run_id" in t.user_attrs]
        except Exception:  # the study does not exist yet
            continue
        if running:
            victim.send_signal(signal.SIGKILL)  # mid-trial: its run has started and is not finished
            killed_number = running[0].number
    victim.communicate()
    assert killed_number is not None, "no trial reached the running state in time"

    survivor = _worker(warm_home, tmp_path / "survivor", storage, tracking, *args, "--worker-index", "1")
    out = _finish(survivor)
    assert f"trials counted: {n_trials}/{n_trials}" in out, out

    trials = _study(storage, "kill-test").get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    assert by_number[killed_number].state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed_number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == by_number[killed_number].params  # same parameters, run again
    assert sum(t.state == TrialState.COMPLETE for t in trials) == n_trials
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]

    from harness.tracking import Tracker

    lost_run = by_number[killed_number].user_attrs["mlflow_run_id"]
    assert Tracker(tracking, tmp_path).get_run(lost_run).info.status == "FAILED"  # not left RUNNING forever
