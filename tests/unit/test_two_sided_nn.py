"""The ``two_sided_nn`` (2S-NN) plugin, early-stopped on the protocol's validation metric."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from harness.api import MethodData
from harness.params import resolve_config
from methods._validation import sampled_labels, scorer_from_data

torch = pytest.importorskip("torch")


def mean_average_precision(scores: np.ndarray, data: MethodData, selected: np.ndarray | None = None) -> float:
    """The ``map`` metric on ``data`` (over the ``selected`` rows of each concept)."""
    labels = data.labels if selected is None else sampled_labels(data.labels, selected)
    return scorer_from_data(data, "map")(scores, labels=labels)

from methods.two_sided_nn import LR_GRID, TwoSidedNN  # noqa: E402


def make_data(n: int, seed: int, d: int = 10, T: int = 6) -> MethodData:
    gen = np.random.default_rng(seed)
    basis = np.random.default_rng(99).normal(size=(d, 2))  # shared by every split: 2 latent tasks
    coef = np.random.default_rng(98).normal(size=(2, T))
    X = gen.normal(size=(n, d)).astype(np.float32)
    labels = (X @ basis @ coef + 0.3 * gen.normal(size=(n, T)) > 1.2).astype(np.int8)
    labels[gen.random(labels.shape) < 0.1] = -1
    return MethodData(ids=np.arange(n), groups=np.arange(n), concepts=tuple(f"c{t}" for t in range(T)),
                      task="multilabel", labels=labels, features=X)


def build(seed: int = 0, **sets: object) -> TwoSidedNN:
    base = {"k": 8, "max_epochs": 30, "patience": 5, "batch_size": 64}
    return TwoSidedNN(config=resolve_config(TwoSidedNN.Config, None, {**base, **sets}), seed=seed, device="cpu")


def test_learns_a_shared_low_rank_model() -> None:
    train, val, test = make_data(600, 0), make_data(200, 1), make_data(400, 2)
    m = build().fit(train, val)
    test_map = mean_average_precision(m.predict(test), test)
    assert test_map > 0.8, f"test mean AP {test_map:.3f}; chance is about 0.2"
    assert m.best_val_map_ is not None and m.best_val_map_ > 0.8
    assert 1 <= m.best_epoch_ <= len(m.history_)


def test_early_stopping_keeps_the_best_epoch() -> None:
    train, val = make_data(300, 0), make_data(150, 1)
    m = build(max_epochs=200, patience=3, lr=1e-2).fit(train, val)
    assert len(m.history_) < 200  # stopped early
    maps = [r["val_map"] for r in m.history_]
    assert m.best_val_map_ == pytest.approx(max(maps))
    assert m.best_epoch_ == int(np.argmax(maps)) + 1
    # The kept weights are the best epoch's: rescoring the validation set reproduces its AP.
    from harness.seeding import derive_seed
    from methods._sampling import sample_training_mask

    vmask = sample_training_mask(val.labels, seed=derive_seed(0, "two_sided_nn", "val"))
    assert mean_average_precision(m.predict(val), val, vmask) == pytest.approx(m.best_val_map_, abs=1e-6)


def test_without_validation_runs_all_epochs() -> None:
    m = build(max_epochs=4).fit(make_data(200, 0), None)
    assert len(m.history_) == 4 and m.best_val_map_ is None


def test_concept_without_positives_scores_zero(caplog: pytest.LogCaptureFixture) -> None:
    train = make_data(200, 0)
    labels = train.labels.copy()
    labels[:, 2] = np.minimum(labels[:, 2], 0)
    with caplog.at_level(logging.WARNING):
        m = build(max_epochs=3).fit(dataclasses.replace(train, labels=labels), None)
    assert "c2 (no positives)" in caplog.text
    scores = m.predict(make_data(50, 3))
    assert np.isfinite(scores).all() and (scores[:, 2] == 0).all()


def test_no_relu_on_q_by_default_and_go_mtl_factorisation() -> None:
    m = build(max_epochs=2).fit(make_data(100, 0), None)
    assert m.head_.relu_s is False
    x = make_data(20, 5)
    W = (m.head_.L @ m.head_.S.T).detach().numpy()  # d x T: w_t = L s_t
    Xs = m.standardizer_.transform(x.features)
    np.testing.assert_allclose(m.predict(x), Xs @ W, rtol=1e-4, atol=1e-5)


def test_diverging_lr_raises_a_clear_error() -> None:
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        build(lr=1e6, init_std=1.0, max_epochs=5).fit(make_data(200, 0), None)


def test_lr_grid_is_the_papers() -> None:
    np.testing.assert_allclose(LR_GRID, [1e-5, 10**-4.5, 1e-4, 10**-3.5, 1e-3, 10**-2.5, 1e-2])
    assert TwoSidedNN.Config().lr in LR_GRID


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_closely() -> None:
    train, val, test = make_data(300, 0), make_data(100, 1), make_data(100, 2)
    cpu = build(max_epochs=5).fit(train, val).predict(test)
    gpu = TwoSidedNN(config=build(max_epochs=5).config, seed=0, device="cuda").fit(train, val).predict(test)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-4)
