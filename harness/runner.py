"""One run: config -> data -> features -> fit -> predict -> metrics -> record.

The runner owns seeding, device, timing, progress and error context; methods own the math.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import api
from harness.errors import HarnessError, InvalidParameterError, MethodError
from harness.params import config_to_dict, resolve_config
from harness.run_data import (
    LoadedData,
    load_dataset,
    load_sources,
    parse_source_roots,
    split_train_val,
)
from harness.run_eval import check_prediction, check_val_metric, evaluate, metric_names
from harness.run_inputs import MethodInputs, build_inputs, method_data, resolve_feature_spec
from harness.run_record import RunContext, record, record_failure
from harness.seeding import derive_seed

__all__ = ["DEFAULT_VAL_FRACTION", "ResolvedRun", "RunRequest", "RunResult", "config_hash", "evaluate", "execute",
           "fitted_notes", "load_dataset", "method_data", "metric_names", "resolve"]

log = logging.getLogger(__name__)

DEFAULT_VAL_FRACTION = 0.1  # AMB-16: 10 % of training videos, grouped by video


@dataclass(frozen=True)
class RunRequest:
    """Everything that defines a run (what ``harness run`` parses its flags into)."""

    method: str
    dataset: str
    seed: int = 0
    sets: tuple[str, ...] = ()
    config_file: Path | None = None
    data_root: Path | None = None
    out_dir: Path = Path("runs")
    tracking_uri: str | None = None
    device: str = "auto"
    val_fraction: float = DEFAULT_VAL_FRACTION
    tags: Mapping[str, str] = field(default_factory=dict)
    parent_run_id: str | None = None
    eval_split: str = "test"  # "val": score the held-out validation split (tuning never sees test)
    source_roots: Mapping[str, Path] = field(default_factory=dict)  # training source (or data set) name -> root
    paper_defaults: bool = False  # True: no miniature settings (harness.miniature), the paper's values unchanged


@dataclass(frozen=True)
class ResolvedRun:
    method_cls: type[api.Method]
    adapter_cls: type[api.DatasetAdapter]
    method_config: Any
    dataset_config: Any
    miniature_settings: Mapping[str, Any] = field(default_factory=dict)  # applied, not overridden (harness.miniature)


@dataclass(frozen=True)
class RunResult:
    run_id: str
    method: str
    dataset: str
    seed: int
    is_miniature: bool
    headline: str
    overall: Mapping[str, float]
    concepts: tuple[str, ...]
    per_concept: Mapping[str, np.ndarray]
    config: Mapping[str, Any]
    timings: Mapping[str, float]
    notes: Mapping[str, Any]
    out_dir: Path
    eval_split: str = "test"
    fit_notes: Mapping[str, Any] = field(default_factory=dict)  # the method's ``fitted_notes`` (JSON-ready)
    backbone: str | None = None  # the backbone actually used (``auto`` resolved), None without one
    directions: Mapping[str, bool] = field(default_factory=dict)  # metric key -> higher is better
    sources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # training sources as recorded
    miniature_settings: Mapping[str, Any] = field(default_factory=dict)  # harness.miniature settings applied
    fingerprint: str = ""  # short hash of the hardware fingerprint (hw.* tags)


def _check_feature_specs(method_cls: type[api.Method], method_config: Any) -> None:
    """Explicit backbones and layers are checked here, before any work (``auto``/``provided`` need the data)."""
    from harness import backbones
    from harness.features import feature_source

    for spec in method_cls.feature_specs(method_config).values():
        if spec.backbone in ("auto", "provided") or not spec.backbone.replace("_", "").isalnum():
            continue  # resolved from the data, or a reference (a fine-tuned network 'method:settings', a path)
        if feature_source(spec.backbone) is not None:
            continue  # a registered feature source (harness.features.register_feature_source) checks its own layers
        try:
            backbones.check_name(spec.backbone)
            backbones.check_layer(spec.backbone, spec.layer)
        except HarnessError as exc:  # UnknownNameError / layer error: a bad --set backbone= or layer=
            raise InvalidParameterError(f"{exc} (settings backbone={spec.backbone!r}, layer={spec.layer!r})") from None


def _read_config_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

    if Path(path).is_dir():
        raise InvalidParameterError(f"--config {path} is a folder; expected a YAML file of key: value settings")
    if not Path(path).is_file():
        raise InvalidParameterError(f"--config file {path} does not exist")
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8-sig")) or {}
    except yaml.YAMLError as exc:
        raise InvalidParameterError(f"--config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidParameterError(f"--config file {path} must hold a mapping of key: value, got {type(data).__name__}")
    return data


def _split_sets(sets: Sequence[str], method_fields: set[str], dataset_fields: set[str]) -> tuple[list[str], list[str]]:
    """Route ``--set`` items: ``method.k=v`` / ``dataset.k=v`` explicitly, else by which config has ``k``."""
    to_method, to_dataset = [], []
    for item in sets:
        if "=" not in item:
            raise InvalidParameterError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if key.startswith("method."):
            to_method.append(f"{key[7:]}={value}")
        elif key.startswith("dataset."):
            to_dataset.append(f"{key[8:]}={value}")
        elif key in dataset_fields and key not in method_fields:
            to_dataset.append(item)
        elif key in dataset_fields and key in method_fields:
            raise InvalidParameterError(
                f"--set {key}=... is ambiguous: both the method and the data set have {key!r}; "
                f"write method.{key}=... or dataset.{key}=..."
            )
        else:
            to_method.append(item)  # unknown keys are reported by the method config with the valid list
    return to_method, to_dataset


def resolve(request: RunRequest) -> ResolvedRun:
    """Look up names and validate every setting before any work is done."""
    from harness.registry import load_plugins

    load_plugins()
    method_cls = api.METHODS.get(request.method)
    adapter_cls = api.DATASETS.get(request.dataset)
    file_values = _read_config_file(request.config_file)
    dataset_file_values = file_values.pop("dataset", None) or {}
    method_fields = {f.name for f in dataclasses.fields(method_cls.Config)}
    dataset_fields = {f.name for f in dataclasses.fields(adapter_cls.Config)}
    to_method, to_dataset = _split_sets(request.sets, method_fields, dataset_fields)
    from harness import miniature  # defaults < miniature settings < --config < --set

    file_values, mini_applied = miniature.layered(
        miniature.values_for(method_cls, adapter_cls, paper_defaults=request.paper_defaults), file_values, to_method)
    method_config = resolve_config(method_cls.Config, file_values, to_method)
    dataset_config = resolve_config(adapter_cls.Config, dataset_file_values, to_dataset)
    if not request.seed >= 0:
        raise InvalidParameterError(f"--seed must be a non-negative integer, got {request.seed}")
    if request.eval_split not in ("test", "val"):
        raise InvalidParameterError(f"eval_split must be 'test' or 'val', got {request.eval_split!r}")
    if not 0 < request.val_fraction < 1:
        raise InvalidParameterError(f"the validation fraction must be in (0, 1), got {request.val_fraction}")
    parse_source_roots(tuple(request.source_roots.items()))
    for name, spec in method_cls.training_sources(method_config).items():
        api.DATASETS.get(spec.dataset)  # an unknown source data set fails before any work
        if not name or "/" in name:
            raise InvalidParameterError(f"method {request.method!r} names a training source {name!r}: use a plain name")
        unknown = sorted(set(spec.features) - {f.name for f in dataclasses.fields(api.FeatureSpec)})
        if unknown:
            raise InvalidParameterError(f"training source {name!r} of {request.method!r}: unknown feature fields {unknown}")
    _check_feature_specs(method_cls, method_config)
    declared_task = getattr(adapter_cls, "task", None)  # the adapter's class attribute: known before loading
    if declared_task and declared_task not in method_cls.tasks:
        raise InvalidParameterError(
            f"method {request.method!r} handles {', '.join(method_cls.tasks)} tasks; "
            f"data set {request.dataset!r} is a {declared_task} task"
        )
    return ResolvedRun(method_cls, adapter_cls, method_config, dataset_config, mini_applied)


def config_hash(method: str, method_config: Mapping[str, Any], dataset_config: Mapping[str, Any]) -> str:
    text = json.dumps({"method": method, "config": method_config, "dataset": dataset_config}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    def stage(self, name: str) -> Any:
        timer = self

        class _Ctx:
            def __enter__(self) -> None:
                self.t0 = time.perf_counter()
                log.info("stage %s ...", name)

            def __exit__(self, *exc: object) -> None:
                timer.timings[name] = time.perf_counter() - self.t0
                log.info("stage %s took %.2f s", name, timer.timings[name])

        return _Ctx()


def _method_data(ds: api.Dataset, split: api.Split, features: np.ndarray | None, with_labels: bool) -> api.MethodData:
    """Kept for callers of the old private name; use :func:`harness.run_inputs.method_data`."""
    return method_data(ds, split, features, with_labels=with_labels)


_resolve_feature_spec = resolve_feature_spec  # the old private name


def _start(request: RunRequest, resolved: ResolvedRun, tracker: Any) -> tuple[RunContext, str]:
    """Open the tracked run and record what defines it; returns the context and the device."""
    from harness import environment
    from harness.tracking import Tracker, default_tracking_uri

    method_cfg = config_to_dict(resolved.method_config)
    dataset_cfg = config_to_dict(resolved.dataset_config)
    chash = config_hash(request.method, method_cfg, dataset_cfg)
    out_dir = Path(request.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if tracker is None:  # first: an unreachable tracking server fails in seconds, before torch is imported
        tracker = Tracker(request.tracking_uri or default_tracking_uri(out_dir), out_dir)
    device = environment.resolve_device(request.device)
    from harness import miniature, seeding

    seeding.make_deterministic()  # fixed threads, deterministic kernels (recorded in the fingerprint)
    hw = environment.hardware_fingerprint(device)
    tags = {
        "harness.method": request.method,
        "harness.dataset": request.dataset,
        "harness.seed": str(request.seed),
        "harness.device": device,
        "harness.device_name": environment.device_name(device),
        "harness.config_hash": chash,
        "harness.eval_split": request.eval_split,
        "harness.git_commit": environment.git_commit(),
        **{f"version.{k}": v for k, v in environment.package_versions().items()},
        **{f"hw.{k}": v for k, v in hw.items()}, "hw.fingerprint": environment.fingerprint_hash(hw),
        **request.tags,
    }
    run_name = f"{request.method}@{request.dataset}#s{request.seed}"
    run_id = tracker.start(request.dataset, run_name, tags, parent_run_id=request.parent_run_id)
    assumed = [f.name for f in dataclasses.fields(resolved.method_cls.Config) if f.metadata.get("assumption")]
    params = {**method_cfg, **{f"dataset.{k}": v for k, v in dataset_cfg.items()},
              "run.seed": request.seed, "run.val_fraction": request.val_fraction, "run.device": device,
              "run.assumed_defaults": assumed,
              "run.miniature_settings": miniature.as_param(resolved.miniature_settings)}  # fmt: skip
    tracker.log_params(run_id, params)
    ctx = RunContext(tracker=tracker, run_id=run_id, out_dir=out_dir, method=request.method, dataset=request.dataset,
                     seed=request.seed, eval_split=request.eval_split, config_hash=chash, method_config=method_cfg,
                     dataset_config=dataset_cfg, tags=dict(request.tags),
                     fingerprint=environment.fingerprint_column(hw))  # fmt: skip
    return ctx, device


def _load(request: RunRequest, resolved: ResolvedRun, ctx: RunContext) -> LoadedData:
    """Target data set, its splits and the method's training sources; recorded as tags."""
    ds = load_dataset(resolved.adapter_cls, request.data_root, resolved.dataset_config)
    if ds.task not in resolved.method_cls.tasks:
        raise InvalidParameterError(
            f"method {request.method!r} handles {', '.join(resolved.method_cls.tasks)} tasks; "
            f"data set {request.dataset!r} is a {ds.task} task"
        )
    check_val_metric(ds)
    ctx.tracker.set_tags(ctx.run_id, {"harness.manifest_hash": ds.manifest_hash, "harness.is_miniature": ds.is_miniature,
                                      **{f"data.{k}": v for k, v in ds.info.items()
                                         if isinstance(v, (str, int, float, bool))}})  # fmt: skip
    sources = load_sources(resolved.method_cls, resolved.method_config, ds, parse_source_roots(
        tuple(request.source_roots.items())))  # fmt: skip
    if len(ds.train) == 0 and not sources:
        raise InvalidParameterError(
            f"data set {request.dataset!r} has no training split; method {request.method!r} must train on other data "
            f"sets (training sources, see 'Adding a method' in the README)"
        )
    if len(ds.train) == 0 and request.eval_split == "val":
        raise InvalidParameterError(f"data set {request.dataset!r} has no training split, so there is no validation "
                                    f"split to score (tuning needs one)")  # fmt: skip
    train, val = split_train_val(ds, request.val_fraction, request.seed)
    for name, src in sources.items():
        ctx.tracker.set_tags(ctx.run_id, {f"source.{name}.{k}": json.dumps(v) if isinstance(v, dict) else v
                                          for k, v in src.record().items()})  # fmt: skip
    if sources:
        ctx.tracker.log_params(ctx.run_id, {"run.training_sources": sorted(sources)})
    target = val if request.eval_split == "val" else ds.test
    assert target is not None
    return LoadedData(dataset=ds, train=train, val=val, target=target, sources=sources)


