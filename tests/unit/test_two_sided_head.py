"""Two-sided head and losses against the worked examples of METHODS.md 2.1 and 2.6."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from methods._two_sided import (  # noqa: E402
    TwoSidedHead,
    label_constraint_loss,
    masked_hinge_loss,
    phi_matrix,
    phi_targets,
    two_sided_scores,
)

H = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
L = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]], dtype=torch.float64)
S_T = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)  # the task row of the example
C = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.5]], dtype=torch.float64)


def test_forward_oracle() -> None:
    assert two_sided_scores(H, L, S_T).item() == pytest.approx(-1.5)


def test_forward_all_concepts_at_once_equals_per_concept() -> None:
    gen = torch.Generator().manual_seed(0)
    h, Lm, S = torch.randn(5, 4, generator=gen), torch.randn(4, 3, generator=gen), torch.randn(6, 3, generator=gen)
    full = two_sided_scores(h, Lm, S)
    for t in range(6):
        torch.testing.assert_close(full[:, t], (h @ Lm) @ torch.relu(S[t]))


def test_hinge_oracle() -> None:
    score = two_sided_scores(H, L, S_T)
    on = torch.ones_like(score, dtype=torch.bool)
    assert masked_hinge_loss(score, torch.tensor([[1.0]]), on).item() == pytest.approx(2.5)
    assert masked_hinge_loss(score, torch.tensor([[-1.0]]), on).item() == pytest.approx(0.0)


def test_hinge_averages_over_selected_pairs_only() -> None:
    scores = torch.tensor([[-1.5, 0.0], [3.0, 0.5]])
    targets = torch.tensor([[1.0, -1.0], [1.0, 1.0]])
    mask = torch.tensor([[True, False], [False, True]])
    # selected: (0,0) -> 2.5 and (1,1) -> 0.5; mean = 1.5
    assert masked_hinge_loss(scores, targets, mask).item() == pytest.approx(1.5)
    none = torch.zeros_like(mask)
    assert masked_hinge_loss(scores, targets, none).item() == 0.0


def test_constraint_logits_oracle() -> None:
    s = torch.relu(S_T)
    np.testing.assert_allclose((s @ C.T).numpy()[0], [0.5, 0.0, 1.0])


def test_phi_oracle_and_targets() -> None:
    a = [1, 1, 0, 0, 1, 0]
    b = [1, 0, 0, 0, 1, 1]
    phi = phi_matrix(np.array([a, b]).T)
    assert phi[0, 1] == pytest.approx(0.333333, abs=1e-6)
    assert phi[0, 1] == pytest.approx(np.corrcoef(a, b)[0, 1])  # = Pearson on 0/1 vectors
    np.testing.assert_allclose(np.diag(phi), 1.0)
    assert phi_targets(phi)[0, 1] == pytest.approx(0.666667, abs=1e-6)


def test_phi_uses_co_annotated_examples_and_zero_when_undefined() -> None:
    a = [1, 1, 0, 0, 1, 0, 1, 0]
    b = [1, 0, 0, 0, 1, 1, -1, -1]  # the last two examples are not annotated for b
    c = [1, 1, 1, 1, 1, 1, 1, 1]  # constant: phi undefined
    phi = phi_matrix(np.array([a, b, c]).T)
    assert phi[0, 1] == pytest.approx(1 / 3)
    assert phi[1, 0] == pytest.approx(1 / 3)
    assert phi[0, 2] == 0.0 and phi[2, 1] == 0.0 and phi[2, 2] == 1.0
    assert phi_targets(phi)[0, 2] == 0.5


def test_phi_matches_pairwise_loop() -> None:
    gen = np.random.default_rng(0)
    y = gen.choice([-1, 0, 1], size=(50, 5), p=[0.2, 0.6, 0.2])
    phi = phi_matrix(y)
    for i in range(5):
        for j in range(5):
            both = (y[:, i] >= 0) & (y[:, j] >= 0)
            a, b = y[both, i], y[both, j]
            expected = 1.0 if i == j else (np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else 0.0)
            assert phi[i, j] == pytest.approx(expected, abs=1e-12)


def test_sigmoid_cross_entropy_oracle() -> None:
    logit = torch.tensor([[0.5]], dtype=torch.float64)
    target = torch.tensor([[2 / 3]], dtype=torch.float64)
    s, c = logit, torch.ones(1, 1, dtype=torch.float64)  # s C^T = 0.5
    assert label_constraint_loss(s, c, target).item() == pytest.approx(0.640744, abs=1e-6)
    sig = 1 / (1 + math.exp(-0.5))
    assert sig == pytest.approx(0.622459, abs=1e-6)


def test_constraint_sum_vs_mean_and_weights() -> None:
    gen = torch.Generator().manual_seed(1)
    s, c = torch.rand(3, 4, generator=gen), torch.randn(3, 4, generator=gen)
    tgt = torch.rand(3, 3, generator=gen)
    per = torch.nn.functional.binary_cross_entropy_with_logits(s @ c.T, tgt, reduction="none").sum(1)
    torch.testing.assert_close(label_constraint_loss(s, c, tgt), per.mean())
    torch.testing.assert_close(label_constraint_loss(s, c, tgt, reduction="mean"), per.mean() / 3)
    w = torch.tensor([2.0, 0.0, 1.0])  # e.g. a batch with 2 pairs of concept 0 and 1 of concept 2
    torch.testing.assert_close(label_constraint_loss(s, c, tgt, w), (2 * per[0] + per[2]) / 3)


def test_constraint_gradcheck_float64() -> None:
    gen = torch.Generator().manual_seed(2)
    # Keep S away from the ReLU kink so finite differences are valid.
    S = (torch.rand(4, 3, generator=gen, dtype=torch.float64) + 0.1) * torch.sign(torch.randn(4, 3, generator=gen, dtype=torch.float64))
    S.requires_grad_(True)
    Cm = torch.randn(4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    tgt = torch.rand(4, 4, generator=gen, dtype=torch.float64)
    w = torch.tensor([3.0, 1.0, 0.0, 2.0], dtype=torch.float64)
    for reduction in ("sum", "mean"):
        assert torch.autograd.gradcheck(
            lambda S_, C_, r=reduction: label_constraint_loss(torch.relu(S_), C_, tgt, w, r), (S, Cm)
        )


def test_constraint_gradient_reaches_only_s_and_c() -> None:
    head = TwoSidedHead(5, 4, 3, relu_s=True, with_constraint=True, init_std=1.0,
                        generator=torch.Generator().manual_seed(3)).double()
    h = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    scores = head(h)
    tgt = torch.full((4, 4), 0.5, dtype=torch.float64)
    head.constraint_loss(tgt).backward()
    assert head.L.grad is None and h.grad is None
    assert head.S.grad is not None and head.S.grad.abs().sum() > 0
    assert head.C.grad is not None and head.C.grad.abs().sum() > 0
    # Negative entries of S are cut by the ReLU: no constraint gradient reaches them.
    assert (head.S.grad[head.S.detach() < 0] == 0).all()
    scores.sum().backward()  # the prediction branch reaches L as usual
    assert head.L.grad is not None


def test_head_without_constraint_refuses_constraint_loss() -> None:
    head = TwoSidedHead(2, 2, 2)
    with pytest.raises(RuntimeError, match="label-constraint"):
        head.constraint_loss(torch.zeros(2, 2))


def test_go_mtl_oracle_without_relu() -> None:
    # METHODS.md 2.6: L = I_2, S = [[1, 0], [0, 2]] (k x T), so W = diag(1, 2); x = [1, 1] -> 1, 2.
    head = TwoSidedHead(2, 2, 2, relu_s=False)
    with torch.no_grad():
        head.L.copy_(torch.eye(2))
        head.S.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]).T)  # our S is T x k = (k x T)^T
    np.testing.assert_allclose(head(torch.tensor([[1.0, 1.0]])).detach().numpy()[0], [1.0, 2.0])
