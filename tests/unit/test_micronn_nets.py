"""microNN's batched bank (methods/_micronn_nets.py): the same networks as one concept at a time,
the D_M_1 / D_M_2 samplers (METHODS.md 2.7, AMB-23)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from methods import _micronn_nets as nets  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    """Tiny products: one thread is faster (and steadier on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _labels(n: int = 300, C: int = 5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, C)) < np.linspace(0.05, 0.3, C)).astype(np.int8)
    labels[rng.random((n, C)) < 0.2] = -1  # not annotated
    return labels


def test_batched_bank_equals_per_concept_training() -> None:
    rng = np.random.default_rng(1)
    labels = _labels()
    labels[:150, 0] = -1
    labels[:200, 3] = -1
    X = torch.as_tensor(rng.normal(size=(300, 12)), dtype=torch.float32)
    # Unequal set sizes: concepts run out of batches at different steps.
    sets = nets.sample_sets(labels, "imbalanced", total=180, seed=3)
    assert len(set(sets.sizes.tolist())) > 1
    settings = nets.NetSettings(hidden=7, dropout=0.5, lr=0.05, momentum=0.9, epochs=3, batch_size=32)
    init = nets.init_bank(sets.n_concepts, 12, 7, seed=4)
    recorded: list[tuple[int, int, torch.Tensor]] = []
    draw = nets.bernoulli_masks(5, 0.5)

    def masks(epoch: int, step: int, shape: tuple[int, ...]) -> torch.Tensor:
        m = draw(epoch, step, shape)
        recorded.append((epoch, step, m))
        return m

    bank = nets.train_bank(X, sets, init, settings, seed=6, masks=masks)
    plan = list(nets.batch_plan(sets.sizes, settings.epochs, settings.batch_size, 6))
    assert len(plan) == len(recorded)
    for c in range(sets.n_concepts):
        rows, targets = sets.concept(c)
        own = [(m[c][valid[c]]) for (_, _, _, valid), (_, _, m) in zip(plan, recorded, strict=True) if valid[c].any()]
        net = nets.train_one(X, rows, targets, nets.one_network(init, c, settings.dropout), settings,
                             nets.concept_batches(sets, c, settings, 6), iter(own))  # fmt: skip
        ref = nets.bank_from_networks([net])
        for k in ("W1", "b1", "W2", "b2"):
            np.testing.assert_allclose(bank[k][c].numpy(), ref[k][0].numpy(), atol=1e-5, rtol=0)
        assert not np.allclose(bank["W2"][c].numpy(), init["W2"][c].numpy())  # it did train


def test_concept_batches_are_the_banks_batches() -> None:
    sets = nets.sample_sets(_labels(), "imbalanced", total=100, seed=0)
    s = nets.NetSettings(epochs=2, batch_size=16)
    plan = list(nets.batch_plan(sets.sizes, s.epochs, s.batch_size, 9))
    own = list(nets.concept_batches(sets, 2, s, 9))
    expected = [pos[2][valid[2]] for _, _, pos, valid in plan if valid[2].any()]
    assert len(own) == len(expected) == 2 * int(np.ceil(sets.sizes[2] / 16))
    for a, b in zip(own, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    # every epoch visits each example of the set exactly once
    np.testing.assert_array_equal(np.sort(np.concatenate(own[: len(own) // 2])), np.arange(sets.sizes[2]))


def test_balanced_sampler_counts() -> None:
    labels = np.zeros((200, 3), np.int8)
    labels[:10, 0] = 1  # 10 positives: resampled with replacement up to 50
    labels[:120, 1] = 1  # 120 positives, 80 negatives: 50 each, without replacement
    labels[:, 2] = 0  # no positives: empty set
    sets = nets.sample_sets(labels, "balanced", total=100, seed=0)
    assert sets.sizes.tolist() == [100, 100, 0]
    for c in (0, 1):
        rows, y = sets.concept(c)
        assert int(y.sum()) == 50 and int((y == 0).sum()) == 50
        assert np.all(labels[rows[y == 1], c] == 1) and np.all(labels[rows[y == 0], c] == 0)
    rows0, y0 = sets.concept(0)
    assert set(rows0[y0 == 1].tolist()) == set(range(10))  # every positive kept, then resampled
    rows1, y1 = sets.concept(1)
    assert len(set(rows1[y1 == 1].tolist())) == 50 and len(set(rows1[y1 == 0].tolist())) == 50


def test_imbalanced_sampler_keeps_all_positives_and_fills_with_negatives() -> None:
    labels = np.zeros((500, 2), np.int8)
    labels[:30, 0] = 1
    labels[:, 1] = -1
    labels[:40, 1] = 1
    labels[40:60, 1] = 0  # only 20 annotated negatives: the set is smaller than the total
    sets = nets.sample_sets(labels, "imbalanced", total=200, seed=1)
    rows, y = sets.concept(0)
    assert len(rows) == 200 and int(y.sum()) == 30 and len(set(rows.tolist())) == 200
    rows, y = sets.concept(1)
    assert len(rows) == 60 and int(y.sum()) == 40
    with pytest.raises(ValueError, match="sampling"):
        nets.sample_sets(labels, "natural", total=200, seed=1)


def test_presence_matches_the_networks() -> None:
    init = nets.init_bank(3, 6, 4, seed=0)
    X = torch.as_tensor(np.random.default_rng(0).normal(size=(11, 6)), dtype=torch.float32)
    out = nets.presence(X, init, chunk_bytes=64)  # several chunks
    for c in range(3):
        net = nets.one_network(init, c, 0.5).eval()
        np.testing.assert_allclose(out[:, c], torch.softmax(net(X), -1)[:, 1].detach().numpy(), atol=1e-6)
