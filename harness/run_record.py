"""Record stage of a run: MLflow metrics, params, tags and artifacts, and the results-table rows."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import api


@dataclass(frozen=True)
class RunContext:
    """What every stage after set-up shares: where the run is recorded and how it is identified."""

    tracker: Any
    run_id: str
    out_dir: Path
    method: str
    dataset: str
    seed: int
    eval_split: str
    config_hash: str
    method_config: Mapping[str, Any]
    dataset_config: Mapping[str, Any]
    tags: Mapping[str, str]
    fingerprint: str = ""  # results-table column: "<hash> <json>" (harness.environment.fingerprint_column)


def scores_npz(prediction: api.Prediction, ids: np.ndarray, concepts: tuple[str, ...]) -> bytes:
    """``scores.npz``: the (n, T) matrix as ``scores``, or every head as ``scores.<head>`` (plus ``heads``)."""
    arrays: dict[str, np.ndarray] = {"ids": np.asarray(ids).astype(str), "concepts": np.asarray(concepts).astype(str)}
    if isinstance(prediction, Mapping):
        arrays.update({f"scores.{k}": np.asarray(v, dtype=np.float32) for k, v in prediction.items()})
        arrays["heads"] = np.asarray(sorted(prediction), dtype=str)
    else:
        arrays["scores"] = np.asarray(prediction, dtype=np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def record(ctx: RunContext, ds: api.Dataset, split: api.Split, result: api.EvalResult, prediction: api.Prediction,
           timings: Mapping[str, float], fit_notes: Mapping[str, Any], backbone: str | None,
           extra_notes: Mapping[str, Any] | None = None) -> None:
    """Log the finished run to MLflow and append its rows to the results table."""
    import pandas as pd
    import yaml

    from harness import results
    from harness.fit_notes import ARTIFACT as FIT_ARTIFACT
    from harness.fit_notes import compact, to_tracking

    metrics = {k: float(v) for k, v in result.overall.items()}
    for key, values in result.per_concept.items():
        for concept, v in zip(result.concepts, values, strict=True):
            if np.isfinite(v):
                metrics[f"{key}.{concept}"] = float(v)
    metrics.update({f"time.{k}_s": v for k, v in timings.items()})
    fit = to_tracking(fit_notes)
    metrics.update(fit.metrics)
    ctx.tracker.log_metrics(ctx.run_id, metrics)
    if fit.params:
        ctx.tracker.log_params(ctx.run_id, fit.params)
    tags = {f"note.{k}": json.dumps(v, default=str) for k, v in result.notes.items()}
    ctx.tracker.set_tags(ctx.run_id, {**tags, **fit.tags})

    per_concept = pd.DataFrame({"concept": list(result.concepts), **{k: v for k, v in result.per_concept.items()}})
    short_notes = compact(fit_notes)
    resolved_cfg = {"method": ctx.method, "dataset": ctx.dataset, "seed": ctx.seed, "config": dict(ctx.method_config),
                    "dataset_config": dict(ctx.dataset_config), "config_hash": ctx.config_hash, "backbone": backbone,
                    "fit": short_notes, **dict(extra_notes or {})}  # fmt: skip
    ctx.tracker.log_artifacts(ctx.run_id, {
        "per_concept.csv": per_concept.to_csv(index=False).encode(),
        "scores.npz": scores_npz(prediction, split.ids, ds.concepts),
        "config.yaml": yaml.safe_dump(json.loads(json.dumps(resolved_cfg, default=str)), sort_keys=False).encode(),
        FIT_ARTIFACT: json.dumps({"backbone": backbone, "fit": dict(fit_notes)}, indent=1).encode(),
    })

    base = {"run_id": ctx.run_id, "status": "FINISHED", "dataset": ctx.dataset, "is_miniature": ds.is_miniature,
            "method": ctx.method, "config_hash": ctx.config_hash, "seed": ctx.seed, "timestamp": time.time(),
            "params_json": json.dumps({"config": dict(ctx.method_config), "dataset": dict(ctx.dataset_config)},
                                      sort_keys=True, default=str),
            "tags_json": json.dumps(dict(ctx.tags), sort_keys=True), "eval_split": ctx.eval_split,
            "notes_json": json.dumps({"backbone": backbone, "fit": short_notes}, sort_keys=True),
            "fingerprint": ctx.fingerprint}  # fmt: skip
    direction = dict(result.directions)
    rows = [{**base, "metric": k, "concept": "", "value": float(v), "higher_is_better": direction.get(k, True)}
            for k, v in result.overall.items()]
    for key, values in result.per_concept.items():
        rows += [{**base, "metric": key, "concept": c, "value": float(v), "higher_is_better": direction.get(key, True)}
                 for c, v in zip(result.concepts, values, strict=True) if np.isfinite(v)]
    results.append_rows(ctx.out_dir, rows)


def record_failure(ctx: RunContext, error: str) -> None:
    """One FAILED row in the results table (the MLflow run is marked FAILED by the caller)."""
    from harness import results

    results.append_rows(ctx.out_dir, [{
        "run_id": ctx.run_id, "status": "FAILED", "dataset": ctx.dataset, "is_miniature": None,
        "method": ctx.method, "config_hash": ctx.config_hash, "seed": ctx.seed, "metric": "error", "concept": "",
        "value": float("nan"), "higher_is_better": None, "timestamp": time.time(),
        "params_json": json.dumps({"config": dict(ctx.method_config)}, default=str),
        "tags_json": json.dumps({"error": error[:2000]}), "eval_split": ctx.eval_split,
        "fingerprint": ctx.fingerprint,
    }])
