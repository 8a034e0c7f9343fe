"""MTN's building blocks: the METHODS.md 2.10 oracles (AQPr, attention core, CCM, Eq. 4) and the
stop-gradients (CCM, importance regressor input)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods._mtn_units import (
    AGGREGATORS,
    CCM,
    AQPr,
    MTNHead,
    MTxUnit,
    TxUnit,
    attend,
    post_processed,
)
from metrics.functional import post_processed_selection


def test_aqpr_oracle() -> None:
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]])
    mask = torch.ones(1, 3)
    for eps, expected in ((0.0, 1.323701), (1e-5, 1.323700)):
        aqpr = AQPr(2, "instance", eps=eps)
        with torch.no_grad():
            aqpr.w_att.weight.copy_(torch.tensor([[1.0, 1.0]]))
        tol = 2e-6 if eps == 0 else 1e-5  # epsilon moves the normalised logits by ~4e-6
        assert aqpr.logits(x, mask).detach().numpy().ravel() == pytest.approx([-0.707107, -0.707107, 1.414214], abs=tol)
        y, m = aqpr(x, mask)
        assert m.detach().numpy().ravel() == pytest.approx([0.330238, 0.330238, 0.804430], abs=tol)
        assert y.detach().numpy().ravel() == pytest.approx([expected, expected], abs=1e-6)


def test_aqpr_ignores_padding_and_other_norms_run() -> None:
    x = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0], [9.0, -9.0]]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    aqpr = AQPr(2, "instance", eps=0.0)
    with torch.no_grad():
        aqpr.w_att.weight.copy_(torch.tensor([[1.0, 1.0]]))
    y, m = aqpr(x, mask)
    assert float(m.detach()[0, 3]) == 0.0
    assert y.detach().numpy().ravel() == pytest.approx([1.323701, 1.323701], abs=1e-6)
    for norm in ("batch", "bias", "none"):
        out, _ = AQPr(2, norm)(x, mask)
        assert torch.isfinite(out).all()
    with pytest.raises(ValueError):
        AQPr(2, "layer")


def test_attention_core_oracle() -> None:
    q = torch.tensor([[1.0, 0.0]])
    k = torch.eye(2).unsqueeze(0)
    v = 2 * torch.eye(2).unsqueeze(0)
    av, a = attend(q, k, v)
    assert a.numpy().ravel() == pytest.approx([0.669762, 0.330238], abs=1e-6)
    assert av.numpy().ravel() == pytest.approx([1.339523, 0.660477], abs=1e-6)


@pytest.mark.parametrize("unit", [MTxUnit, TxUnit])
def test_units_attend_like_the_literal_projection(unit: type) -> None:
    """The unit's O(N C) attention equals projecting every token to K and V (the same numbers)."""
    torch.manual_seed(0)
    u = unit(6, 4, 4, 0.0)
    q, x = torch.randn(3, 4), torch.randn(3, 10, 6)
    mask = torch.ones(3, 10)
    mask[1, 7:] = 0
    torch.testing.assert_close(u.context(q, x, mask), u.context_projected(q, x, mask), rtol=1e-5, atol=1e-6)
    assert u(q, x, mask).shape == (3, 4)


def test_ccm_oracle() -> None:
    ccm = CCM(2, 2)
    with torch.no_grad():
        ccm.to_scene.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 1.0]]))
        ccm.to_scene.bias.copy_(torch.tensor([0.0, 0.5]))
    q_alpha, _ = ccm(torch.tensor([[1.0, -1.0]]), torch.tensor([[2.0, 1.0]]))
    assert q_alpha.detach().numpy().ravel().tolist() == pytest.approx([3.0, -1.0])


def test_post_processing_oracle() -> None:
    scene = torch.softmax(torch.tensor([[2.0, 0.0, 0.0]]), 1)
    action = torch.softmax(torch.tensor([[1.0, 1.0]]), 1)
    imp = torch.sigmoid(torch.tensor([0.0]))
    assert float(post_processed(scene, action, imp)[0]) == pytest.approx(0.196747, abs=1e-6)
    u = post_processed_selection(scene.numpy(), action.numpy(), imp.numpy())
    assert u[0] == pytest.approx(0.196747, abs=1e-6)
    assert post_processed_selection(scene.numpy(), action.numpy(), [-1.0])[0] == 0.0  # negative counts as 0


