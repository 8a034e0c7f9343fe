"""One run: config -> data -> features -> fit -> predict -> metrics -> record.

The runner owns seeding, device, timing, progress and error context; methods own the math.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
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
from harness.seeding import derive_seed

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


@dataclass(frozen=True)
class ResolvedRun:
    method_cls: type[api.Method]
    adapter_cls: type[api.DatasetAdapter]
    method_config: Any
    dataset_config: Any


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


def _read_config_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

    if not Path(path).is_file():
        raise InvalidParameterError(f"--config file {path} does not exist")
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
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
    method_config = resolve_config(method_cls.Config, file_values, to_method)
    dataset_config = resolve_config(adapter_cls.Config, dataset_file_values, to_dataset)
    if not request.seed >= 0:
        raise InvalidParameterError(f"--seed must be a non-negative integer, got {request.seed}")
    if request.eval_split not in ("test", "val"):
        raise InvalidParameterError(f"eval_split must be 'test' or 'val', got {request.eval_split!r}")
    if not 0 < request.val_fraction < 1:
        raise InvalidParameterError(f"the validation fraction must be in (0, 1), got {request.val_fraction}")
    return ResolvedRun(method_cls, adapter_cls, method_config, dataset_config)


_LOADED: dict[tuple[Any, ...], api.Dataset] = {}
_LOADED_MAX = 4


def load_dataset(adapter_cls: type[api.DatasetAdapter], root: Path | None, config: Any) -> api.Dataset:
    """Load a data set, reusing one already loaded in this process (tuning trials, sweeps, tables).

    Datasets are frozen, so sharing them is safe. The key holds the adapter, options, cache and
    data homes and the root's modification time, so a changed root is read again.
    """
    root_key = None if root is None else str(Path(root).resolve())
    mtime = Path(root).stat().st_mtime_ns if root is not None and Path(root).exists() else None
    import os

    key = (adapter_cls, root_key, mtime, repr(config), os.environ.get("HARNESS_HOME"), os.environ.get("HARNESS_DATA"))
    if key not in _LOADED:
        if len(_LOADED) >= _LOADED_MAX:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = adapter_cls().load(root, config)
    return _LOADED[key]


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
    return api.MethodData(
        ids=split.ids,
        groups=split.groups,
        concepts=ds.concepts,
        task=ds.task,
        labels=split.labels if with_labels else None,
        features=features,
        paths=split.paths,
        extra=split.extra,
        default_backbone=ds.default_backbone,
    )


def _resolve_feature_spec(spec: api.FeatureSpec | None, ds: api.Dataset) -> api.FeatureSpec | None:
    """``backbone=auto`` -> the backbone the data set's adapter declares (``Dataset.default_backbone``)."""
    if spec is None or spec.backbone != "auto":
        return spec
    declared = ds.default_backbone
    if declared is None:
        shipped = sorted((ds.train.features or {}).keys())
        hint = (f"it ships feature blocks ({', '.join(shipped)}): use --set backbone=provided --set layer=all "
                f"(or layer=<block>)") if shipped else "name one, e.g. --set backbone=resnet18"
        raise InvalidParameterError(
            f"backbone 'auto' means the data set's declared default backbone, but {ds.name!r} declares none; {hint}."
        )
    log.info("backbone 'auto' -> %s (declared by data set %s)", declared, ds.name)
    return dataclasses.replace(spec, backbone=declared)


def metric_names(ds: api.Dataset, eval_split: str) -> tuple[str, ...]:
    if eval_split == "val":
        return (ds.protocol.val_metric,)
    return (ds.protocol.metric, *ds.protocol.extra_metrics)


