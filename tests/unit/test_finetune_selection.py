"""The fine-tuning trainer's learning-rate / epoch choice follows the validation metric's direction."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from methods import _finetune as ft  # noqa: E402


class _Store:
    """The two calls the trainer makes of an ImageStore, on one constant input."""

    def iterate(self, batches: list[np.ndarray]) -> Iterator[tuple[np.ndarray, None]]:
        for b in batches:
            yield b, None

    def to_input(self, images: None, *, train: bool, generator: object, device: object) -> torch.Tensor:
        return torch.ones(2, 1)


def _select(higher_is_better: bool, scores: list[float]) -> ft.TrainOutcome:
    calls = iter(scores)  # one validation per (lr, epoch): lr 0.1 epochs 1-2, then lr 0.01 epochs 1-2
    settings = ft.TrainSettings((0.1, 0.01), 0.0, 0.0, 2, 5, 0, "toy", higher_is_better=higher_is_better)
    return ft.train_with_lr_selection(
        lambda: torch.nn.Linear(1, 1), lambda rng: [np.arange(2)], lambda m, idx, x: m(x).square().mean(),
        _Store(), lambda model: next(calls), settings, torch.device("cpu"))  # fmt: skip


def test_higher_is_better_keeps_the_largest_score() -> None:
    out = _select(True, [0.30, 0.35, 0.20, 0.25])
    assert (out.lr, out.best_epoch, out.best_val) == (0.1, 2, 0.35)
    assert out.per_lr == {0.1: 0.35, 0.01: 0.25}


def test_a_loss_keeps_the_smallest_score() -> None:
    out = _select(False, [0.30, 0.35, 0.20, 0.25])  # e.g. a validation Hamming loss
    assert (out.lr, out.best_epoch, out.best_val) == (0.01, 1, 0.20)
    assert out.per_lr == {0.1: 0.30, 0.01: 0.20}