def _head(aggregator: str, **kw: object) -> MTNHead:
    torch.manual_seed(0)
    return MTNHead((6, 5), (3, 4), aggregator=aggregator, dim=8, units=2, dropout=0.0, **kw)  # type: ignore[arg-type]


def _batch() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(1)
    return (torch.randn(4, 12, 6, generator=g), torch.ones(4, 12), torch.randn(4, 12, 5, generator=g), torch.ones(4, 12))


def _grads(module: torch.nn.Module) -> dict[str, float]:
    return {n: (0.0 if p.grad is None else float(p.grad.abs().sum())) for n, p in module.named_parameters()}


@pytest.mark.parametrize("aggregator", ["gap_ccm", "mtx"])
@pytest.mark.parametrize("backprop", [False, True])
def test_ccm_stops_the_other_tasks_gradient(aggregator: str, backprop: bool) -> None:
    """A scene-only loss reaches no action-side parameter through CCM (and reaches them once
    ccm_backprop removes the stop-gradient). The action features enter it through CCM only."""
    head = _head(aggregator, ccm_backprop=backprop)
    x_sc, m_sc, x_ac, m_ac = _batch()
    x_ac = x_ac.requires_grad_(True)
    head(x_sc, m_sc, x_ac, m_ac)["scene"].sum().backward()
    grads = _grads(head)
    action_side = {n: g for n, g in grads.items() if ".action." in f".{n}." or n.startswith(("aqpr.action", "query.action", "stack.action"))}
    action_side = {n: g for n, g in action_side.items() if not n.startswith("cls.")}
    if aggregator == "mtx":
        assert action_side, "the action stack has parameters"
        assert (max(action_side.values()) > 0) == backprop, action_side
    into_action = float(x_ac.grad.abs().sum()) if x_ac.grad is not None else 0.0
    assert (into_action > 0) == backprop
    assert max(g for n, g in grads.items() if n.startswith("cls.action")) == 0.0


@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_importance_regressor_input_is_detached(aggregator: str) -> None:
    """The BCE of the importance head trains the regressor only: zero gradient to every other
    parameter and to the backbone features."""
    head = _head(aggregator)
    x_sc, m_sc, x_ac, m_ac = _batch()
    x_sc.requires_grad_(True)
    x_ac.requires_grad_(True)
    out = head(x_sc, m_sc, x_ac, m_ac)
    torch.nn.functional.binary_cross_entropy_with_logits(out["importance"], torch.full((4,), 0.3)).backward()
    grads = _grads(head)
    assert max(g for n, g in grads.items() if n.startswith("importance.")) > 0
    assert max(g for n, g in grads.items() if not n.startswith("importance.")) == 0.0
    assert x_sc.grad is None and x_ac.grad is None


def test_gap_concat_lets_the_gradient_through() -> None:
    head = _head("gap_concat")
    x_sc, m_sc, x_ac, m_ac = _batch()
    x_ac.requires_grad_(True)
    head(x_sc, m_sc, x_ac, m_ac)["scene"].sum().backward()
    assert float(x_ac.grad.abs().sum()) > 0


def test_importance_input_width() -> None:
    """mtx: every unit's output query of both tasks, 2 N_u D values [AMB-38]; else both task features."""
    assert _head("mtx").importance.mlp[0].in_features == 2 * 2 * 8
    assert _head("gap").importance.mlp[0].in_features == 6 + 5
    assert _head("gap").importance.mlp[0].out_features == (6 + 5) // 2


def test_masked_tokens_do_not_change_the_output() -> None:
    head = _head("mtx").eval()
    x_sc, m_sc, x_ac, m_ac = _batch()
    ref = head(x_sc, m_sc, x_ac, m_ac)
    pad = lambda x: torch.cat([x, 100 * torch.ones(4, 3, x.shape[2])], 1)  # noqa: E731
    pm = lambda m: torch.cat([m, torch.zeros(4, 3)], 1)  # noqa: E731
    out = head(pad(x_sc), pm(m_sc), pad(x_ac), pm(m_ac))
    for k in ("scene", "action", "importance"):
        torch.testing.assert_close(out[k], ref[k], rtol=1e-5, atol=1e-5)
    assert np.isfinite(out["attention"]["scene"].detach().numpy()).all()
