"""Extending, resuming and interrupting a study: new points every time, no run left RUNNING."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest
from faultkit import LR, assert_clean, finish, mlflow_runs, spawn

pytestmark = pytest.mark.slow

TUNE = ["tune", *LR, "--pruner", "none", "--no-plot"]


def _values(out: Path) -> list[float]:
    import optuna

    storage = f"sqlite:///{out / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    return [t.params["C"] for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]


def test_extending_a_study_samples_new_points(cli, warm: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    first = cli(*TUNE, "--trials", "2", "--out", str(out))
    assert first.code == 0, first.text
    second = cli(*TUNE, "--trials", "4", "--out", str(out))
    assert second.code == 0, second.text
    assert_clean(second)
    values = _values(out)
    assert len(values) == 4
    assert len(set(values)) == 4, f"the extension repeated parameters: {values}"


def test_sigint_of_tune_closes_its_runs_and_resume_samples_new_points(home: Path, warm: Path, tmp_path: Path) -> None:
    out = tmp_path / "t"
    proc = spawn(home, *TUNE, "--trials", "3", "--out", str(out))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if list((out / "results.parts").glob("*.parquet")):
            break  # one trial recorded, the next one starting (reading the stores now could race their creation)
        time.sleep(0.5)
    assert proc.poll() is None, finish(proc).text
    proc.send_signal(signal.SIGINT)
    stopped = finish(proc, timeout=60)
    assert stopped.code == 130, stopped.text
    assert "interrupted" in stopped.err and "rerun the same command" in stopped.err
    assert_clean(stopped)
    assert not [r for r in mlflow_runs(out) if r.info.status == "RUNNING"], "interrupted runs left RUNNING"

    resumed = finish(spawn(home, *TUNE, "--trials", "3", "--out", str(out)))
    assert resumed.code == 0, resumed.text
    values = _values(out)
    assert len(values) == 3 and len(set(values)) == 3, f"resume repeated parameters: {values}"


def test_trials_of_a_dead_local_worker_are_failed_and_requeued_at_once(tmp_path: Path) -> None:
    import optuna

    from harness.tuning_trials import fail_dead_local_trials

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", study_name="s")
    trial = study.ask({"C": optuna.distributions.FloatDistribution(0.01, 10, log=True)})
    trial.set_user_attr("process", f"{socket.gethostname()}:999999999:1")  # a pid that cannot exist
    alive = study.ask({"C": optuna.distributions.FloatDistribution(0.01, 10, log=True)})
    from harness.tracking import process_id

    alive.set_user_attr("process", process_id())
    assert fail_dead_local_trials(study) == [trial.number]
    states = {t.number: t.state.name for t in study.get_trials(deepcopy=False)}
    assert states[trial.number] == "FAIL" and states[alive.number] == "RUNNING"
    (waiting,) = [t for t in study.get_trials(deepcopy=False) if t.state.name == "WAITING"]
    assert waiting.params == {} or waiting.system_attrs.get("fixed_params") == {"C": trial.params["C"]}


def test_resumed_sampler_seed_depends_on_the_history() -> None:
    from harness.tuning import TuneRequest
    from harness.tuning_trials import _sampler_seed

    request = TuneRequest(method="lr", dataset="trecvid2013-mini", seed=0)
    seeds = {_sampler_seed(request, n) for n in range(5)}
    assert len(seeds) == 5
    assert _sampler_seed(request, 3) == _sampler_seed(request, 3)  # reproducible


def _trial_states(db: Path) -> list[str]:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return [row[0] for row in con.execute("SELECT state FROM trials ORDER BY number")]
    except sqlite3.Error:
        return []


def test_kill9_of_tune_mid_trial_retries_it_at_once_and_samples_new_points(home: Path, tmp_path: Path) -> None:
    import optuna

    out = tmp_path / "t"
    proc = spawn(home, *TUNE, "--trials", "3", "--out", str(out))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        states = _trial_states(out / "optuna.db")
        if "COMPLETE" in states and states[-1] == "RUNNING":
            break  # killed in the middle of the second trial
        time.sleep(0.2)
    assert proc.poll() is None, finish(proc).text
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    resumed = finish(spawn(home, *TUNE, "--trials", "3", "--out", str(out)))
    assert resumed.code == 0, resumed.text  # before the fix it waited forever for the killed trial
    assert_clean(resumed)
    storage = f"sqlite:///{out / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    trials = optuna.load_study(study_name=summary.study_name, storage=storage).get_trials(deepcopy=False)
    killed = trials[1]
    assert killed.state.name == "FAIL"  # failed at once by the next worker on this host, not after the grace period
    if killed.params:  # killed after drawing its parameters: they are tried again
        retries = [t for t in trials if t.user_attrs.get("retried_from") == killed.number]
        assert retries and retries[0].state.name == "COMPLETE" and retries[0].params == killed.params
    assert sum(t.state.name == "COMPLETE" for t in trials) == 3
    fresh = [t.params["C"] for t in trials if t.state.name == "COMPLETE" and "retried_from" not in t.user_attrs]
    assert len(fresh) == len(set(fresh)), f"the resumed study repeated parameters: {fresh}"
    assert not [r for r in mlflow_runs(out) if r.info.status == "RUNNING"]


def test_an_unnamed_running_trial_is_failed_once_old_enough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed between Optuna creating the trial and the objective naming its worker: no heartbeat ever."""
    import optuna

    from harness import tuning_trials

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'o.db'}", study_name="s")
    trial = study.ask()
    assert tuning_trials.fail_dead_local_trials(study) == []  # a live worker may be about to name it
    monkeypatch.setattr(tuning_trials, "UNNAMED_TRIAL_LOST_S", 0.0)
    assert tuning_trials.fail_dead_local_trials(study) == [trial.number]
    assert [t.state.name for t in study.get_trials(deepcopy=False)] == ["FAIL"]  # no parameters: no retry