def evaluate(ds: api.Dataset, scores: np.ndarray, split: api.Split | None = None, eval_split: str = "test") -> api.EvalResult:
    """Score ``split`` (default: the test split) with the protocol's metrics for that split."""
    split = ds.test if split is None else split
    names = metric_names(ds, eval_split)
    inp = api.EvalInput(
        scores=scores, ids=split.ids, concepts=ds.concepts, protocol=ds.protocol,
        labels=split.labels, groups=split.groups, extra=split.extra,
    )
    overall: dict[str, float] = {}
    by_metric: list[tuple[tuple[str, ...], dict[str, np.ndarray]]] = []
    notes: dict[str, Any] = {}
    for name in names:
        spec = api.METRICS.get(name)
        missing = [r for r in spec.requires if getattr(inp, r, None) is None]
        if missing:
            raise HarnessError(f"metric {name!r} needs {', '.join(missing)}, which data set {ds.name!r} does not provide")
        res = spec.fn(inp)
        overall.update(res.overall)
        by_metric.append((tuple(res.concepts), {k: np.asarray(v, dtype=float) for k, v in res.per_concept.items()}))
        notes.update({f"{name}.{k}": v for k, v in res.notes.items()})
    # Metrics score different concept subsets (xinfAP: judged concepts; AP: concepts with
    # positives): align every per-concept column on one list, NaN where a metric has no value.
    seen = {c for cs, _ in by_metric for c in cs}
    concepts = tuple(c for c in ds.concepts if c in seen) + tuple(sorted(seen - set(ds.concepts)))
    index = {c: i for i, c in enumerate(concepts)}
    per_concept: dict[str, np.ndarray] = {}
    for cs, arrays in by_metric:
        rows = np.array([index[c] for c in cs], dtype=int)
        for key, arr in arrays.items():
            column = np.full(len(concepts), np.nan)
            column[rows] = arr
            per_concept[key] = column
    return api.EvalResult(overall=overall, concepts=concepts, per_concept=per_concept, notes=notes)


