"""MMDL-EG (METHODS.md 2.9): the one-step EG oracle, the Hedge-like closed form, grouped modality
training equal to one-network-at-a-time training, the threshold and top-k rules, and a small fit."""

from __future__ import annotations

import numpy as np
import pytest

from harness import api
from methods._mmdl_eg import EGWeights, eg_step, threshold_sweep, top_k_labels
from methods.mmdl_eg import MMDLEG

HL = api.Protocol(metric="hamming_loss", val_metric="hamming_loss")


def test_eg_one_step_oracle() -> None:
    alpha = np.full(3, 1 / 3)
    s = np.array([0.2, -0.1, 0.4])
    assert 1.0 - alpha @ s == pytest.approx(0.833333, abs=1e-6)  # hinge active
    new = eg_step(alpha, s, eta=0.5, gamma=1.0)
    np.testing.assert_allclose(new, [0.337168, 0.290203, 0.372628], atol=1e-6)
    assert (alpha * np.exp(0.5 * s)).sum() == pytest.approx(1.092601, abs=1e-6)
    assert new @ s == pytest.approx(0.187465, abs=1e-6)
    assert 1.0 - new @ s == pytest.approx(0.812535, abs=1e-6)
    # The vectorised log-space weights do the same step.
    w = EGWeights(3, [0.5], gamma=1.0)
    w.update(s)
    np.testing.assert_allclose(w.alpha[0], new, rtol=1e-12)
    # An inactive hinge leaves the weights alone.
    np.testing.assert_array_equal(eg_step(alpha, np.array([3.0, 3.0, 3.0]), eta=0.5), alpha)


def test_hedge_closed_form_when_every_step_is_active() -> None:
    # Margins of probability differences lie in [-1, 1], so with gamma = 1 the hinge fires on every
    # triplet and alpha_T+1 is proportional to exp(eta * cumulative margin).
    g = np.random.default_rng(0)
    margins = g.uniform(-0.9, 0.9, size=(200, 5))
    etas = [0.01, 0.5, 1.0]
    w = EGWeights(5, etas, gamma=1.0)
    for s in margins:
        w.update(s)
    assert (w.active_steps == 200).all()
    for e, eta in enumerate(etas):
        hedge = np.exp(eta * margins.sum(axis=0))
        np.testing.assert_allclose(w.alpha[e], hedge / hedge.sum(), rtol=1e-9)
        alpha = np.full(5, 0.2)
        for s in margins:
            alpha = eg_step(alpha, s, eta)
        np.testing.assert_allclose(w.alpha[e], alpha, rtol=1e-9)


def test_threshold_sweep_minimises_hamming_loss() -> None:
    g = np.random.default_rng(1)
    scores = g.random((40, 6))
    labels = (scores + g.normal(0, 0.3, scores.shape) > 0.7).astype(np.int8)
    tau, loss = threshold_sweep(scores, labels)
    assert np.mean((scores >= tau) != labels) == pytest.approx(loss)
    grid = np.unique(np.r_[scores.ravel(), 2.0])
    assert loss == pytest.approx(min(np.mean((scores >= t) != labels) for t in grid))
    # No label at all is a candidate (all scores below tau).
    tau0, loss0 = threshold_sweep(np.array([[0.2, 0.1]]), np.array([[0, 0]]))
    assert tau0 > 0.2 and loss0 == 0.0
    np.testing.assert_array_equal(top_k_labels(np.array([[0.1, 0.9, 0.5], [0.3, 0.3, 0.2]]), 2),
                                  [[0, 1, 1], [1, 1, 0]])  # fmt: skip


def make_data(n: int = 90, seed: int = 0) -> tuple[api.MethodData, api.MethodData, api.MethodData]:
    g = np.random.default_rng(seed)
    y = np.zeros((n, 4), dtype=np.int8)
    y[np.arange(n), g.integers(4, size=n)] = 1
    y[g.random((n, 4)) < 0.1] = 1
    blocks = {"a": g.random((n, 7)) * 0.3 + 0.7 * y @ g.random((4, 7)), "b": g.random((n, 3))}

    def md(idx: slice, labelled: bool) -> api.MethodData:
        ids = np.arange(n)[idx].astype(str)
        return api.MethodData(ids=ids, groups=ids, concepts=("w", "x", "y", "z"), task="multilabel",
                              labels=y[idx] if labelled else None, blocks={k: v[idx] for k, v in blocks.items()},
                              protocol=HL)  # fmt: skip

    return md(slice(0, 60), True), md(slice(60, 75), True), md(slice(75, n), False)


SMALL = {"hidden": 8, "epochs": 3, "batch_size": 16, "lr": 0.05, "online_steps": 20}


@pytest.mark.parametrize("online", ["frozen", "joint"])
def test_grouped_training_equals_one_network_at_a_time(online: str) -> None:
    train, val, test = make_data()
    fitted = {}
    for batched in (True, False):
        cfg = MMDLEG.Config(**SMALL, online=online, batched=batched)
        fitted[batched] = MMDLEG(config=cfg, seed=4).fit(train, val)
    grouped, alone = fitted[True], fitted[False]
    assert len(grouped.nets_) == 1 and len(alone.nets_) == 6
    assert grouped.modalities_ == ["a/linear", "a/cosine", "a/rbf", "b/linear", "b/cosine", "b/rbf"]
    assert grouped.nets_[0].widths == [3, 7]  # one first-layer tensor per input width
    for j, net in enumerate(alone.nets_):
        for p_group, p_alone in zip(grouped.nets_[0].modality_state(j), net.modality_state(0), strict=True):
            np.testing.assert_allclose(p_group, p_alone, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(grouped.alpha_, alone.alpha_, atol=1e-5)
    np.testing.assert_array_equal(grouped.predict(test), alone.predict(test))
    np.testing.assert_allclose(grouped.stage1_loss_, alone.stage1_loss_, rtol=1e-5)


def test_fit_records_modalities_weights_and_rules() -> None:
    train, val, test = make_data()
    m = MMDLEG(config=MMDLEG.Config(**SMALL, measures=("linear", "rbf")), seed=0).fit(train, val)
    assert list(m.weights_) == ["a/linear", "a/rbf", "b/linear", "b/rbf"]
    assert sum(m.weights_.values()) == pytest.approx(1.0, abs=1e-5)
    assert m.eta_ in (0.01, 0.1, 0.5, 1.0) and set(m.val_hamming_per_eta_) == {"0.01", "0.1", "0.5", "1"}
    pred = m.predict(test)
    assert set(np.unique(pred)) <= {0.0, 1.0} and m.output_ == "labels" and m.threshold_ is not None
    top = MMDLEG(config=MMDLEG.Config(**SMALL, label_rule="top_k"), seed=0).fit(train, val)
    assert top.top_k_ == 1 and (top.predict(test).sum(axis=1) == 1).all()
    # Without a validation split the method holds out 10 % of training itself.
    assert MMDLEG(config=MMDLEG.Config(**SMALL), seed=0).fit(train).threshold_ is not None
