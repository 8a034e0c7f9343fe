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
import socket
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, InvalidParameterError
from harness.search_space import (
    Dimension,
    TrialPruned,
    fingerprint,
    format_value,
    grid_size,
    parse_space,
    reporting,
    snap,
    space_of,
    validate_space,
)
from harness.tuning_lock import write_lock
from harness.tuning_storage import (  # noqa: F401  (re-exported: the tuning package's public names)
    STORAGE_TIMEOUT_S,
    TuningError,
    default_storage_url,
    open_storage,
    redact_url,
    study_status,
)
from harness.tuning_trials import (  # noqa: F401  (re-exported)
    PRUNERS,
    SAMPLERS,
    _best,
    _budget_state,
    _dataset_metric,
    _load_or_create_study,
    _log_parent_progress,
    _over_budget,
    _OverBudget,
    _RunFailed,
    _trial_by_number,
    _trial_tracker,
    fail_dead_local_trials,
    history,
    make_pruner,
    make_reporter,
    make_sampler,
    suggest,
    to_distribution,
)

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_ERRORS = 3


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
    paper_defaults: bool = False  # on a miniature: no miniature settings (harness.miniature)
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

    if request.study is not None:
        from harness.names import check_name

        check_name(request.study, "--study")
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
        paper_defaults=request.paper_defaults,
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
    ident: dict[str, Any] = {"config": base, "space": fingerprint(space), "seed": request.seed,
                             "val_fraction": request.val_fraction}
    if request.paper_defaults:  # only when set, so the names of existing studies stay as they were
        ident["paper_defaults"] = True
    identity = json.dumps(ident, sort_keys=True)
    chash = hashlib.sha256(identity.encode()).hexdigest()[:12]
    budget = min(request.trials, grid_size(space)) if request.sampler == "grid" else request.trials
    return StudyPlan(
        name=request.study or f"{request.method}@{request.dataset}-{chash}",
        config_hash=chash, space=space, base_sets=tuple(request.sets), budget=budget,
        method_cls=resolved.method_cls, adapter_cls=resolved.adapter_cls, dataset_config=resolved.dataset_config,
        defaults={k: v for k, v in config_to_dict(resolved.method_config).items() if k in space},
    )


# --------------------------------------------------------------------------------------------
# The tuning loop
# --------------------------------------------------------------------------------------------


def tune(request: TuneRequest) -> TuneOutcome:
    """Run (or join, or resume) the study of ``request`` until its trial budget is met."""
    import optuna

    from harness.runner import RunRequest, execute
    from harness.tracking import default_tracking_uri, process_id

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
        trial.set_user_attr("process", process_id())
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
            paper_defaults=request.paper_defaults,
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
            fail_dead_local_trials(study)
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
        eval_split="val", paper_defaults=request.paper_defaults,
    ), tracker=tracker)
    value = float(result.overall[metric])
    tracker.log_metrics(parent, {"baseline_value": value})
    fitted = {k: result.fit_notes[k] for k in plan.space if isinstance(result.fit_notes.get(k), (int, float, str, bool))}
    return {"value": value, "run_id": result.run_id, "fitted": fitted}


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
        "paper_defaults": request.paper_defaults,
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