def _record_features(ctx: RunContext, inputs: MethodInputs) -> str | None:
    """Log the feature specs (the single block as ``features.*``, several as ``features.<block>.*``)."""
    specs = inputs.specs
    if not specs:
        return None
    params: dict[str, Any] = {}
    for name, spec in specs.items():
        prefix = "features." if len(specs) == 1 else f"features.{name}."
        params.update({f"{prefix}backbone": spec.backbone, f"{prefix}layer": spec.layer,
                       f"{prefix}weights": spec.weights, f"{prefix}pooling": spec.pooling})  # fmt: skip
        if spec.frame_stride != 1 or spec.max_frames is not None:
            params.update({f"{prefix}frame_stride": spec.frame_stride, f"{prefix}max_frames": spec.max_frames})
    backbones = sorted({s.backbone for s in specs.values()})
    params["run.backbone"] = backbones[0] if len(backbones) == 1 else ",".join(backbones)
    ctx.tracker.log_params(ctx.run_id, params)
    return str(params["run.backbone"])


def execute(request: RunRequest, *, tracker: Any = None) -> RunResult:
    """Run one (method, dataset, seed) end to end and record it; failures are recorded as FAILED.

    Stages: resolve -> start (tracked run) -> load (data set, splits, training sources) -> inputs
    (feature blocks, MethodData) -> fit -> predict (validated) -> evaluate -> record.
    """
    resolved = resolve(request)
    ctx, device = _start(request, resolved, tracker)
    timer = _Timer()
    stage = "setup"
    try:
        stage = "loading data"
        with timer.stage("load"):
            data = _load(request, resolved, ctx)
        ds = data.dataset
        stage = "extracting features"
        with timer.stage("features"):
            inputs = build_inputs(resolved.method_cls, resolved.method_config, data, device=device,
                                  eval_split=request.eval_split)  # fmt: skip
        feature_backbone = _record_features(ctx, inputs)

        stage = "fitting"
        method = resolved.method_cls(config=resolved.method_config, seed=derive_seed(request.seed, "method"), device=device)
        with timer.stage("fit"):
            method.fit(inputs.train, inputs.val)
        notes = fitted_notes(method)
        backbone = feature_backbone if feature_backbone is not None else _method_backbone(method)
        if feature_backbone is None and backbone is not None:
            ctx.tracker.log_params(ctx.run_id, {"run.backbone": backbone})
        stage = "predicting"
        with timer.stage("predict"):
            prediction = check_prediction(method.predict(inputs.target), ds, data.target)

        stage = "evaluating"
        with timer.stage("evaluate"):
            result = evaluate(ds, prediction, data.target, request.eval_split)

        stage = "recording"
        source_notes = {name: src.record() for name, src in data.sources.items()}
        record(ctx, ds, data.target, result, prediction, timer.timings, notes, backbone,
               {"sources": source_notes} if source_notes else None)  # fmt: skip
        ctx.tracker.finish(ctx.run_id)
    except Exception as exc:
        error = f"while {stage} for method {request.method!r} on {request.dataset!r} (seed {request.seed}): {exc}"
        try:
            ctx.tracker.fail(ctx.run_id, error + "\n" + traceback.format_exc(limit=20))
            record_failure(ctx, error)
        except Exception:  # recording the failure must never mask the original error
            log.exception("could not record the failed run")
        if isinstance(exc, HarnessError):
            raise (type(exc)(error) if _reconstructible(exc) else exc) from exc
        raise MethodError(error) from exc
    return RunResult(
        eval_split=request.eval_split,
        run_id=ctx.run_id, method=request.method, dataset=request.dataset, seed=request.seed,
        is_miniature=ds.is_miniature, headline=ds.protocol.metric, overall=dict(result.overall),
        concepts=result.concepts, per_concept=dict(result.per_concept), config=dict(ctx.method_config),
        timings=dict(timer.timings), notes=dict(result.notes), out_dir=ctx.out_dir, fit_notes=notes,
        backbone=backbone, directions=dict(result.directions), sources=source_notes,
        miniature_settings=dict(resolved.miniature_settings), fingerprint=ctx.fingerprint.split(" ", 1)[0],
    )


def _reconstructible(exc: Exception) -> bool:
    try:
        type(exc)("x")
        return True
    except Exception:
        return False


def _method_backbone(method: api.Method) -> str | None:
    """The backbone a pixel method chose for itself (its ``backbone_name_``), if it exposes one."""
    name = getattr(method, "backbone_name_", None)
    return str(name) if name else None


def fitted_notes(method: api.Method) -> dict[str, Any]:
    """The method's ``fitted_notes`` attributes that its fit set, JSON-ready, keyed without the ``_``."""
    from harness.fit_notes import jsonable

    notes: dict[str, Any] = {}
    for attr in type(method).fitted_notes:
        if hasattr(method, attr):
            notes[attr.rstrip("_")] = jsonable(getattr(method, attr))
    return notes
