"""The single-task baselines of DMTL_LC's Table 2 beside the MTL methods: ``lsvm`` and ``ksvm``."""

from __future__ import annotations

import dataclasses
import logging
import warnings

import numpy as np
import pytest

from harness.api import MethodData
from harness.params import resolve_config
from harness.seeding import derive_seed
from methods import _per_concept
from methods._sampling import sample_training_mask
from methods._standardize import Standardizer
from methods.ksvm import KernelSVMPerConcept
from methods.lsvm import LinearSVMPerConcept


def make_data(n: int = 150, d: int = 6, T: int = 4, seed: int = 0) -> MethodData:
    gen = np.random.default_rng(seed)
    X = (gen.normal(size=(n, d)) * 2.0 + 5.0).astype(np.float32)
    labels = ((X - 5.0) @ gen.normal(size=(d, T)) + gen.normal(size=(n, T)) > 2.0).astype(np.int8)
    labels[gen.random(labels.shape) < 0.1] = -1
    labels[:, -1] = np.minimum(labels[:, -1], 0)  # no positives
    return MethodData(ids=np.arange(n), groups=np.arange(n), concepts=tuple(f"c{t}" for t in range(T)),
                      task="multilabel", labels=labels, features=X)


def build(cls: type, **sets: object) -> object:
    return cls(config=resolve_config(cls.Config, None, dict(sets)), seed=0, device="cpu")


@pytest.mark.parametrize("cls", [LinearSVMPerConcept, KernelSVMPerConcept])
def test_parity_with_direct_sklearn_per_concept(cls: type) -> None:
    """Through the plugin == fitting scikit-learn by hand on each concept's sampled training set."""
    from sklearn.svm import SVC, LinearSVC

    data = make_data()
    m = build(cls, n_jobs=1).fit(data)
    mask = sample_training_mask(data.labels, seed=derive_seed(0, cls.name, "negatives"))
    std = Standardizer.fit(data.features)
    X = std.transform(data.features)
    for t in range(3):
        rows = mask[:, t]
        if cls is LinearSVMPerConcept:
            ref = LinearSVC(C=1.0, loss="hinge", dual=True, tol=0.1, random_state=derive_seed(0, "lsvm", t))
        else:
            ref = SVC(C=1.0, kernel="rbf", gamma=1.0 / X.shape[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref.fit(X[rows], data.labels[rows, t] == 1)
        np.testing.assert_allclose(m.predict(data)[:, t], ref.decision_function(X), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cls", [LinearSVMPerConcept, KernelSVMPerConcept])
def test_parallel_equals_serial(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_per_concept, "PROCESS_MIN_WORK", 0)  # force worker processes for lsvm
    data = make_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = build(cls, n_jobs=1).fit(data).predict(data)
        b = build(cls, n_jobs=2).fit(data).predict(data)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", [LinearSVMPerConcept, KernelSVMPerConcept])
def test_untrainable_concept_scores_zero(cls: type, caplog: pytest.LogCaptureFixture) -> None:
    data = make_data()
    with caplog.at_level(logging.WARNING):
        m = build(cls).fit(data)
    assert m.skipped_concepts_ == ["c3"] and "c3 (no positives)" in caplog.text
    scores = m.predict(data)
    assert (scores[:, 3] == 0).all() and np.isfinite(scores).all()


@pytest.mark.parametrize("cls", [LinearSVMPerConcept, KernelSVMPerConcept])
def test_scores_rank_positives_first_on_training_data(cls: type) -> None:
    from methods._validation import scorer_from_data

    data = make_data(seed=1)
    m = build(cls).fit(data)
    assert scorer_from_data(data, "map")(m.predict(data)) > 0.8


def test_search_spaces_are_the_methods_grids() -> None:
    assert LinearSVMPerConcept.search_space()["C"][0] == 2.0**-5
    assert LinearSVMPerConcept.search_space()["C"][-1] == 2.0**15
    assert KernelSVMPerConcept.search_space()["gamma"][0] == 2.0**-15
    assert KernelSVMPerConcept.search_space()["gamma"][-1] == 2.0**3
    for cls in (LinearSVMPerConcept, KernelSVMPerConcept):
        for key, values in cls.search_space().items():
            for v in values:
                resolve_config(cls.Config, None, {key: v})


def test_n_jobs_zero_rejected() -> None:
    from harness.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="n_jobs"):
        resolve_config(KernelSVMPerConcept.Config, None, {"n_jobs": 0})


def test_missing_features_is_a_clear_data_error() -> None:
    from harness.errors import DataError

    with pytest.raises(DataError, match="needs feature vectors"):
        build(KernelSVMPerConcept).fit(dataclasses.replace(make_data(), features=None))
