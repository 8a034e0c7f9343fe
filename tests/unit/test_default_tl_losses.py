"""Default-TL (METHODS.md 2.2): AMB-17 replication and the Caffe softmax / hinge losses on hand examples."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from methods import _tl_nets as nets  # noqa: E402


def test_replicate_positives_one_example_per_positive_concept() -> None:
    labels = np.array([[1, 0, 1], [-1, 0, 0], [0, 1, -1]], dtype=np.int8)
    rows, classes = nets.replicate_positives(labels)
    assert rows.tolist() == [0, 0, 2]  # keyframe 0 twice (two positives), keyframe 1 never
    assert classes.tolist() == [0, 2, 1]


def test_hinge_loss_caffe_semantics_hand_example() -> None:
    # One keyframe, outputs f = [0.5, -2, 0.3], positive for concepts 0 and 2 -> two replicas.
    # Replica y=0: max(0,1-0.5) + max(0,1-2) + max(0,1+0.3) = 0.5 + 0 + 1.3 = 1.8
    # Replica y=2: max(0,1+0.5) + max(0,1-2) + max(0,1-0.3) = 1.5 + 0 + 0.7 = 2.2
    # Caffe HingeLoss divides the sum by the number of examples (2): 2.0.
    f = torch.tensor([[0.5, -2.0, 0.3]])
    pos = torch.tensor([[True, False, True]])
    assert float(nets.hinge_replica_loss(f, pos)) == pytest.approx(2.0)


def _explicit_replicas(f: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rows, classes = nets.replicate_positives(pos.numpy().astype(np.int8))
    return f[torch.as_tensor(rows)], torch.as_tensor(classes)


def test_losses_equal_explicitly_replicated_batches() -> None:
    g = torch.Generator().manual_seed(0)
    f = torch.randn(7, 5, generator=g)
    pos = torch.rand(7, 5, generator=g) < 0.4
    pos[3] = False  # a keyframe without positives contributes nothing
    rep_f, y = _explicit_replicas(f, pos)
    delta = -torch.ones_like(rep_f)
    delta[torch.arange(len(y)), y] = 1.0
    hinge = torch.clamp(1 - delta * rep_f, min=0).sum(dim=1).mean()
    torch.testing.assert_close(nets.hinge_replica_loss(f, pos), hinge)
    softmax = torch.nn.functional.cross_entropy(rep_f, y)
    torch.testing.assert_close(nets.softmax_replica_loss(f, pos), softmax)


def test_gradients_match_replication() -> None:
    g = torch.Generator().manual_seed(1)
    base = torch.randn(4, 3, generator=g)
    pos = torch.tensor([[1, 1, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1]], dtype=torch.bool)
    a = base.clone().requires_grad_(True)
    nets.hinge_replica_loss(a, pos).backward()
    b = base.clone().requires_grad_(True)
    rep_f, y = _explicit_replicas(b, pos)
    delta = -torch.ones_like(rep_f)
    delta[torch.arange(len(y)), y] = 1.0
    torch.clamp(1 - delta * rep_f, min=0).sum(dim=1).mean().backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_empty_batch_is_zero_not_nan() -> None:
    f = torch.randn(2, 3)
    none = torch.zeros(2, 3, dtype=torch.bool)
    assert float(nets.hinge_replica_loss(f, none)) == 0.0
    assert float(nets.softmax_replica_loss(f, none)) == 0.0


def test_ranking_scores_amb42() -> None:
    f = torch.tensor([[1.0, 2.0, 3.0]])
    torch.testing.assert_close(nets.default_tl_scores(f, "hinge"), f)
    p = nets.default_tl_scores(f, "softmax")
    torch.testing.assert_close(p.sum(dim=1), torch.ones(1))
    assert torch.argmax(p) == 2
