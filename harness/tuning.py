"""Hyper-parameter tuning with Optuna (the only module that imports optuna; it does so lazily).

One study per (method, dataset, config hash); the config hash covers the fixed settings (method
config without the searched keys, data-set config), the search space, the run seed (it fixes the
validation split) and the validation fraction. Each trial is one ``harness run`` scored on the
*validation* split (``eval_split="val"``, metric = the data set's ``val_metric``); the test split
is never seen. Each study is one MLflow parent run, each trial a child run (our own code, not
Optuna's MLflow callback).

Storage: by default an SQLite file ``<out>/optuna.db``; ``--storage postgresql://...`` lets any
number of ``harness tune`` workers on any machines share one study. RDB storages get heartbeats:
a trial whose worker dies stops beating, is marked FAIL after the grace period by the next worker
that looks, and is re-queued with the same parameters (``RetryHeartbeatStaleTrialCallback``).

Budget: ``trials`` is the study's total, shared by all workers. Counted trials are COMPLETE,
PRUNED, and FAIL caused by an error of the run itself (a crashing parameter is an answer too);
trials lost with a dead worker, and trials created over budget in a race, do not count. A worker
waits for trials that other workers are still running (they may die and be retried), so every
worker returns only when the study has its budget (or ``timeout`` passes).

The best parameters go to a lock file ``<out>/tuned/<method>@<dataset>.yaml`` that
``harness run --tuned`` (and the table code) reads with ``harness.tuning_lock.read_lock`` / ``tuned_sets``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import HarnessError, InvalidParameterError
from harness.search_space import (
    Categorical,
    Dimension,
    IntRange,
    LogUniform,
    TrialPruned,
    Uniform,
    fingerprint,
    format_value,
    grid_of,
    grid_size,
    parse_space,
    reporting,
    snap,
    space_of,
    validate_space,
)
from harness.tuning_lock import write_lock

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "grid", "random")
PRUNERS = ("median", "none")
STORAGE_TIMEOUT_S = 10.0
MAX_CONSECUTIVE_ERRORS = 3


class TuningError(HarnessError):
    """Tuning cannot proceed (storage unreachable, every trial failing, ...)."""


@dataclass(frozen=True)
class TuneRequest:
    """Everything ``harness tune`` parses its flags into."""

    method: str
    dataset: str
    trials: int = 20
    timeout: float | None = None
    storage: str | None = None  # None: sqlite:///<out_dir>/optuna.db
    study: str | None = None  # None: "<method>@<dataset>-<config hash>"
    sampler: str = "tpe"
    seed: int = 0
    out_dir: Path = Path("runs")
    sets: tuple[str, ...] = ()
    space: tuple[str, ...] = ()  # --space KEY=SPEC overrides of the method's search space
    config_file: Path | None = None
    data_root: Path | None = None
    tracking_uri: str | None = None
    device: str = "auto"
    val_fraction: float = 0.1
    pruner: str = "median"
    heartbeat_interval: int = 60
    grace_period: int | None = None  # None: 2 x heartbeat_interval
    max_retry: int = 3
    worker_index: int = 0  # only seeds the sampler: give parallel workers different indices
    baseline: bool = False  # also score the method's defaults on the validation split (once per study)
    enqueue_defaults: bool = False  # the study's first trial tries the defaults of the tuned keys
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TuneOutcome:
    study: str
    storage: str  # password redacted
    config_hash: str
    metric: str
    direction: str
    budget: int
    n_counted: int
    best_value: float | None
    best_params: Mapping[str, Any]
    best_trial: int | None
    parent_run_id: str
    trials_run_here: int
    wall_s: float
    stopped_by: str  # "budget", "timeout" or "grid exhausted"
    lock_path: Path | None
    history: tuple[Mapping[str, Any], ...]
    baseline: Mapping[str, Any] | None = None  # {"value", "run_id"} of the defaults' validation run


# --------------------------------------------------------------------------------------------
# Storage URLs
# --------------------------------------------------------------------------------------------

_PASSWORD_IN_URL = re.compile(r"^(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^/@:]*:)(?P<pw>[^@/]*)(?P<tail>@.*)$")
_PASSWORD_IN_QUERY = re.compile(r"(?i)(password=)[^&;\s]*")


def redact_url(url: str) -> str:
    """``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db`` (also ``?password=...``)."""
    m = _PASSWORD_IN_URL.match(url)
    if m:
        url = f"{m.group('head')}***{m.group('tail')}"
    return _PASSWORD_IN_QUERY.sub(r"\1***", url)


def _password(url: str) -> str | None:
    m = _PASSWORD_IN_URL.match(url)
    return m.group("pw") if m and m.group("pw") else None


def default_storage_url(out_dir: Path) -> str:
    return f"sqlite:///{(Path(out_dir) / 'optuna.db').resolve()}"


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}  # wait for other local workers' writes
    if url.startswith(("postgresql", "postgres")):
        return {"connect_args": {"connect_timeout": 5}, "pool_pre_ping": True}
    if url.startswith("mysql"):
        return {"connect_args": {"connect_timeout": 5}, "pool_pre_ping": True}
    return {}


def open_storage(url: str, *, heartbeat_interval: int | None = 60, grace_period: int | None = None,
                 max_retry: int | None = 3, on_stale: Any = None, timeout_s: float = STORAGE_TIMEOUT_S) -> Any:
    """Open an Optuna storage; fail within ``timeout_s`` with the (redacted) URL and the reason.

    ``journal:PATH`` opens a journal file (no heartbeats); anything else is an SQLAlchemy URL
    (``sqlite:///``, ``postgresql://``, ``mysql://``) opened as an RDB storage with heartbeats.
    """
    import optuna

    shown = redact_url(url)
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage, journal

        path = Path(url[len("journal:"):]).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        backend_cls = getattr(journal, "JournalFileBackend", None) or optuna.storages.JournalFileStorage
        return JournalStorage(backend_cls(str(path)))
    if "://" not in url:
        raise InvalidParameterError(
            f"--storage {shown!r} is not a storage URL. Expected e.g. sqlite:///path/optuna.db, "
            f"postgresql://user:password@host:5432/db or journal:/path/optuna.journal."
        )
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)

    retry_cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" notices
        retry = retry_cls(max_retry=max_retry)

    def stale_callback(study: Any, trial: Any) -> None:
        retry(study, trial)
        if on_stale is not None:
            on_stale(study, trial)

    kwargs: dict[str, Any] = {"engine_kwargs": _engine_kwargs(url)}
    if heartbeat_interval:
        import inspect

        params = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
        cb_name = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params else "failed_trial_callback"
        kwargs.update(heartbeat_interval=int(heartbeat_interval), grace_period=grace_period, **{cb_name: stale_callback})

    _check_reachable(url, timeout_s)
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # experimental-feature notices of heartbeats
                return optuna.storages.RDBStorage(url, **kwargs)
        except Exception as exc:
            # Workers starting together on a fresh database race to create the tables; the
            # loser sees "already exists" / a unique violation and simply tries again.
            if attempt == 2 or not re.search(r"already exists|duplicate|unique|locked", str(exc), re.IGNORECASE):
                raise TuningError(f"cannot open the Optuna storage {shown}: {_reason(exc, url)}") from None
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def _check_reachable(url: str, timeout_s: float) -> None:
    """Connect once with a deadline, so a wrong host or a stopped server fails fast and clearly."""
    import sqlalchemy

    shown = redact_url(url)
    box: dict[str, BaseException] = {}

    def connect() -> None:
        try:
            engine = sqlalchemy.create_engine(url, **_engine_kwargs(url))
            try:
                with engine.connect():
                    pass
            finally:
                engine.dispose()
        except BaseException as exc:  # reported in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=connect, daemon=True, name="optuna-storage-check")
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TuningError(
            f"cannot open the Optuna storage {shown}: no answer within {timeout_s:.0f} s. "
            f"Check the host name, port and firewall, and that the database server is running."
        )
    if "error" in box:
        raise TuningError(
            f"cannot open the Optuna storage {shown}: {_reason(box['error'], url).rstrip('.')}; check that the "
            f"database server is running and reachable, and the user, password and database name in the URL."
        ) from None


def _reason(exc: BaseException, url: str) -> str:
    """The innermost useful line of a driver error, with any password removed."""
    inner: BaseException = exc
    while getattr(inner, "orig", None) is not None:
        inner = inner.orig  # type: ignore[attr-defined]
    text = " ".join(str(inner).split()) or type(inner).__name__
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text).strip()
    pw = _password(url)
    if pw:
        text = text.replace(pw, "***")
    return f"{type(inner).__name__}: {text[:500]}"


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
# Study identity
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyPlan:
    """What a tuning request resolves to before any trial runs."""

    name: str
    config_hash: str
    space: Mapping[str, Dimension]
    base_sets: tuple[str, ...]
    budget: int
    method_cls: type
    adapter_cls: type
    dataset_config: Any
    defaults: Mapping[str, Any] = field(default_factory=dict)  # the config's values of the tuned keys


def plan_study(request: TuneRequest) -> StudyPlan:
    """Validate the request (names, settings, search space) and derive the study name and hash."""
    from harness.params import config_to_dict
    from harness.runner import RunRequest, config_hash, resolve

    if not isinstance(request.trials, int) or request.trials < 1:
        raise InvalidParameterError(f"--trials must be a positive integer, got {request.trials!r}")
    if request.timeout is not None and not request.timeout > 0:
        raise InvalidParameterError(f"--timeout must be a positive number of seconds, got {request.timeout!r}")
    if request.sampler not in SAMPLERS:
        raise InvalidParameterError(f"--sampler must be one of {', '.join(SAMPLERS)}; got {request.sampler!r}")
    if request.enqueue_defaults and request.sampler == "grid":
        raise InvalidParameterError("--enqueue-defaults does not apply to --sampler grid (the grid fixes every trial)")
    if request.pruner not in PRUNERS:
        raise InvalidParameterError(f"--pruner must be one of {', '.join(PRUNERS)}; got {request.pruner!r}")
    if request.heartbeat_interval < 1:
        raise InvalidParameterError(f"--heartbeat-interval must be >= 1 s, got {request.heartbeat_interval}")
    if request.grace_period is not None and request.grace_period <= request.heartbeat_interval:
        raise InvalidParameterError(
            f"--grace-period ({request.grace_period} s) must exceed --heartbeat-interval ({request.heartbeat_interval} s)"
        )
    resolved = resolve(RunRequest(
        method=request.method, dataset=request.dataset, seed=request.seed, sets=request.sets,
        config_file=request.config_file, data_root=request.data_root, val_fraction=request.val_fraction,
    ))
    overrides = parse_space(list(request.space))
    if overrides:
        declared = dict(space_of(resolved.method_cls)) if hasattr(resolved.method_cls, "search_space") else {}
        space = validate_space({**declared, **overrides}, resolved.method_cls.Config, f"method {request.method!r}")
    else:
        space = space_of(resolved.method_cls)
    fixed = {s.split("=", 1)[0].strip().removeprefix("method.") for s in request.sets if "=" in s}
    clash = sorted(fixed & set(space))
    if clash:
        raise InvalidParameterError(
            f"--set fixes {', '.join(clash)}, which the search space of {request.method!r} tunes. "
            f"Drop the --set, or narrow the space with --space {clash[0]}=choice(VALUE)."
        )
    method_cfg = {k: v for k, v in config_to_dict(resolved.method_config).items() if k not in space}
    base = config_hash(request.method, method_cfg, config_to_dict(resolved.dataset_config))
    identity = json.dumps({"config": base, "space": fingerprint(space), "seed": request.seed,
                           "val_fraction": request.val_fraction}, sort_keys=True)
    chash = hashlib.sha256(identity.encode()).hexdigest()[:12]
    budget = min(request.trials, grid_size(space)) if request.sampler == "grid" else request.trials
    return StudyPlan(
        name=request.study or f"{request.method}@{request.dataset}-{chash}",
        config_hash=chash, space=space, base_sets=tuple(request.sets), budget=budget,
        method_cls=resolved.method_cls, adapter_cls=resolved.adapter_cls, dataset_config=resolved.dataset_config,
        defaults={k: v for k, v in config_to_dict(resolved.method_config).items() if k in space},
    )


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


def _sampler_seed(request: TuneRequest) -> int:
    from harness.seeding import derive_seed

    return derive_seed(request.seed, "sampler", request.worker_index)


def _dataset_metric(plan: StudyPlan, request: TuneRequest) -> tuple[str, Literal["maximize", "minimize"]]:
    """(validation metric, 'maximize'|'minimize'), read from the data set's protocol."""
    from harness import api

    ds = plan.adapter_cls().load(request.data_root, plan.dataset_config)
    metric = ds.protocol.val_metric
    return metric, ("maximize" if api.METRICS.get(metric).higher_is_better else "minimize")


# --------------------------------------------------------------------------------------------
# The tuning loop
# --------------------------------------------------------------------------------------------


def tune(request: TuneRequest) -> TuneOutcome:
    """Run (or join, or resume) the study of ``request`` until its trial budget is met."""
    import optuna

    from harness.runner import RunRequest, execute
    from harness.tracking import default_tracking_uri

    optuna.logging.set_verbosity(optuna.logging.WARNING if log.isEnabledFor(logging.INFO) else optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    t0 = time.monotonic()
    plan = plan_study(request)
    out_dir = Path(request.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    url = request.storage or default_storage_url(out_dir)
    shown = redact_url(url)
    trackers: list[Any] = []  # filled once the storage is open (mlflow imports slowly; fail fast first)

    def on_stale(study: Any, trial: Any) -> None:
        run_id = trial.user_attrs.get("mlflow_run_id")
        log.warning("trial %d of %s lost its worker (no heartbeat); re-queued", trial.number, study.study_name)
        if run_id and trackers:
            try:
                trackers[0].fail(run_id, f"worker lost: no heartbeat for the grace period; trial {trial.number} re-queued")
            except Exception:  # its run may live in another worker's tracking store
                log.info("could not mark MLflow run %s of lost trial %d as failed", run_id, trial.number)

    storage = open_storage(url, heartbeat_interval=request.heartbeat_interval if not url.startswith("journal:") else None,
                           grace_period=request.grace_period, max_retry=request.max_retry, on_stale=on_stale)
    tracker = _trial_tracker(request.tracking_uri or default_tracking_uri(out_dir), out_dir)
    trackers.append(tracker)
    heartbeat = not url.startswith("journal:")
    metric, direction = _dataset_metric(plan, request)
    study, parent = _load_or_create_study(request, plan, storage, direction, metric, tracker, shown)
    base_tags = {"harness.study": plan.name, "harness.role": "trial", **request.tags}

    worker = f"{socket.gethostname()}:{os.getpid()}"
    last: dict[str, int] = {}
    baseline = study.user_attrs.get("baseline")
    if request.baseline and baseline is None:
        baseline = _score_defaults(request, plan, out_dir, tracker, parent, metric)
        study.set_user_attr("baseline", baseline)
    if request.enqueue_defaults and not study.get_trials(deepcopy=False):
        first = default_trial_params(plan, (baseline or {}).get("fitted"))
        if first:
            study.enqueue_trial(first, skip_if_exists=True)
            log.info("first trial of %s: the defaults %s (other keys sampled)", plan.name, first)

    def objective(trial: Any) -> float:
        last["number"] = trial.number
        trial.set_user_attr("worker", worker)
        if _over_budget(study, trial.number, plan.budget):
            trial.set_user_attr("over_budget", True)
            raise _OverBudget(f"trial {trial.number} lost the race for the last budget slot")
        params = {name: suggest(trial, name, dim) for name, dim in plan.space.items()}
        run_request = RunRequest(
            method=request.method, dataset=request.dataset, seed=request.seed,
            sets=plan.base_sets + tuple(f"{k}={format_value(v)}" for k, v in params.items()),
            config_file=request.config_file, data_root=request.data_root, out_dir=out_dir,
            tracking_uri=tracker.tracking_uri, device=request.device, val_fraction=request.val_fraction,
            tags={**base_tags, "harness.trial": str(trial.number)}, parent_run_id=parent, eval_split="val",
        )

        tracker.trial, tracker.pruned_at = trial, None
        try:
            with reporting(make_reporter(trial, tracker)):
                result = execute(run_request, tracker=tracker)
        except TrialPruned as exc:
            raise optuna.TrialPruned(str(exc)) from None
        except HarnessError as exc:
            trial.set_user_attr("error", str(exc)[:2000])
            raise _RunFailed(str(exc)) from exc
        finally:
            tracker.trial = None
        value = float(result.overall[metric])
        if value != value:  # NaN: a failed answer, recorded as such
            trial.set_user_attr("error", f"{metric} is NaN")
            raise _RunFailed(f"{metric} is NaN")
        return value

    from harness.progress import bar

    ran_here, consecutive_errors, stopped_by, last_error = 0, 0, "budget", ""
    poll = min(5.0, max(0.5, request.heartbeat_interval / 2))
    pbar = bar(plan.budget, f"tune {request.method}@{request.dataset}", unit="trial")
    try:
        while True:
            if request.timeout is not None and time.monotonic() - t0 >= request.timeout:
                stopped_by = "timeout"
                break
            if heartbeat:
                optuna.storages.fail_stale_trials(study)
            counted, running, waiting = _budget_state(study, heartbeat)
            best = _best(study)
            pbar.n = min(counted, plan.budget)
            pbar.set_postfix_str(f"best {metric}={best.value:.4f}" if best is not None else "no result yet")
            if counted >= plan.budget:
                stopped_by = "grid exhausted" if plan.budget < request.trials else "budget"
                break
            if counted + running + waiting >= plan.budget and not waiting:
                time.sleep(poll)  # other workers hold the last slots; they may die and be re-queued
                continue
            last.clear()
            study.optimize(objective, n_trials=1, catch=(_OverBudget, _RunFailed), gc_after_trial=False,
                           show_progress_bar=False)
            mine = _trial_by_number(study, last.get("number"))
            if mine is not None and "error" in mine.user_attrs:
                consecutive_errors += 1
                last_error = mine.user_attrs["error"]
                if consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                    raise TuningError(f"the last {consecutive_errors} trials of study {plan.name!r} failed; "
                                      f"last error: {last_error}")
            elif mine is not None and "over_budget" not in mine.user_attrs:
                consecutive_errors = 0
                ran_here += 1
                _log_parent_progress(tracker, parent, study, mine)
    finally:
        pbar.close()
        best = _best(study)
        counted = _budget_state(study, heartbeat)[0]
        written = None
        if best is not None:
            record = _lock_record(request, plan, shown, metric, direction, best, counted, parent)
            written = write_lock(out_dir, {**record, "baseline": baseline} if baseline else record)
        tracker.set_tags(parent, {"harness.trials_counted": f"{counted}/{plan.budget}",
                                  **({"harness.best_trial": best.number} if best is not None else {})})
        if counted >= plan.budget:
            tracker.finish(parent)
    return TuneOutcome(
        study=plan.name, storage=shown, config_hash=plan.config_hash, metric=metric, direction=direction,
        budget=plan.budget, n_counted=counted, best_value=None if best is None else best.value,
        best_params={} if best is None else dict(best.params), best_trial=None if best is None else best.number,
        parent_run_id=parent, trials_run_here=ran_here, wall_s=time.monotonic() - t0, stopped_by=stopped_by,
        lock_path=written, history=tuple(history(study)), baseline=baseline,
    )


def default_trial_params(plan: StudyPlan, fitted: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The defaults of the tuned keys that lie in the space (e.g. DMTL_LC's k=157, beta=0.3).

    A key whose default is unset (an lr chosen over a grid on validation) takes the value the
    defaults' own fit chose (``fitted``, from the baseline run), else it is left to the sampler.
    """
    out = {}
    for k, v in plan.defaults.items():
        point = snap(plan.space[k], v if v is not None else (fitted or {}).get(k))
        if point is not None:
            out[k] = point
    return out


def _score_defaults(request: TuneRequest, plan: StudyPlan, out_dir: Path, tracker: Any, parent: str,
                    metric: str) -> dict[str, Any]:
    """One run of the method's defaults (plus the fixed ``--set`` values), scored like a trial.

    It is the reference a study must match or beat; it is not a trial (it uses no budget slot and
    the sampler never sees it). Workers that start together may each compute it; the study keeps one.
    """
    from harness.runner import RunRequest, execute

    log.info("scoring the defaults of %s on the validation split (the study's baseline)", request.method)
    result = execute(RunRequest(
        method=request.method, dataset=request.dataset, seed=request.seed, sets=plan.base_sets,
        config_file=request.config_file, data_root=request.data_root, out_dir=out_dir,
        tracking_uri=tracker.tracking_uri, device=request.device, val_fraction=request.val_fraction,
        tags={"harness.study": plan.name, "harness.role": "baseline", **request.tags}, parent_run_id=parent,
        eval_split="val",
    ), tracker=tracker)
    value = float(result.overall[metric])
    tracker.log_metrics(parent, {"baseline_value": value})
    fitted = {k: result.fit_notes[k] for k in plan.space if isinstance(result.fit_notes.get(k), (int, float, str, bool))}
    return {"value": value, "run_id": result.run_id, "fitted": fitted}


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


# --------------------------------------------------------------------------------------------
# Lock record and equal budgets
# --------------------------------------------------------------------------------------------


def _lock_record(request: TuneRequest, plan: StudyPlan, storage_shown: str, metric: str, direction: str,
                 best: Any, counted: int, parent: str) -> dict[str, Any]:
    from harness import environment

    return {
        "method": request.method,
        "dataset": request.dataset,
        "params": {k: v for k, v in best.params.items()},
        "base_sets": list(plan.base_sets),
        "best_value": float(best.value),
        "metric": metric,
        "split": "val",
        "direction": direction,
        "trial_number": best.number,
        "mlflow_run_id": best.user_attrs.get("mlflow_run_id"),
        "study": plan.name,
        "storage": storage_shown,
        "config_hash": plan.config_hash,
        "search_space": json.loads(fingerprint(plan.space)),
        "sampler": request.sampler,
        "seed": request.seed,
        "val_fraction": request.val_fraction,
        "budget": plan.budget,
        "trials_requested": request.trials,
        "trials_counted": counted,
        "mlflow_parent_run_id": parent,
        "git_commit": environment.git_commit(),
        "written_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def tune_for_table(methods: Sequence[str], dataset: str, trials: int,
                   per_method: Mapping[str, Mapping[str, Any]] | None = None, **common: Any) -> dict[str, TuneOutcome]:
    """Tune every method of a table on ``dataset`` with the same trial budget, sampler, seed and timeout.

    ``common`` holds further :class:`TuneRequest` fields (``out_dir``, ``storage``, ``sampler``,
    ``seed``, ``timeout`` ...). ``per_method`` adds fields for one method only, such as its fixed
    ``sets`` (the budget fields ``trials`` / ``sampler`` / ``seed`` / ``timeout`` are refused there,
    so the budgets stay equal). Methods whose grid is smaller than ``trials`` are searched
    exhaustively (their lock records ``budget`` < ``trials_requested``).
    """
    fields = {f.name for f in dataclasses.fields(TuneRequest)}
    unknown = set(common) - fields
    if unknown:
        raise InvalidParameterError(f"unknown tuning options: {', '.join(sorted(unknown))}")
    for m, extra in (per_method or {}).items():
        bad = set(extra) - (fields - {"method", "dataset", "trials", "sampler", "seed", "timeout"})
        if bad:
            raise InvalidParameterError(f"per-method tuning options of {m!r} may not set {', '.join(sorted(bad))} "
                                        f"(one budget for the whole table)")
    return {m: tune(TuneRequest(method=m, dataset=dataset, trials=trials, **{**common, **dict((per_method or {}).get(m, {}))}))
            for m in methods}


# --------------------------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------------------------


def study_status(url: str) -> list[dict[str, Any]]:
    """One row per study in the storage: trial counts by state and the best trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(url, heartbeat_interval=None)
    rows = []
    for frozen in storage.get_all_studies():
        study = optuna.load_study(study_name=frozen.study_name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        states: dict[str, int] = {}
        for t in trials:
            states[t.state.name] = states.get(t.state.name, 0) + 1
        best = _best(study)
        rows.append({
            "study": frozen.study_name, "direction": study.direction.name.lower(),
            "metric": study.user_attrs.get("metric", "?"), "trials": len(trials), "states": states,
            "best_value": None if best is None else best.value, "best_trial": None if best is None else best.number,
            "best_params": {} if best is None else dict(best.params),
            "baseline_value": (study.user_attrs.get("baseline") or {}).get("value"),
        })
    return rows
