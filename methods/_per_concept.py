"""One scikit-learn classifier per concept, fitted in parallel (threads or processes).

Shared by ``lsvm`` and ``ksvm`` (METHODS.md 2.3): each concept trains on its own sampled training
set (all positives + up to 15 negatives per positive) of standardised features, as in the paper.
Concepts without both classes get no model (score 0).

LIBSVM and LIBLINEAR release the GIL, so threads parallelise them without copying the data. But
scikit-learn seeds LIBLINEAR through one process-wide C random generator, so concurrent
LIBLINEAR fits in threads are not reproducible: those use processes (``backend="processes"``),
and run in-process one after the other when the job is too small to pay for starting workers
(the results are identical either way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Self

import numpy as np

from harness.api import Method, MethodData
from harness.seeding import derive_seed
from methods._sampling import sample_training_mask, trainable_concepts
from methods._standardize import Standardizer, checked_features, checked_labels

PROCESS_MIN_WORK = 50_000_000  # sum over concepts of rows x features below which workers cost more


def fit_per_concept(
    make_model: Callable[[int], Any],
    X: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    trained: np.ndarray,
    *,
    n_jobs: int,
    desc: str,
    backend: str = "threads",
) -> list[Any | None]:
    """Fit ``make_model(t)`` on rows ``mask[:, t]`` with targets ``labels[:, t] == 1`` for each trained t."""
    from joblib import Parallel, delayed

    from harness.progress import progress

    todo = [int(t) for t in np.flatnonzero(trained)]
    if backend == "processes" and int(mask[:, todo].sum()) * X.shape[1] < PROCESS_MIN_WORK:
        n_jobs = 1
    models: list[Any | None] = [None] * labels.shape[1]
    jobs: Iterable[Any] = Parallel(n_jobs=n_jobs, prefer=backend, return_as="generator")(
        # Rows are sliced here, so a process worker receives only its concept's data.
        delayed(_fit)(make_model(t), X[mask[:, t]], (labels[mask[:, t], t] == 1).astype(np.int8)) for t in todo
    )
    for t, model in zip(todo, progress(jobs, desc=desc, total=len(todo)), strict=True):
        models[t] = model
    return models


def _fit(model: Any, X: np.ndarray, y: np.ndarray) -> Any:
    return model.fit(X, y)


def decision_per_concept(models: list[Any | None], X: np.ndarray, *, n_jobs: int) -> np.ndarray:
    """(n, T) decision values; 0 for concepts without a model."""
    from joblib import Parallel, delayed

    scores = np.zeros((X.shape[0], len(models)), dtype=np.float64)
    todo = [(t, m) for t, m in enumerate(models) if m is not None]
    values = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(m.decision_function)(X) for _, m in todo)
    for (t, _), v in zip(todo, values, strict=True):
        scores[:, t] = v
    return scores


class PerConceptMethod(Method):
    """Base of ``lsvm`` / ``ksvm``: standardise, sample each concept's set, fit one model per concept.

    Subclasses implement ``_make_model(t)``; the config needs ``neg_ratio``, ``standardize`` and
    ``n_jobs``. Scores are decision values; concepts without both classes score 0 (logged).
    """

    tasks = ("multilabel",)
    fitted_notes = ("skipped_concepts_",)
    parallel_backend: str = "threads"  # or "processes" (see the module docstring)

    def _make_model(self, t: int) -> Any:
        raise NotImplementedError

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        name = getattr(self, "name", type(self).__name__)
        cfg = self.config
        X = checked_features(train, name)
        labels = checked_labels(train, name)
        self.standardizer_: Standardizer | None = Standardizer.fit(X) if cfg.standardize else None
        X = self._prepare(X)
        mask = sample_training_mask(labels, neg_ratio=cfg.neg_ratio, seed=derive_seed(self.seed, name, "negatives"))
        self.trained_ = trainable_concepts(labels, mask, train.concepts, name)
        self.skipped_concepts_ = [train.concepts[t] for t in np.flatnonzero(~self.trained_)]
        self.n_features_ = X.shape[1]
        self.models_ = fit_per_concept(
            self._make_model, X, labels, mask, self.trained_, n_jobs=cfg.n_jobs, desc=f"{name}: concepts",
            backend=self.parallel_backend,
        )
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        X = self._prepare(checked_features(data, getattr(self, "name", type(self).__name__), self.n_features_))
        return decision_per_concept(self.models_, X, n_jobs=self.config.n_jobs)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        if self.standardizer_ is not None:
            return self.standardizer_.transform(X)
        return np.asarray(X, dtype=np.float64)
