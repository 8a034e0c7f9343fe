"""Scoring stage of a run: the protocol's metrics on a split, the validation ``Scorer`` handed to
methods, and the checks a method's prediction must pass before anything is scored."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from harness import api
from harness.errors import HarnessError, InvalidParameterError, MethodError


def metric_names(ds: api.Dataset, eval_split: str) -> tuple[str, ...]:
    """The metrics a split is scored with: the validation metric, or the headline and its extras."""
    if eval_split == "val":
        return (ds.protocol.val_metric,)
    return (ds.protocol.metric, *ds.protocol.extra_metrics)


def _eval_input(ds: api.Dataset, split: api.Split, scores: api.Prediction) -> api.EvalInput:
    return api.EvalInput(scores=scores, ids=split.ids, concepts=ds.concepts, protocol=ds.protocol,
                         labels=split.labels, groups=split.groups, extra=split.extra)  # fmt: skip


def _run_metric(name: str, inp: api.EvalInput, ds_name: str) -> api.EvalResult:
    spec = api.METRICS.get(name)
    missing = [r for r in spec.requires if getattr(inp, r, None) is None]
    if missing:
        raise HarnessError(f"metric {name!r} needs {', '.join(missing)}, which data set {ds_name!r} does not provide")
    return spec.fn(inp)


def evaluate(ds: api.Dataset, scores: api.Prediction, split: api.Split | None = None,
             eval_split: str = "test") -> api.EvalResult:
    """Score ``split`` (default: the test split) with the protocol's metrics for that split.

    Per-concept values of every metric are aligned on one concept list (NaN where a metric has no
    value); ``EvalResult.directions`` says, per overall and per-concept key, whether higher is better.
    """
    split = ds.test if split is None else split
    inp = _eval_input(ds, split, scores)
    overall: dict[str, float] = {}
    directions: dict[str, bool] = {}
    by_metric: list[tuple[tuple[str, ...], dict[str, np.ndarray]]] = []
    notes: dict[str, Any] = {}
    for name in metric_names(ds, eval_split):
        higher = api.METRICS.get(name).higher_is_better
        res = _run_metric(name, inp, ds.name)
        overall.update(res.overall)
        directions.update({k: higher for k in res.overall})
        directions.update({k: higher for k in res.per_concept})
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
    return api.EvalResult(overall=overall, concepts=concepts, per_concept=per_concept, notes=notes,
                          directions=directions)


def _subset(scores: api.Prediction, rows: np.ndarray) -> api.Prediction:
    if isinstance(scores, Mapping):
        return {k: np.asarray(v)[rows] for k, v in scores.items()}
    return np.asarray(scores)[rows]


def make_scorer(ds: api.Dataset, split: api.Split) -> api.Scorer | None:
    """The protocol's ``val_metric`` on ``split`` as a :class:`~harness.api.Scorer` (None without labels)."""
    if split.labels is None or len(split) == 0:
        return None
    name = ds.protocol.val_metric
    spec = api.METRICS.get(name)

    def score(scores: api.Prediction, *, rows: np.ndarray | None = None, labels: np.ndarray | None = None,
              all_concepts: bool = False) -> float:
        part = split if rows is None else split.subset(np.asarray(rows))
        if rows is not None:
            scores = _subset(scores, np.asarray(rows))
        if labels is not None:
            labels = np.asarray(labels)
            if len(labels) != len(part):
                raise ValueError(f"val_score: labels has {len(labels)} rows for {len(part)} items")
            part = api.Split(ids=part.ids, groups=part.groups, labels=labels, paths=part.paths,
                             extra=part.extra)  # fmt: skip
        inp = _eval_input(ds, part, scores)
        if all_concepts:
            inp = dataclasses.replace(inp, protocol=dataclasses.replace(ds.protocol, eval_concepts=None))
        res = _run_metric(name, inp, ds.name)
        return float(res.overall[name] if name in res.overall else next(iter(res.overall.values())))

    return api.Scorer(metric=name, higher_is_better=spec.higher_is_better, fn=score)


def check_val_metric(ds: api.Dataset) -> None:
    """The validation metric must be registered (a typo in an adapter fails before any work)."""
    try:
        api.METRICS.get(ds.protocol.val_metric)
    except KeyError as exc:
        raise InvalidParameterError(f"data set {ds.name!r} declares val_metric {ds.protocol.val_metric!r}: {exc}") from None


def check_prediction(prediction: Any, ds: api.Dataset, split: api.Split) -> api.Prediction:
    """Validate a method's prediction against the protocol; returns it as float arrays.

    An (n, T) matrix over the data set's concepts, or, where the protocol names ``heads``, a
    mapping with exactly those heads, each (n, *shape); every value finite.
    """
    n = len(split)
    heads = dict(ds.protocol.heads)
    if isinstance(prediction, Mapping):
        out = {str(k): np.asarray(v, dtype=np.float64) for k, v in prediction.items()}
        if heads and set(out) != set(heads):
            raise MethodError(f"predict returned heads {sorted(out)}, the protocol of {ds.name!r} expects {sorted(heads)}")
        for name, arr in out.items():
            expected = (n, *heads[name]) if name in heads else None
            if expected is not None and arr.shape != expected:
                raise MethodError(f"predict returned head {name!r} of shape {arr.shape}, expected {expected}")
            if len(arr) != n:
                raise MethodError(f"predict returned head {name!r} with {len(arr)} rows for {n} items")
            if not np.all(np.isfinite(arr)):
                raise MethodError(f"predict returned {int((~np.isfinite(arr)).sum())} non-finite values in head {name!r}")
        return out
    if heads:
        raise MethodError(f"the protocol of {ds.name!r} expects a mapping of heads {sorted(heads)} from predict, "
                          f"got an array")  # fmt: skip
    try:
        scores = np.asarray(prediction, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MethodError(f"predict must return an array of scores, got {type(prediction).__name__}: {exc}") from None
    if ds.task in ("multilabel", "multiclass"):
        expected = (n, len(ds.concepts))
        if scores.shape != expected:
            raise MethodError(f"predict returned scores of shape {scores.shape}, expected {expected}")
    elif len(scores) != n:
        raise MethodError(f"predict returned {len(scores)} rows of scores for {n} items")
    if not np.all(np.isfinite(scores)):
        raise MethodError(f"predict returned {int((~np.isfinite(scores)).sum())} non-finite scores")
    return scores
