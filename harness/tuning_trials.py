"""Trial bookkeeping of ``harness tune``: Optuna translation, budget accounting, the study and its MLflow parent.

Part of the tuning package (:mod:`harness.tuning` re-exports these names); imports optuna lazily.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import InvalidParameterError
from harness.search_space import (
    Categorical,
    Dimension,
    IntRange,
    LogUniform,
    Uniform,
    fingerprint,
    grid_of,
)
from harness.tuning_storage import TuningError, redact_url

if TYPE_CHECKING:
    from harness.tuning import StudyPlan, TuneRequest

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "grid", "random")
UNNAMED_TRIAL_LOST_S = 30.0
PRUNERS = ("median", "none")

# --------------------------------------------------------------------------------------------
# Optuna translation
# --------------------------------------------------------------------------------------------


def to_distribution(dim: Dimension) -> Any:
    """The Optuna distribution of one search-space dimension."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dim, LogUniform):
        return FloatDistribution(dim.low, dim.high, log=True)
    if isinstance(dim, Uniform):
        return FloatDistribution(dim.low, dim.high)
    if isinstance(dim, IntRange):
        return IntDistribution(dim.low, dim.high, log=dim.log, step=dim.step)
    if isinstance(dim, Categorical):
        return CategoricalDistribution(list(dim.choices))
    raise TypeError(f"not a search-space dimension: {dim!r}")


def suggest(trial: Any, name: str, dim: Dimension) -> Any:
    """Draw ``name`` from ``dim`` through the trial's public ``suggest_*`` API."""
    if isinstance(dim, LogUniform):
        return trial.suggest_float(name, dim.low, dim.high, log=True)
    if isinstance(dim, Uniform):
        return trial.suggest_float(name, dim.low, dim.high)
    if isinstance(dim, IntRange):
        return trial.suggest_int(name, dim.low, dim.high, step=dim.step, log=dim.log)
    if isinstance(dim, Categorical):
        return trial.suggest_categorical(name, list(dim.choices))
    raise TypeError(f"not a search-space dimension: {dim!r}")


def make_sampler(kind: str, space: Mapping[str, Dimension], seed: int) -> Any:
    import optuna

    if kind == "tpe":
        # constant_liar: running trials of other workers count as bad guesses, so parallel
        # workers do not all propose the same point.
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        return optuna.samplers.GridSampler(grid_of(space), seed=seed)
    raise InvalidParameterError(f"--sampler must be one of {', '.join(SAMPLERS)}; got {kind!r}")


def make_pruner(kind: str) -> Any:
    import optuna

    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise InvalidParameterError(f"--pruner must be one of {', '.join(PRUNERS)}; got {kind!r}")


# --------------------------------------------------------------------------------------------
# Trial bookkeeping
# --------------------------------------------------------------------------------------------


class _OverBudget(Exception):
    """A trial created by a worker that lost a race for the last slot of the budget."""


class _RunFailed(Exception):
    """The run of a trial failed (recorded on the trial as user attribute ``error``)."""


def _counts(trial: Any) -> bool:
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and "error" in trial.user_attrs


def _budget_state(study: Any, heartbeat: bool) -> tuple[int, int, int]:
    """(counted, running, waiting) trials of the study."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counted = sum(_counts(t) for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials) if heartbeat else 0
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    return counted, running, waiting


def _over_budget(study: Any, number: int, budget: int) -> bool:
    """True when ``budget`` trials that count (or may still count) precede trial ``number``."""
    from optuna.trial import TrialState

    ahead = 0
    for t in study.get_trials(deepcopy=False):
        if t.number < number and (_counts(t) or t.state in (TrialState.RUNNING, TrialState.WAITING)):
            ahead += 1
    return ahead >= budget


def history(study: Any) -> list[dict[str, Any]]:
    """Every trial as ``{number, state, value, params, run_id}`` (for the status table and plots)."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({"number": t.number, "state": t.state.name, "value": t.value, "params": dict(t.params),
                     "run_id": t.user_attrs.get("mlflow_run_id"), "error": t.user_attrs.get("error")})
    return rows


