"""Training with learning-rate selection and early stopping, shared by the fine-tuned networks of
DMTL_LC's Table 1 (Default-TL, DMTL, DMTL_LC; their images come from :class:`methods._finetune.ImageStore`).

:func:`train_with_lr_selection`: SGD with momentum on one loss for each learning rate of the grid
(the paper cross-validates it over 1e-5 .. 1e-2 in steps of 10^0.5), early stopping on the
validation score (AMB-16, AMB-48), in the direction of the validation metric; the best (lr, epoch) wins.

Imports torch at module level: plugin modules import this file inside ``fit`` only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from harness.errors import DataError, HarnessError

if TYPE_CHECKING:
    from methods._finetune import ImageStore

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings shared by the fine-tuning methods (see their Config docs)."""

    lrs: tuple[float, ...]
    momentum: float
    weight_decay: float
    max_epochs: int
    patience: int
    seed: int
    name: str
    higher_is_better: bool = True  # the validation metric's direction (e.g. False for a Hamming loss)


def train_settings(cfg: Any, seed: int, name: str, val: Any = None) -> TrainSettings:
    """The TrainSettings of a fine-tuning method's config (``lr`` or ``lr_grid``, momentum, weight
    decay, epochs, patience), in the direction of ``val``'s validation metric (higher is better
    when there is none)."""
    from methods._validation import val_scorer

    lrs = (float(cfg.lr),) if cfg.lr is not None else tuple(float(v) for v in cfg.lr_grid)
    scorer = val_scorer(val)
    return TrainSettings(lrs, cfg.momentum, cfg.weight_decay, cfg.max_epochs, cfg.patience, seed, name,
                         higher_is_better=scorer is None or scorer.higher_is_better)


@dataclass
class TrainOutcome:
    """The selected network and how it was found.

    Attributes:
        model: the network with the best validation score (its best epoch's weights).
        lr: the selected learning rate.
        best_val: validation mean AP of the selected network (None without validation).
        best_epoch: epoch of the selected weights.
        history: one record per (lr, epoch): lr, epoch, train_loss, val_map.
        per_lr: best validation score reached by each learning rate (the worst value, -inf or +inf, = diverged).
    """

    model: nn.Module
    lr: float
    best_val: float | None
    best_epoch: int
    history: list[dict[str, float]]
    per_lr: dict[float, float]


def train_with_lr_selection(
    build: Callable[[], nn.Module],
    epoch_batches: Callable[[np.random.Generator], list[np.ndarray]],
    step_loss: Callable[[nn.Module, np.ndarray, torch.Tensor], torch.Tensor],
    store: ImageStore,
    validate: Callable[[nn.Module], float] | None,
    settings: TrainSettings,
    device: torch.device,
) -> TrainOutcome:
    """Train a fresh ``build()`` network for each learning rate; keep the best by validation score
    (mean AP for TRECVID; ``settings.higher_is_better`` False for a loss such as Hamming loss).

    Every learning rate starts from the same initialisation (``build`` is deterministic) and sees
    the same batch order. Each is trained for at most ``max_epochs`` epochs; after each epoch the
    validation mean AP is computed, the best epoch's weights are kept, and training stops after
    ``patience`` epochs without improvement. Training at a learning rate whose loss becomes
    non-finite stops there; its best earlier epoch, if any, still competes (none: score -inf). With a
    single learning rate, the epoch scores are reported to the tuner
    (:func:`harness.search_space.report`), which may prune the trial.

    Raises:
        HarnessError: every learning rate diverged.
    """
    from harness.progress import bar
    from harness.search_space import report
    from harness.seeding import derive_seed

    if validate is None and len(settings.lrs) > 1:
        raise DataError(
            f"{settings.name}: choosing the learning rate among {len(settings.lrs)} values needs a validation "
            f"split with positives; run it through the harness runner, or fix one with --set lr=VALUE."
        )
    worst = -math.inf if settings.higher_is_better else math.inf

    def improves(new: float, old: float) -> bool:  # NaN never improves
        return new > old if settings.higher_is_better else new < old

    best: TrainOutcome | None = None
    history: list[dict[str, float]] = []
    per_lr: dict[float, float] = {}
    tuning_single = len(settings.lrs) == 1
    for lr in settings.lrs:
        crop_gen = torch.Generator().manual_seed(derive_seed(settings.seed, settings.name, "crops"))
        order_rng = np.random.default_rng(derive_seed(settings.seed, settings.name, "batches"))
        # Dropout draws from torch's global generator: fork it so runs are reproducible and the caller's
        # state is untouched.
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(derive_seed(settings.seed, settings.name, "dropout"))
            model = build().to(device)
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=settings.momentum,
                                  weight_decay=settings.weight_decay)  # fmt: skip
            best_val, best_epoch, best_state, waited = worst, 0, None, 0
            diverged = False
            with bar(settings.max_epochs, f"{settings.name} lr={lr:g}", unit="epoch") as progress:
                for epoch in range(1, settings.max_epochs + 1):
                    model.train()
                    total, count = 0.0, 0
                    for idx, images in store.iterate(epoch_batches(order_rng)):
                        x = store.to_input(images, train=True, generator=crop_gen, device=device)
                        loss = step_loss(model, idx, x)
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
                        total += float(loss.detach())
                        count += 1
                    train_loss = total / max(count, 1)
                    record = {"lr": lr, "epoch": float(epoch), "train_loss": train_loss}
                    if not math.isfinite(train_loss):
                        log.warning("%s: lr=%g diverged in epoch %d (loss %s); trying the next learning rate",
                                    settings.name, lr, epoch, train_loss)  # fmt: skip
                        history.append(record)
                        diverged = True
                        break
                    if validate is not None:
                        record["val_map"] = float(validate(model))
                        if improves(record["val_map"], best_val):
                            best_val, best_epoch, waited = record["val_map"], epoch, 0
                            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                        else:
                            waited += 1
                    history.append(record)
                    progress.update(1)
                    progress.set_postfix({k: round(v, 4) for k, v in record.items() if k in ("train_loss", "val_map")})
                    if tuning_single and "val_map" in record:
                        report(epoch, record["val_map"])
                    if validate is not None and waited >= settings.patience:
                        break
            if validate is None and not diverged:
                best_val, best_epoch = math.nan, settings.max_epochs
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        per_lr[lr] = worst if diverged and best_state is None else best_val
        if best_state is None:
            continue
        log.info("%s: lr=%g reached validation mAP %.4f at epoch %d", settings.name, lr, best_val, best_epoch)
        better = best is None or (validate is not None and improves(best_val, worst if best.best_val is None else best.best_val))
        if better:
            model.load_state_dict(best_state)
            best = TrainOutcome(model, lr, None if validate is None else best_val, best_epoch, history, per_lr)
        else:
            del model
    if best is None:
        raise HarnessError(
            f"{settings.name}: training diverged for every learning rate tried ({', '.join(f'{v:g}' for v in settings.lrs)}); "
            f"use smaller values with --set lr_grid=..."
        )
    best.history, best.per_lr = history, per_lr
    best.model.eval()
    return best
