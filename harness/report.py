"""Terminal reports of runs."""

from __future__ import annotations

from typing import Any

import numpy as np


def format_run(result: Any, per_concept: bool = False) -> str:
    from harness import api

    lines = []
    mini = " (MINIATURE data set: numbers are not comparable with the paper)" if result.is_miniature else ""
    lines.append(f"run {result.run_id}: {result.method} on {result.dataset}, seed {result.seed}{mini}")
    applied = getattr(result, "miniature_settings", None)
    if applied:
        from harness import miniature

        lines += ["  " + line for line in miniature.describe(api.METHODS.get(result.method), applied)]
    width = max(len(k) for k in result.overall) if result.overall else 10
    lines.append(f"  {'metric':<{width}}  value")
    for key, value in result.overall.items():
        marker = "  <- headline" if key == result.headline else ""
        direction = ""
        if key in api.METRICS:
            direction = " (higher is better)" if api.METRICS.get(key).higher_is_better else " (lower is better)"
        lines.append(f"  {key:<{width}}  {value:.4f}{direction}{marker}")
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.timings.items())
    fingerprint = getattr(result, "fingerprint", "")
    lines.append(f"  time: {timing}" + (f" (hardware fingerprint {fingerprint}, hw.* tags)" if fingerprint else ""))
    if per_concept and result.per_concept:
        keys = list(result.per_concept)
        cw = max(len(c) for c in result.concepts)
        lines.append("")
        lines.append(f"  {'concept':<{cw}}  " + "  ".join(f"{k:>8}" for k in keys))
        for i, concept in enumerate(result.concepts):
            vals = "  ".join(_fmt(result.per_concept[k][i]) for k in keys)
            lines.append(f"  {concept:<{cw}}  {vals}")
    lines.append(f"  recorded in {result.out_dir}/results.parquet and MLflow (see 'mlflow ui --backend-store-uri sqlite:///{result.out_dir}/mlflow.db')")
    return "\n".join(lines) + "\n"


def _fmt(v: float) -> str:
    return f"{v:>8.4f}" if np.isfinite(v) else f"{'-':>8}"