def execute(request: RunRequest, *, tracker: Any = None) -> RunResult:
    """Run one (method, dataset, seed) end to end and record it; failures are recorded as FAILED."""
    resolved = resolve(request)
    method_cfg = config_to_dict(resolved.method_config)
    dataset_cfg = config_to_dict(resolved.dataset_config)
    chash = config_hash(request.method, method_cfg, dataset_cfg)
    out_dir = Path(request.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    from harness import environment
    from harness.tracking import Tracker, default_tracking_uri

    device = environment.resolve_device(request.device)
    if tracker is None:
        tracker = Tracker(request.tracking_uri or default_tracking_uri(out_dir), out_dir)
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
        **request.tags,
    }
    run_name = f"{request.method}@{request.dataset}#s{request.seed}"
    run_id = tracker.start(request.dataset, run_name, tags, parent_run_id=request.parent_run_id)
    assumed = [f.name for f in dataclasses.fields(resolved.method_cls.Config) if f.metadata.get("assumption")]
    params = {**method_cfg, **{f"dataset.{k}": v for k, v in dataset_cfg.items()},
              "run.seed": request.seed, "run.val_fraction": request.val_fraction, "run.device": device,
              "run.assumed_defaults": assumed}
    tracker.log_params(run_id, params)
    timer = _Timer()
    stage = "setup"
    try:
        stage = "loading data"
        with timer.stage("load"):
            ds = load_dataset(resolved.adapter_cls, request.data_root, resolved.dataset_config)
        if ds.task not in resolved.method_cls.tasks:
            raise InvalidParameterError(
                f"method {request.method!r} handles {', '.join(resolved.method_cls.tasks)} tasks; "
                f"data set {request.dataset!r} is a {ds.task} task"
            )
        tracker.set_tags(run_id, {"harness.manifest_hash": ds.manifest_hash, "harness.is_miniature": ds.is_miniature,
                                  **{f"data.{k}": v for k, v in ds.info.items() if isinstance(v, (str, int, float, bool))}})
        if ds.val is not None:
            train_split, val_split = ds.train, ds.val
        else:
            from harness.splits import group_holdout

            train_split, val_split = group_holdout(ds.train, request.val_fraction, derive_seed(request.seed, "validation"))

        stage = "extracting features"
        spec = _resolve_feature_spec(resolved.method_cls.feature_spec(resolved.method_config), ds)
        feats: dict[str, np.ndarray | None] = {"train": None, "val": None, "test": None}
        if spec is not None:
            from harness.features import extract_features

            tracker.log_params(run_id, {"features.backbone": spec.backbone, "features.layer": spec.layer,
                                        "features.weights": spec.weights, "features.pooling": spec.pooling,
                                        "run.backbone": spec.backbone})
            with timer.stage("features"):
                # Features are extracted per original split (cache keys stay valid across seeds).
                full_train = extract_features(ds, "train", ds.train, spec, device=device)
                pos = {str(i): k for k, i in enumerate(ds.train.ids)}
                feats["train"] = full_train[[pos[str(i)] for i in train_split.ids]]
                if ds.val is not None:
                    feats["val"] = extract_features(ds, "val", ds.val, spec, device=device)
                else:
                    feats["val"] = full_train[[pos[str(i)] for i in val_split.ids]]
                feats["test"] = extract_features(ds, "test", ds.test, spec, device=device)

        stage = "fitting"
        method = resolved.method_cls(config=resolved.method_config, seed=derive_seed(request.seed, "method"), device=device)
        with timer.stage("fit"):
            method.fit(_method_data(ds, train_split, feats["train"], True), _method_data(ds, val_split, feats["val"], True))
        fit_notes = fitted_notes(method)
        backbone = spec.backbone if spec is not None else _method_backbone(method)
        if spec is None and backbone is not None:
            tracker.log_params(run_id, {"run.backbone": backbone})
        stage = "predicting"
        target, target_feats = (val_split, feats["val"]) if request.eval_split == "val" else (ds.test, feats["test"])
        with timer.stage("predict"):
            scores = np.asarray(method.predict(_method_data(ds, target, target_feats, False)))
        _check_scores(scores, ds, target)

        stage = "evaluating"
        with timer.stage("evaluate"):
            result = evaluate(ds, scores, target, request.eval_split)

        stage = "recording"
        _record(tracker, run_id, request, ds, target, result, scores, method_cfg, dataset_cfg, chash,
                timer.timings, out_dir, fit_notes, backbone)
        tracker.finish(run_id)
    except Exception as exc:
        error = f"while {stage} for method {request.method!r} on {request.dataset!r} (seed {request.seed}): {exc}"
        try:
            tracker.fail(run_id, error + "\n" + traceback.format_exc(limit=20))
            _record_failure(out_dir, run_id, request, chash, method_cfg, error)
        except Exception:  # recording the failure must never mask the original error
            log.exception("could not record the failed run")
        if isinstance(exc, HarnessError):
            raise (type(exc)(error) if _reconstructible(exc) else exc) from exc
        raise MethodError(error) from exc
    return RunResult(
        eval_split=request.eval_split,
        run_id=run_id, method=request.method, dataset=request.dataset, seed=request.seed,
        is_miniature=ds.is_miniature, headline=ds.protocol.metric, overall=dict(result.overall),
        concepts=result.concepts, per_concept=dict(result.per_concept), config=method_cfg,
        timings=dict(timer.timings), notes=dict(result.notes), out_dir=out_dir, fit_notes=fit_notes,
        backbone=backbone,
    )


def _reconstructible(exc: Exception) -> bool:
    try:
        type(exc)("x")
        return True
    except Exception:
        return False


def _check_scores(scores: np.ndarray, ds: api.Dataset, split: api.Split) -> None:
    if ds.task in ("multilabel", "multiclass"):
        expected = (len(split), len(ds.concepts))
        if scores.shape != expected:
            raise MethodError(f"predict returned scores of shape {scores.shape}, expected {expected}")
        if not np.all(np.isfinite(scores)):
            raise MethodError(f"predict returned {int((~np.isfinite(scores)).sum())} non-finite scores")


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


