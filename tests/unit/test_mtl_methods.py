"""The ``amtl`` and ``cmtl`` plugins: solver choice, standardisation, untrainable concepts."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from harness.api import MethodData
from harness.params import resolve_config
from methods.amtl import AMTL
from methods.cmtl import CMTL

pytest.importorskip("torch")
pytest.importorskip("cvxpy")


def make_data(n: int = 90, d: int = 5, T: int = 4, seed: int = 0) -> MethodData:
    gen = np.random.default_rng(seed)
    X = gen.normal(size=(n, d)).astype(np.float32) * 3.0 + 7.0  # not standardised on purpose
    W = np.outer(gen.normal(size=d), gen.uniform(0.5, 1.5, T))
    labels = ((X - 7.0) @ W + gen.normal(size=(n, T)) > 1.0).astype(np.int8)
    labels[gen.random(labels.shape) < 0.1] = -1
    labels[:, -1] = np.minimum(labels[:, -1], 0)  # last concept: no positives
    return MethodData(ids=np.arange(n), groups=np.arange(n), concepts=tuple(f"c{t}" for t in range(T)),
                      task="multilabel", labels=labels, features=X)


def fit(cls: type, data: MethodData, **sets: object) -> object:
    return cls(config=resolve_config(cls.Config, None, dict(sets)), seed=0, device="cpu").fit(data)


@pytest.mark.parametrize("cls", [AMTL, CMTL])
def test_auto_picks_cvxpy_small_and_apg_large(cls: type) -> None:
    data = make_data()
    small = fit(cls, data, cvxpy_max_size=10**9)
    large = fit(cls, data, cvxpy_max_size=0)
    assert small.solver_used_ == "cvxpy" and small.fit_info_["solver"].startswith("cvxpy")
    assert large.solver_used_ == "apg" and large.fit_info_["solver"] == "apg-cpu"
    assert large.fit_info_["problem_size"] > 0


@pytest.mark.parametrize(("cls", "loss"), [(AMTL, "least"), (AMTL, "logistic"), (CMTL, "least"), (CMTL, "logistic")])
def test_cvxpy_and_apg_methods_agree(cls: type, loss: str) -> None:
    data = make_data()
    a = fit(cls, data, solver="cvxpy", loss=loss)
    b = fit(cls, data, solver="apg", loss=loss, tol=1e-10, max_iter=20000)
    assert b.fit_info_["objective"] == pytest.approx(a.fit_info_["objective"], rel=1e-4)
    np.testing.assert_allclose(b.predict(data), a.predict(data), atol=2e-3 * np.abs(a.predict(data)).max())


@pytest.mark.parametrize("cls", [AMTL, CMTL])
def test_untrainable_concept_scores_zero_with_warning(cls: type, caplog: pytest.LogCaptureFixture) -> None:
    data = make_data()
    with caplog.at_level(logging.WARNING):
        m = fit(cls, data, solver="apg")
    assert "c3 (no positives)" in caplog.text
    assert m.skipped_concepts_ == ["c3"]
    scores = m.predict(data)
    assert np.isfinite(scores).all() and (scores[:, 3] == 0).all()
    assert scores[:, :3].std(axis=0).min() > 0


@pytest.mark.parametrize("cls", [AMTL, CMTL])
def test_features_are_standardised_with_training_statistics(cls: type) -> None:
    data = make_data()
    scaled = dataclasses.replace(data, features=data.features * 10.0 - 4.0)
    a = fit(cls, data, solver="apg", tol=1e-10, max_iter=5000).predict(data)
    b = fit(cls, scaled, solver="apg", tol=1e-10, max_iter=5000).predict(scaled)
    np.testing.assert_allclose(a, b, atol=1e-4 * np.abs(a).max())


def test_all_concepts_untrainable_gives_zero_scores(caplog: pytest.LogCaptureFixture) -> None:
    data = make_data()
    none = dataclasses.replace(data, labels=np.minimum(data.labels, 0))
    m = fit(AMTL, none)
    assert m.solver_used_ == "none"
    assert (m.predict(data) == 0).all()


def test_cmtl_caps_clusters_at_trainable_concepts(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        m = fit(CMTL, make_data(), k_c=20, solver="apg")
    assert "k_c=20 exceeds the 3 trainable concepts" in caplog.text
    assert np.isfinite(m.predict(make_data())).all()


@pytest.mark.parametrize("cls", [AMTL, CMTL])
def test_search_space_values_are_valid_configs(cls: type) -> None:
    space = cls.search_space()
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    assert set(space) <= fields
    for key, values in space.items():
        for v in values:
            resolve_config(cls.Config, None, {key: v})  # raises on an invalid value


def test_bad_parameter_is_rejected_with_the_valid_choices() -> None:
    from harness.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="'solver' parameter of amtl must be one of"):
        resolve_config(AMTL.Config, None, {"solver": "mosek"})
    with pytest.raises(InvalidParameterError, match="'rho1' parameter of cmtl"):
        resolve_config(CMTL.Config, None, {"rho1": "-1"})