def _best(study: Any) -> Any:
    from optuna.trial import TrialState

    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if t.value is not None]
    if not done:
        return None
    maximize = study.direction.name == "MAXIMIZE"
    # Ties go to the earliest trial, so every worker names the same best trial.
    return sorted(done, key=lambda t: ((-t.value if maximize else t.value), t.number))[0]


def _trial_tracker(tracking_uri: str, out_dir: Path) -> Any:
    """A Tracker that stamps each trial with its MLflow run id and records pruned runs as KILLED."""
    from harness.tracking import Tracker

    class TrialTracker(Tracker):
        trial: Any = None
        pruned_at: int | None = None

        def start(self, experiment: str, run_name: str, tags: Mapping[str, str], parent_run_id: str | None = None) -> str:
            run_id = super().start(experiment, run_name, tags, parent_run_id=parent_run_id)
            if self.trial is not None:
                # Set at start, so a trial whose worker dies still names its MLflow run.
                self.trial.set_user_attr("mlflow_run_id", run_id)
            return run_id

        def fail(self, run_id: str, error: str) -> None:
            if self.pruned_at is None:
                super().fail(run_id, error)
                return
            self.set_tags(run_id, {"harness.pruned_at_step": self.pruned_at})
            self.client.set_terminated(run_id, status="KILLED")
            from harness.tracking import _closed

            _closed(run_id)  # closed: an interruption later must not re-label it

    return TrialTracker(tracking_uri, out_dir)


def _parent_key(tracking_uri: str) -> str:
    return "mlflow_parent_run_id:" + hashlib.sha256(redact_url(tracking_uri).encode()).hexdigest()[:8]


def _load_or_create_study(request: TuneRequest, plan: StudyPlan, storage: Any,
                          direction: Literal["maximize", "minimize"], metric: str,
                          tracker: Any, storage_shown: str) -> tuple[Any, str]:
    """Create the study (and its MLflow parent run) or join it; returns (study, parent run id)."""
    import optuna

    sampler = make_sampler(request.sampler, plan.space, _sampler_seed(request))
    pruner = make_pruner(request.pruner)
    key = _parent_key(tracker.tracking_uri)
    try:
        study = optuna.create_study(study_name=plan.name, storage=storage, sampler=sampler, pruner=pruner,
                                    direction=direction, load_if_exists=False)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=plan.name, storage=storage, sampler=sampler, pruner=pruner)
        created = False
    n_before = len(study.get_trials(deepcopy=False))
    if n_before and request.sampler != "grid":
        # Resumed or extended: a sampler seeded as at the start would draw the same points
        # again, so its seed also covers the trials the study already has. Not the grid sampler:
        # it skips visited points by itself, and its seed orders the grid, so another seed would
        # give the stored grid ids other meanings (a visited point again, an unvisited one never).
        study.sampler = make_sampler(request.sampler, plan.space, _sampler_seed(request, n_before))
    if created:
        for k, v in {"method": request.method, "dataset": request.dataset, "config_hash": plan.config_hash,
                     "metric": metric, "space": fingerprint(plan.space), "base_sets": list(plan.base_sets),
                     "seed": request.seed, "val_fraction": request.val_fraction}.items():
            study.set_user_attr(k, v)
    elif study.direction.name.lower() != direction:
        raise TuningError(f"study {plan.name!r} in {storage_shown} optimises {study.direction.name.lower()}, "
                          f"but {metric!r} needs {direction}; choose another --study name")
    parent = study.user_attrs.get(key)
    if parent is None and not created and not any(k.startswith("mlflow_parent_run_id:") for k in study.user_attrs):
        # A study just created by another worker: its creator sets the parent run right away.
        deadline = time.monotonic() + 20
        while parent is None and time.monotonic() < deadline:
            time.sleep(0.5)
            parent = optuna.load_study(study_name=plan.name, storage=storage).user_attrs.get(key)
    if parent is not None:
        try:
            tracker.client.update_run(parent, status="RUNNING")  # resumed or joined
        except Exception:  # the run was deleted from the tracking store: start a new parent
            log.warning("MLflow parent run %s of study %s is gone; starting a new one", parent, plan.name)
            parent = None
    if parent is None:
        parent = tracker.start(request.dataset, f"tune {plan.name}", {
            "harness.role": "study", "harness.study": plan.name, "harness.method": request.method,
            "harness.dataset": request.dataset, "harness.config_hash": plan.config_hash,
            "harness.storage": storage_shown, "harness.sampler": request.sampler, **request.tags,
        })
        tracker.log_params(parent, {
            "tune.space": fingerprint(plan.space), "tune.base_sets": list(plan.base_sets), "tune.seed": request.seed,
            "tune.val_fraction": request.val_fraction, "tune.metric": metric, "tune.direction": direction,
        })
        study.set_user_attr(key, parent)
    return study, parent


