"""DMTL / DMTL_LC network (METHODS.md 2.1): worked example through the full network, gradient routing."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from methods import _finetune as ft  # noqa: E402
from methods import _tl_nets as nets  # noqa: E402
from methods._two_sided import masked_hinge_loss, phi_matrix, phi_targets  # noqa: E402


@pytest.fixture(scope="module")
def backbone():  # noqa: ANN201
    from harness.backbones import build_trunk

    return build_trunk("mini_alexnet", "random")


def _net(backbone, *, with_constraint: bool, T: int = 4, k: int = 5) -> nets.DMTLNet:  # noqa: ANN001
    gen = torch.Generator().manual_seed(0)
    trunk = ft.build_finetune_trunk(backbone, ft.process_of("b"), gen)
    return nets.DMTLNet(trunk, trunk.out_dim, T, k, relu_s=True, with_constraint=with_constraint, generator=gen)


class _Identity(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_worked_example_through_the_network() -> None:
    # METHODS.md 2.1: h = [1, 2], L = [[1,0,1],[0,1,-1]], S_t = [0.5, -1, 2] -> y_hat = -1.5; hinge 2.5 / 0.
    net = nets.DMTLNet(_Identity(), 2, 1, 3, relu_s=True, with_constraint=True, generator=torch.Generator())
    with torch.no_grad():
        net.head.L.copy_(torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]]))
        net.head.S.copy_(torch.tensor([[0.5, -1.0, 2.0]]))
    with torch.no_grad():
        y_hat = net(torch.tensor([[1.0, 2.0]]))
    assert float(y_hat) == pytest.approx(-1.5)
    mask = torch.ones(1, 1, dtype=torch.bool)
    assert float(masked_hinge_loss(y_hat, torch.tensor([[1.0]]), mask)) == pytest.approx(2.5)
    assert float(masked_hinge_loss(y_hat, torch.tensor([[-1.0]]), mask)) == pytest.approx(0.0)


def test_label_constraint_gradient_reaches_only_s_and_c(backbone) -> None:  # noqa: ANN001
    net = _net(backbone, with_constraint=True)
    labels = np.array([[1, 0, 1, -1], [0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]], dtype=np.int8)
    targets = torch.as_tensor(phi_targets(phi_matrix(labels)), dtype=torch.float32)
    net.zero_grad(set_to_none=True)
    loss = net.head.constraint_loss(targets, torch.tensor([3.0, 1.0, 0.0, 2.0]))
    loss.backward()
    assert net.head.S.grad is not None and float(net.head.S.grad.abs().sum()) > 0
    assert net.head.C.grad is not None and float(net.head.C.grad.abs().sum()) > 0
    assert net.head.L.grad is None
    touched = [name for name, p in net.trunk.named_parameters() if p.grad is not None and float(p.grad.abs().sum()) > 0]
    assert touched == [], f"the label constraint must not reach the trunk: {touched}"


def test_total_loss_trains_the_trunk_and_dmtl_has_no_c(backbone) -> None:  # noqa: ANN001
    net = _net(backbone, with_constraint=True)
    net.train()
    x = torch.randn(6, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    y = torch.tensor([[1.0, -1.0, 1.0, -1.0]]).repeat(6, 1)
    mask = torch.ones(6, 4, dtype=torch.bool)
    targets = torch.full((4, 4), 0.5)
    loss = masked_hinge_loss(net(x), y, mask) + 0.3 * net.head.constraint_loss(targets, mask.sum(0).float())
    loss.backward()
    grads = {name: p.grad for name, p in net.named_parameters()}
    assert all(g is not None for g in grads.values()), "the hinge term reaches every layer"
    dmtl = _net(backbone, with_constraint=False)
    assert dmtl.head.C is None
    assert "head.C" not in dict(dmtl.named_parameters())


def test_scores_are_all_concepts_at_once(backbone) -> None:  # noqa: ANN001
    net = _net(backbone, with_constraint=False, T=7)
    net.eval()
    out = net(torch.zeros(5, 3, 64, 64))
    assert out.shape == (5, 7)
    h = net.trunk(torch.zeros(5, 3, 64, 64))
    torch.testing.assert_close(out, (h @ net.head.L) @ torch.relu(net.head.S).T)
