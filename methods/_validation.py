"""The validation score methods select models with: the protocol's ``val_metric`` (no private metric copies).

The runner hands every method ``val.val_score`` (a :class:`~harness.api.Scorer` built from the data
set's ``Protocol.val_metric`` through the metric registry). A method called directly (a unit test,
a notebook) gets no scorer; :func:`val_scorer` then builds it from the data (its protocol, or the
task's usual validation metric) with the runner's own builder, so the numbers agree.

AMB-48: the multi-label methods validate on the held-out shots sampled 15:1 per concept as in
training; :func:`sampled_labels` turns that sample into labels (-1 outside it), which ``map``
leaves out per concept. They score every annotated concept (``all_concepts=True``), as they always
have: held-out training shots are annotated for all 60 SIN concepts, not only the judged 38.
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
    """The runner's :class:`~harness.api.Scorer` of ``metric`` (default: the protocol's ``val_metric``) on ``data``.

    Built by the runner's own :func:`harness.run_eval.make_scorer` over ``data`` as a one-split data
    set, so a method called directly is scored exactly as through ``harness run`` (``rows=``,
    ``labels=``, ``all_concepts=`` included).
    """
    from pathlib import Path

    from harness.registry import load_plugins
    from harness.run_eval import make_scorer

    load_plugins()  # the metric registry is filled by importing the metrics package
    protocol = data.protocol
    if protocol is None:
        protocol = api.Protocol(metric="none", val_metric=TASK_VAL_METRICS.get(data.task, "map"))
    if metric is not None:
        protocol = dataclasses.replace(protocol, val_metric=metric)
    split = api.Split(ids=data.ids, groups=data.groups, labels=data.labels, paths=data.paths,
                      extra=dict(data.extra))  # fmt: skip
    ds = api.Dataset(name=data.dataset or "direct", task=data.task, concepts=data.concepts, train=split, test=split,
                     protocol=protocol, manifest_hash="", root=Path("."), info=dict(data.info))  # fmt: skip
    scorer = make_scorer(ds, split)
    if scorer is None:
        raise ValueError("scorer_from_data needs labelled data")
    return scorer


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
