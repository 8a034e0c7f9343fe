"""What a fit learned about itself (``Method.fitted_notes``), as JSON values and MLflow records.

A method names the fitted attributes worth keeping with a run (the chosen learning rate, the
early-stopping epoch, the solver used ...). The runner turns their values into plain JSON
(:func:`jsonable`) and records them under ``fit.<name>`` (:func:`to_tracking`):

* a number -> an MLflow metric (``fit.lr``, ``fit.best_epoch``, ``fit.best_val_map``);
* a string or boolean -> a param (``fit.solver_used``, ``fit.backbone_name``);
* a dict of numbers / strings / booleans -> one record per entry (``fit.val_map_per_lr.0.001``,
  the validation curve of a learning-rate grid; ``fit.fit_info.n_iter``);
* anything else (lists, training histories) -> a tag holding its JSON, or a pointer to the
  artifact when it is longer than an MLflow tag.

``None`` and non-finite numbers (a learning rate that diverged: ``-inf``) become JSON ``null``
and are not sent to MLflow. Every note is written in full to the run's :data:`ARTIFACT`; the run's
``config.yaml`` and the results table's ``notes_json`` column keep the short ones (:func:`compact`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ARTIFACT = "fit.json"
TAG_LIMIT = 5000  # longest MLflow tag value
SHORT_LIMIT = 2000  # longest JSON text of a note kept in config.yaml and the results table


@dataclass(frozen=True)
class TrackingRecords:
    """MLflow records of a set of notes."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars/arrays -> numbers/lists, tuples -> lists, dict keys
    -> strings, non-finite floats -> None, other objects -> their ``str``."""
    import numpy as np

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [jsonable(v) for v in items]
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (int, float, str, bool))


def to_tracking(notes: Mapping[str, Any], prefix: str = "fit") -> TrackingRecords:
    """MLflow metrics, params and tags of JSON-ready ``notes`` (see the module docstring)."""
    from harness.tracking import safe_metric_name

    out = TrackingRecords()

    def route(name: str, value: Any, nested: bool) -> None:
        name = safe_metric_name(name)
        if value is None:
            return
        if _is_number(value):
            out.metrics[name] = float(value)
        elif isinstance(value, bool):
            out.params[name] = "true" if value else "false"
        elif isinstance(value, str):
            out.params[name] = value
        elif isinstance(value, dict) and not nested and value and all(_is_scalar(v) for v in value.values()):
            for key, item in value.items():
                route(f"{name}.{key}", item, True)
        else:
            text = json.dumps(value)
            out.tags[name] = text if len(text) <= TAG_LIMIT else f"({len(text)} characters; see the {ARTIFACT} artifact)"

    for key, value in notes.items():
        route(f"{prefix}.{key}", value, False)
    return out


def compact(notes: Mapping[str, Any]) -> dict[str, Any]:
    """The notes whose JSON text is at most :data:`SHORT_LIMIT` characters (long ones stay in the artifact)."""
    return {k: v for k, v in notes.items() if len(json.dumps(v)) <= SHORT_LIMIT}