def _sampler_seed(request: TuneRequest, n_trials: int = 0) -> int:
    """The sampler's seed: the study's seed and worker index, plus the trials the study already has
    (a study that is extended or resumed draws new points, reproducibly)."""
    from harness.seeding import derive_seed

    if n_trials == 0:
        return derive_seed(request.seed, "sampler", request.worker_index)
    return derive_seed(request.seed, "sampler", request.worker_index, "resume", n_trials)


def fail_dead_local_trials(study: Any) -> list[int]:
    """Mark FAIL (and re-queue) the RUNNING trials whose worker ran on this host and is gone.

    Heartbeats find them too, but only after the grace period (minutes by default); a worker on
    the same host can tell at once that the process is gone (kill -9, a crash).
    """
    import datetime as dt

    from optuna.trial import TrialState

    from harness.tracking import process_alive

    host = socket.gethostname()
    failed = []
    now = dt.datetime.now()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(t.user_attrs.get("process", ""))
        if worker:
            if not worker.startswith(host + ":") or process_alive(worker):
                continue
        else:
            # Killed between Optuna creating the trial and the objective naming its worker (before
            # any heartbeat, so heartbeats never find it): a live worker names itself within
            # milliseconds, so an unnamed trial this old is lost.
            started = t.datetime_start
            if started is None or (now - started).total_seconds() < UNNAMED_TRIAL_LOST_S:
                continue
        study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
        if t.params:  # nothing was tried yet without parameters: no retry needed
            study.enqueue_trial(dict(t.params), user_attrs={"retried_from": t.number})
        failed.append(t.number)
    if failed:
        log.warning("trials %s of %s lost their worker on this host (process gone); re-queued with the same "
                    "parameters", failed, study.study_name)
    return failed


def _dataset_metric(plan: StudyPlan, request: TuneRequest) -> tuple[str, Literal["maximize", "minimize"]]:
    """(validation metric, 'maximize'|'minimize'), read from the data set's protocol."""
    from harness import api

    ds = plan.adapter_cls().load(request.data_root, plan.dataset_config)
    metric = ds.protocol.val_metric
    return metric, ("maximize" if api.METRICS.get(metric).higher_is_better else "minimize")


def make_reporter(trial: Any, tracker: Any = None) -> Any:
    """The callback behind :func:`harness.search_space.report` for one trial: record, ask the pruner."""

    def reporter(step: int, value: float) -> bool:
        trial.report(value, step)
        if trial.should_prune():
            if tracker is not None:
                tracker.pruned_at = step
            return True
        return False

    return reporter


def _trial_by_number(study: Any, number: int | None) -> Any:
    if number is None:
        return None
    for t in study.get_trials(deepcopy=False):
        if t.number == number:
            return t
    return None


def _log_parent_progress(tracker: Any, parent: str, study: Any, trial: Any) -> None:
    best = _best(study)
    metrics = {"best_value": best.value} if best is not None else {}
    if trial.value is not None:
        metrics["trial_value"] = trial.value
    if metrics:
        tracker.log_metrics(parent, metrics, step=trial.number)

