"""Shared fit / predict of the ``amtl`` and ``cmtl`` plugins.

Both follow METHODS.md 2.3-2.5: standardise the features with training statistics, build each
concept's training set (all positives + up to 15 negatives per positive), solve one multi-task
problem over the trainable concepts, and score ``x w_t + c_t``. Concepts without positives (or
negatives) are left out of the problem and score 0.

Solver choice (``solver`` field): ``cvxpy`` = the reference conic formulation, ``apg`` = the fast
torch solver (CPU or CUDA), ``auto`` = cvxpy while the problem size is at most
``cvxpy_max_size``, else apg. The choice is exposed as ``solver_used_`` (the runner records it)
and the details as ``fit_info_``.
"""

from __future__ import annotations

import logging
from typing import Any, Self

import numpy as np

from harness.api import Method, MethodData
from harness.seeding import derive_seed
from methods._mtl.problem import MTLProblem, MTLSolution
from methods._sampling import sample_training_mask, trainable_concepts
from methods._standardize import Standardizer, checked_features, checked_labels

log = logging.getLogger(__name__)

SOLVERS = ("auto", "cvxpy", "apg")


def problem_size(problem: MTLProblem) -> int:
    """Size of the conic program cvxpy would build: data entries plus the ``(d + T)^2`` PSD block."""
    d, T = problem.n_features, problem.n_tasks
    return int(problem.task_sizes.sum()) * d + (d + T) ** 2


class MTLMethod(Method):
    """Base of the MALSAR-style multi-task plugins; subclasses implement :meth:`_solve`."""

    tasks = ("multilabel",)
    fitted_notes = ("solver_used_", "fit_info_", "skipped_concepts_")

    def _solve(self, problem: MTLProblem, solver: str) -> MTLSolution:
        raise NotImplementedError

    def _choose_solver(self, problem: MTLProblem) -> str:
        cfg = self.config
        if cfg.solver != "auto":
            return str(cfg.solver)
        return "cvxpy" if problem_size(problem) <= cfg.cvxpy_max_size else "apg"

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        name = getattr(self, "name", type(self).__name__)
        cfg = self.config
        X = checked_features(train, name)
        labels = checked_labels(train, name)
        if cfg.standardize:
            self.standardizer_: Standardizer | None = Standardizer.fit(X)
            X = self.standardizer_.transform(X)
        else:
            self.standardizer_ = None
            X = np.asarray(X, dtype=np.float64)
        mask = sample_training_mask(labels, neg_ratio=cfg.neg_ratio, seed=derive_seed(self.seed, name, "negatives"))
        self.trained_ = trainable_concepts(labels, mask, train.concepts, name)
        self.skipped_concepts_ = [train.concepts[t] for t in np.flatnonzero(~self.trained_)]
        d, T = X.shape[1], labels.shape[1]
        self.coef_ = np.zeros((d, T))
        self.intercept_ = np.zeros(T)
        self.n_features_ = d
        if not self.trained_.any():
            self.solver_used_ = "none"
            self.fit_info_: dict[str, Any] = {"solver": "none", "reason": "no trainable concept"}
            return self
        ok = self.trained_
        problem = MTLProblem(X, np.where(labels[:, ok] == 1, 1.0, -1.0), mask[:, ok]).compact()
        solver = self._choose_solver(problem)
        solution = self._solve(problem, solver)
        self.coef_[:, ok] = solution.W
        self.intercept_[ok] = solution.c
        self.solver_used_ = solver
        self.fit_info_ = {
            "solver": solution.solver,
            "problem_size": problem_size(problem),
            "objective": solution.objective,
            "n_iter": solution.n_iter,
            "converged": solution.converged,
            "seconds": solution.seconds,
        }
        if not solution.converged:
            log.warning("%s: the %s solver stopped before convergence (%d iterations)", name, solution.solver, solution.n_iter)
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        name = getattr(self, "name", type(self).__name__)
        X = checked_features(data, name, self.n_features_)
        X = self.standardizer_.transform(X) if self.standardizer_ is not None else np.asarray(X, dtype=np.float64)
        scores = X @ self.coef_ + self.intercept_[None, :]
        scores[:, ~self.trained_] = 0.0
        return scores

    def _device(self) -> str:
        from methods._device import torch_device

        return str(torch_device(self.device))
