"""The validation score methods select models with: the protocol's ``val_metric`` (no private metric copies).

The runner hands every method ``val.val_score`` (a :class:`~harness.api.Scorer` built from the data
set's ``Protocol.val_metric`` through the metric registry). A method called directly (a unit test,
a notebook) gets no scorer; :func:`val_scorer` then builds the same metric from the data (its
protocol, or the task's usual validation metric) through the same registry, so the numbers agree.

AMB-48: the multi-label methods validate on the held-out shots sampled 15:1 per concept as in
training; :func:`sampled_labels` turns that sample into labels (-1 outside it), which ``map``
leaves out per concept.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from harness import api
from harness.errors import DataError

#: Validation metric per task when the data carry no protocol (what the adapters declare; UCF101
#: video_accuracy on clip rows is plain top-1 accuracy).
TASK_VAL_METRICS = {"multilabel": "map", "multiclass": "video_accuracy", "coview": "segment_accuracy"}


def val_scorer(data: api.MethodData | None) -> api.Scorer | None:
    """``data.val_score`` if the runner set one, else the same metric built from ``data``; None without labels."""
    if data is None or data.labels is None or len(data) == 0:
        return None
    if data.val_score is not None:
        return data.val_score
    return scorer_from_data(data)


def scorer_from_data(data: api.MethodData, metric: str | None = None) -> api.Scorer:
    """A :class:`~harness.api.Scorer` of ``metric`` (default: the protocol's ``val_metric``) on ``data``.

    ``scorer(scores)`` scores every item of ``data``; ``rows=`` gives the scores of those items
    only; ``labels=`` replaces the labels (same rows as the scores).
    """
    from harness.registry import load_plugins

    load_plugins()  # the metric registry is filled by importing the metrics package
    protocol = data.protocol
    if protocol is None:
        protocol = api.Protocol(metric="none", val_metric=TASK_VAL_METRICS.get(data.task, "map"))
    name = metric or protocol.val_metric
    spec = api.METRICS.get(name)
    # Validation data are held-out training items: every annotated concept counts (the numbers
    # methods have always selected models with); the test protocol's concept subset is for the test.
    protocol = dataclasses.replace(protocol, eval_concepts=None, qrels_path=None)

    def fn(scores: Any, *, rows: np.ndarray | None = None, labels: np.ndarray | None = None) -> float:
        index = np.arange(len(data)) if rows is None else np.asarray(rows, dtype=np.int64)
        base = np.asarray(data.labels)[index] if labels is None else np.asarray(labels)
        inp = api.EvalInput(
            scores=scores, ids=data.ids[index], concepts=data.concepts, protocol=protocol, labels=base,
            groups=data.groups[index], extra={k: np.asarray(v)[index] for k, v in data.extra.items()},
        )  # fmt: skip
        return float(spec.fn(inp).overall[name])

    return api.Scorer(metric=name, higher_is_better=spec.higher_is_better, fn=fn)


def sampled_labels(labels: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """``labels`` with -1 (not judged) outside the per-concept ``selected`` sample (AMB-48)."""
    labels = np.asarray(labels)
    return np.where(np.asarray(selected, dtype=bool), labels, np.asarray(-1, dtype=labels.dtype))


def safe_score(scorer: api.Scorer, scores: Any, **kwargs: Any) -> float:
    """``scorer(scores, ...)``, or NaN when the metric is undefined on these labels (no positive at all)."""
    try:
        return scorer(scores, **kwargs)
    except DataError:
        return float("nan")