def _record(tracker: Any, run_id: str, request: RunRequest, ds: api.Dataset, split: api.Split,
            result: api.EvalResult, scores: np.ndarray, method_cfg: dict, dataset_cfg: dict, chash: str,
            timings: Mapping[str, float], out_dir: Path, fit_notes: Mapping[str, Any], backbone: str | None) -> None:
    import pandas as pd
    import yaml

    from harness import results

    metrics = {k: float(v) for k, v in result.overall.items()}
    for key, values in result.per_concept.items():
        for concept, v in zip(result.concepts, values, strict=True):
            if np.isfinite(v):
                metrics[f"{key}.{concept}"] = float(v)
    metrics.update({f"time.{k}_s": v for k, v in timings.items()})
    from harness.fit_notes import ARTIFACT as FIT_ARTIFACT
    from harness.fit_notes import compact, to_tracking

    fit = to_tracking(fit_notes)
    metrics.update(fit.metrics)
    tracker.log_metrics(run_id, metrics)
    if fit.params:
        tracker.log_params(run_id, fit.params)
    tags = {f"note.{k}": json.dumps(v, default=str) for k, v in result.notes.items()}
    tracker.set_tags(run_id, {**tags, **fit.tags})

    per_concept = pd.DataFrame({"concept": list(result.concepts), **{k: v for k, v in result.per_concept.items()}})
    buf = io.BytesIO()
    np.savez_compressed(buf, scores=scores.astype(np.float32), ids=np.asarray(split.ids).astype(str),
                        concepts=np.asarray(ds.concepts).astype(str))
    short_notes = compact(fit_notes)
    resolved_cfg = {"method": request.method, "dataset": request.dataset, "seed": request.seed,
                    "config": method_cfg, "dataset_config": dataset_cfg, "config_hash": chash,
                    "backbone": backbone, "fit": short_notes}
    tracker.log_artifacts(run_id, {
        "per_concept.csv": per_concept.to_csv(index=False).encode(),
        "scores.npz": buf.getvalue(),
        "config.yaml": yaml.safe_dump(resolved_cfg, sort_keys=False).encode(),
        FIT_ARTIFACT: json.dumps({"backbone": backbone, "fit": dict(fit_notes)}, indent=1).encode(),
    })

    higher = {name: api.METRICS.get(name).higher_is_better for name in metric_names(ds, request.eval_split)}
    stamp = time.time()
    base = {"run_id": run_id, "status": "FINISHED", "dataset": request.dataset, "is_miniature": ds.is_miniature,
            "method": request.method, "config_hash": chash, "seed": request.seed, "timestamp": stamp,
            "params_json": json.dumps({"config": method_cfg, "dataset": dataset_cfg}, sort_keys=True, default=str),
            "tags_json": json.dumps(dict(request.tags), sort_keys=True), "eval_split": request.eval_split,
            "notes_json": json.dumps({"backbone": backbone, "fit": short_notes}, sort_keys=True)}
    rows = [{**base, "metric": k, "concept": "", "value": float(v), "higher_is_better": higher.get(k, True)}
            for k, v in result.overall.items()]
    for key, values in result.per_concept.items():
        rows += [{**base, "metric": key, "concept": c, "value": float(v), "higher_is_better": True}
                 for c, v in zip(result.concepts, values, strict=True) if np.isfinite(v)]
    results.append_rows(out_dir, rows)


def _record_failure(out_dir: Path, run_id: str, request: RunRequest, chash: str, method_cfg: dict, error: str) -> None:
    from harness import results

    results.append_rows(out_dir, [{
        "run_id": run_id, "status": "FAILED", "dataset": request.dataset, "is_miniature": None,
        "method": request.method, "config_hash": chash, "seed": request.seed, "metric": "error", "concept": "",
        "value": float("nan"), "higher_is_better": None, "timestamp": time.time(),
        "params_json": json.dumps({"config": method_cfg}, default=str), "tags_json": json.dumps({"error": error[:2000]}),
        "eval_split": request.eval_split,
    }])
