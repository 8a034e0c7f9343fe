"""Tuning internals: Optuna translation, samplers, URL redaction, storage errors, budget rules,
pruning hook, lock-file round trip and equal budgets. No method is fitted here."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import optuna
import pytest

from harness import tuning
from harness.errors import InvalidParameterError, MissingDataError
from harness.search_space import (
    PAPER_LR_GRID,
    Categorical,
    IntRange,
    LogUniform,
    TrialPruned,
    Uniform,
    report,
    reporting,
)
from harness.tuning_lock import check_equal_budgets, lock_path, read_lock, tuned_sets, write_lock

optuna.logging.set_verbosity(optuna.logging.ERROR)


def test_to_distribution() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    assert tuning.to_distribution(LogUniform(1e-3, 1.0)) == FloatDistribution(1e-3, 1.0, log=True)
    assert tuning.to_distribution(Uniform(0.0, 2.0)) == FloatDistribution(0.0, 2.0)
    assert tuning.to_distribution(IntRange(1, 9, 2)) == IntDistribution(1, 9, step=2)
    assert tuning.to_distribution(IntRange(1, 64, log=True)) == IntDistribution(1, 64, log=True)
    assert tuning.to_distribution(PAPER_LR_GRID) == CategoricalDistribution(list(PAPER_LR_GRID.choices))


def test_suggest_uses_the_translated_distributions() -> None:
    space = {"a": LogUniform(1e-3, 1.0), "b": Uniform(0.0, 2.0), "c": IntRange(1, 9, 2), "d": Categorical(("x", "y"))}
    study = optuna.create_study(sampler=tuning.make_sampler("random", space, 0))
    for _ in range(20):
        trial = study.ask()
        values = {k: tuning.suggest(trial, k, d) for k, d in space.items()}
        study.tell(trial, 0.0)
        assert 1e-3 <= values["a"] <= 1.0 and 0.0 <= values["b"] <= 2.0
        assert values["c"] in (1, 3, 5, 7, 9) and values["d"] in ("x", "y")
    assert study.trials[0].distributions == {k: tuning.to_distribution(d) for k, d in space.items()}


def _draws(kind: str, seed: int, n: int = 6) -> list[float]:
    space = {"C": LogUniform(1e-3, 1e3)}
    study = optuna.create_study(sampler=tuning.make_sampler(kind, space, seed), direction="maximize")
    study.optimize(lambda t: -abs(tuning.suggest(t, "C", space["C"]) - 1.0), n_trials=n)
    return [t.params["C"] for t in study.trials]


@pytest.mark.parametrize("kind", ["tpe", "random"])
def test_samplers_are_seeded(kind: str) -> None:
    assert _draws(kind, 3) == _draws(kind, 3)
    assert _draws(kind, 3) != _draws(kind, 4)


def test_grid_sampler_enumerates_the_grid_once() -> None:
    space = {"lr": PAPER_LR_GRID}
    study = optuna.create_study(sampler=tuning.make_sampler("grid", space, 0))
    study.optimize(lambda t: tuning.suggest(t, "lr", space["lr"]), n_trials=7)
    assert sorted(t.params["lr"] for t in study.trials) == sorted(PAPER_LR_GRID.choices)


def test_unknown_sampler_or_pruner() -> None:
    with pytest.raises(InvalidParameterError, match="--sampler must be one of tpe, grid, random"):
        tuning.make_sampler("cmaes", {}, 0)
    with pytest.raises(InvalidParameterError, match="--pruner"):
        tuning.make_pruner("hyperband")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bob:s3cr%40t@db.example:5432/optuna", "postgresql://bob:***@db.example:5432/optuna"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg://u:***@h/db"),
        ("postgresql://bob@h/db", "postgresql://bob@h/db"),
        ("postgresql://h/db?user=u&password=pw&sslmode=require", "postgresql://h/db?user=u&password=***&sslmode=require"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert tuning.redact_url(url) == shown


def test_refused_connection_fails_fast_with_redacted_url_and_reason() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://bob:topsecret@127.0.0.1:{port}/optuna"
    t0 = time.monotonic()
    with pytest.raises(tuning.TuningError) as info:
        tuning.open_storage(url)
    assert time.monotonic() - t0 < 10
    msg = str(info.value)
    assert f"postgresql://bob:***@127.0.0.1:{port}/optuna" in msg
    assert "topsecret" not in msg
    assert "refused" in msg.lower()


def test_silent_server_fails_within_the_deadline() -> None:
    # A socket that accepts TCP connections but never speaks: the client must give up on its own.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(tuning.TuningError) as info:
            tuning.open_storage(f"postgresql://bob:pw@127.0.0.1:{port}/optuna", timeout_s=10)
        elapsed = time.monotonic() - t0
    assert elapsed < 10.5
    assert f"postgresql://bob:***@127.0.0.1:{port}/optuna" in str(info.value)


def test_not_a_url() -> None:
    with pytest.raises(InvalidParameterError, match="not a storage URL"):
        tuning.open_storage("/tmp/optuna.db")


def _trial(state: optuna.trial.TrialState, value: float | None = None, **attrs: object) -> optuna.trial.FrozenTrial:
    from optuna.distributions import FloatDistribution

    return optuna.create_trial(state=state, value=value, params={"C": 1.0},
                               distributions={"C": FloatDistribution(0.1, 10)}, user_attrs=attrs)


def test_budget_counts_finished_pruned_and_erroring_trials_only() -> None:
    S = optuna.trial.TrialState
    study = optuna.create_study(direction="maximize")
    for t in (_trial(S.COMPLETE, 0.5), _trial(S.PRUNED), _trial(S.FAIL, error="boom"),  # counted
              _trial(S.FAIL),  # lost with a dead worker: retried, not counted
              _trial(S.FAIL, over_budget=True),  # lost a race: not counted
              _trial(S.WAITING)):
        study.add_trial(t)
    assert tuning._budget_state(study, heartbeat=True) == (3, 0, 1)
    # trial 5 (waiting) has 3 counted trials before it
    assert not tuning._over_budget(study, 5, budget=4)
    assert tuning._over_budget(study, 5, budget=3)


def test_best_trial_ties_go_to_the_earliest() -> None:
    S = optuna.trial.TrialState
    study = optuna.create_study(direction="minimize")
    for v in (0.3, 0.1, 0.1, 0.2):
        study.add_trial(_trial(S.COMPLETE, v))
    assert tuning._best(study).number == 1


def test_reporter_prunes_a_bad_trial_through_the_method_hook() -> None:
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))

    def objective(trial: optuna.Trial) -> float:
        quality = trial.suggest_float("q", 0.0, 1.0)
        with reporting(tuning.make_reporter(trial)):
            try:
                for epoch in range(5):
                    report(epoch, quality)  # what an epoch-based method's fit() does
            except TrialPruned as exc:
                raise optuna.TrialPruned(str(exc)) from None
        return quality

    for q in (0.9, 0.8, 0.1):
        study.enqueue_trial({"q": q})
    study.optimize(objective, n_trials=3)
    states = [t.state.name for t in study.trials]
    assert states == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert study.trials[2].intermediate_values == {0: 0.1}


def _record(method: str = "lr", dataset: str = "trecvid2013-mini", **extra: object) -> dict:
    return {"method": method, "dataset": dataset, "params": {"C": 0.1 + 0.2, "loss": "hinge"},
            "base_sets": ["max_iter=50"], "best_value": 0.4321, "metric": "map", "trial_number": 7,
            "study": "lr@trecvid2013-mini-abc", "storage": "postgresql://u:***@h/db", "config_hash": "abc",
            "budget": 20, "trials_requested": 20, "trials_counted": 20, **extra}


def test_lock_file_round_trip(tmp_path: Path) -> None:
    path = write_lock(tmp_path, _record())
    assert path == lock_path(tmp_path, "lr", "trecvid2013-mini")
    back = read_lock(tmp_path, "lr", "trecvid2013-mini")
    assert back == _record()
    assert tuned_sets(back) == ("max_iter=50", "C=0.30000000000000004", "loss=hinge")
    assert not list(path.parent.glob(".*.tmp"))  # atomic write leaves no temp file


def test_missing_or_damaged_lock_file(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match=r"no lock file for \(lr, trecvid2013-mini\).*harness tune --method lr"):
        read_lock(tmp_path, "lr", "trecvid2013-mini")
    path = lock_path(tmp_path, "lr", "trecvid2013-mini")
    path.parent.mkdir(parents=True)
    path.write_text("method: lr\ndataset: trecvid2013-mini\n")
    with pytest.raises(InvalidParameterError, match="lacks params, study, config_hash"):
        read_lock(tmp_path, "lr", "trecvid2013-mini")
    path.write_text("method: [unclosed\n")
    with pytest.raises(InvalidParameterError, match="not valid YAML"):
        read_lock(tmp_path, "lr", "trecvid2013-mini")


def test_equal_budgets() -> None:
    assert check_equal_budgets({"lr": _record(), "lsvm": _record("lsvm")}) == 20
    with pytest.raises(InvalidParameterError, match="different trial budgets .*lr: 20, lsvm: 10"):
        check_equal_budgets({"lr": _record(), "lsvm": _record("lsvm", trials_requested=10)})


def test_tune_for_table_refuses_unknown_options() -> None:
    with pytest.raises(InvalidParameterError, match="unknown tuning options: trails"):
        tuning.tune_for_table(["lr"], "trecvid2013-mini", 5, trails=3)


def test_plan_study_validates_before_any_work(tmp_path: Path) -> None:
    base = {"method": "lr", "dataset": "trecvid2013-mini", "out_dir": tmp_path}
    plan = tuning.plan_study(tuning.TuneRequest(**base))
    assert plan.name == f"lr@trecvid2013-mini-{plan.config_hash}" and plan.budget == 20
    # the identity changes with fixed settings, the space and the seed, not with the sampler
    assert tuning.plan_study(tuning.TuneRequest(**base, sampler="random")).name == plan.name
    for other in ({"sets": ("max_iter=50",)}, {"seed": 1}, {"space": ("C=loguniform(0.1,10)",)}):
        assert tuning.plan_study(tuning.TuneRequest(**base, **other)).config_hash != plan.config_hash
    grid = tuning.plan_study(tuning.TuneRequest(**base, sampler="grid", space=("C=choice(0.1,1,10)",)))
    assert grid.budget == 3  # the grid is smaller than the 20 requested trials
    for bad, msg in (({"trials": 0}, "--trials"), ({"timeout": -1}, "--timeout"),
                     ({"sets": ("C=1",)}, "--set fixes C"), ({"space": ("C=loguniform(10,1)",)}, "inconsistent"),
                     ({"grace_period": 30, "heartbeat_interval": 60}, "--grace-period"),
                     ({"method": "lrr"}, "Did you mean 'lr'")):
        with pytest.raises(Exception, match=msg):
            tuning.plan_study(tuning.TuneRequest(**{**base, **bad}))


def test_trial_tracker_stamps_the_trial_and_marks_pruned_runs_killed(tmp_path: Path) -> None:
    tracker = tuning._trial_tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path)
    study = optuna.create_study()
    trial = study.ask()
    tracker.trial = trial
    run_id = tracker.start("toy", "run", {})
    assert study.trials[0].user_attrs["mlflow_run_id"] == run_id  # known even if the worker dies now
    tracker.pruned_at = 3
    tracker.fail(run_id, "trial pruned by the tuner at step 3")
    run = tracker.get_run(run_id)
    assert run.info.status == "KILLED" and run.data.tags["harness.pruned_at_step"] == "3"
    tracker.trial, tracker.pruned_at = None, None
    other = tracker.start("toy", "run2", {})
    tracker.fail(other, "boom")
    assert tracker.get_run(other).info.status == "FAILED"
