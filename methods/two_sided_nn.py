"""``two_sided_nn`` (2S-NN): the two-sided network with GO-MTL on fixed features, DMTL_LC Table 2.

METHODS.md 2.6 (Yang & Hospedales 2015): ``y_t(x) = (x P) q_t^T`` with ``P`` (d x k) and ``Q``
(T x k), i.e. GO-MTL's ``w_t = L s_t`` with ``L = P``, ``S = Q^T``; no ReLU on ``Q``, no trunk
fine-tuning, no label constraint. Trained with the hinge loss over each concept's sampled training
pairs (all positives + up to 15 negatives per positive), SGD with momentum 0.9 and weight decay
5e-4, k = 157 (AMB-11). All concepts train together: one mini-batch of examples carries every
selected (example, concept) pair and the loss is their mean (AMB-12).

Early stopping (AMB-16, AMB-48): after each epoch the validation score (the protocol's
``val_metric``: mean AP with complete judgments on TRECVID, over validation pairs sampled 15:1 as in
training) is computed; the best epoch's weights are kept and training stops after ``patience``
epochs without improvement.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from harness.api import Method, MethodData, Scorer, register_method
from harness.params import Interval, param
from harness.seeding import derive_seed
from methods._feature_config import FeatureFields
from methods._sampling import sample_training_mask, trainable_concepts
from methods._standardize import Standardizer, checked_features, checked_labels

log = logging.getLogger(__name__)

LR_GRID = tuple(10.0 ** (e / 2) for e in range(-10, -3))  # 1e-5 ... 1e-2, step 10^0.5 (reported)


@register_method("two_sided_nn")
class TwoSidedNN(Method):
    """2S-NN: GO-MTL two-sided network (shared basis P, task coefficients Q) on cached features."""

    description = "two-sided network instantiated with GO-MTL on fixed features (2S-NN)"
    paper = "DMTL_LC Table 2 (2S-NN)"
    tasks = ("multilabel",)
    fitted_notes = ("lr_", "best_epoch_", "best_val_map_", "val_map_per_lr_", "skipped_concepts_", "history_")

    @dataclass(frozen=True)
    class Config(FeatureFields):
        k: int = param(157, Interval(1, None), "latent tasks (as DMTL_LC, AMB-11)", assumption=True)
        lr: float = param(1e-2, Interval(0, None, "neither"), "SGD learning rate (paper grid 1e-5..1e-2)", assumption=True)
        momentum: float = param(0.9, Interval(0, 1, "left"), "SGD momentum")
        weight_decay: float = param(5e-4, Interval(0, None), "L2 weight decay (AMB-11)", assumption=True)
        batch_size: int = param(256, Interval(1, None), "examples per mini-batch (AMB-16)", assumption=True)
        max_epochs: int = param(60, Interval(1, None), "maximum number of epochs", assumption=True)
        patience: int = param(10, Interval(1, None), "epochs without validation gain before stopping", assumption=True)
        init_std: float = param(0.01, Interval(0, None, "neither"), "std of the Gaussian init (Caffe style)", assumption=True)
        relu_q: bool = param(False, help="ReLU on the task coefficients (off for 2S-NN, on in DMTL_LC)")
        neg_ratio: float = param(15.0, Interval(0, None), "max negatives per positive per concept (0 = all)")
        standardize: bool = param(True, help="standardise features with training statistics", assumption=True)

    @classmethod
    def search_space(cls) -> dict[str, tuple[Any, ...]]:
        """The paper's learning-rate grid: 1e-5 to 1e-2 in steps of 10^0.5."""
        return {"lr": LR_GRID}

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        import torch

        from harness.progress import bar
        from methods._device import threads_for, torch_device
        from methods._two_sided import TwoSidedHead, masked_hinge_loss
        from methods._validation import safe_score

        cfg = self.config
        name = getattr(self, "name", "two_sided_nn")
        X = checked_features(train, name)
        labels = checked_labels(train, name)
        self.standardizer_: Standardizer | None = Standardizer.fit(X) if cfg.standardize else None
        mask = sample_training_mask(labels, neg_ratio=cfg.neg_ratio, seed=derive_seed(self.seed, name, "negatives"))
        self.trained_ = trainable_concepts(labels, mask, train.concepts, name)
        self.skipped_concepts_ = [train.concepts[t] for t in np.flatnonzero(~self.trained_)]
        mask &= self.trained_[None, :]
        rows = np.flatnonzero(mask.any(axis=1))  # examples in at least one training set

        device = torch_device(self.device)
        gen = torch.Generator().manual_seed(derive_seed(self.seed, name, "init"))
        order_gen = torch.Generator().manual_seed(derive_seed(self.seed, name, "batches"))
        self.n_features_ = X.shape[1]
        head = TwoSidedHead(X.shape[1], labels.shape[1], cfg.k, relu_s=cfg.relu_q, init_std=cfg.init_std, generator=gen)
        head = head.to(device)
        self.head_ = head
        Xt = torch.as_tensor(self._prepare(X)[rows], device=device)
        Yt = torch.as_tensor(np.where(labels[rows] == 1, 1.0, -1.0), dtype=torch.float32, device=device)
        Mt = torch.as_tensor(mask[rows], device=device)

        val_eval = self._validation(val, name) if val is not None else None
        opt = torch.optim.SGD(head.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        best_ap, best_state, best_epoch, waited = (val_eval[1].worst if val_eval else -np.inf), None, 0, 0
        self.history_: list[dict[str, float]] = []
        n = len(rows)
        work = cfg.batch_size * (X.shape[1] + labels.shape[1]) * cfg.k
        with threads_for(work, device), bar(cfg.max_epochs, f"{name}: epochs", unit="epoch") as progress:
            for epoch in range(1, cfg.max_epochs + 1):
                head.train()
                perm = torch.randperm(n, generator=order_gen).to(device)
                total, batches = 0.0, 0
                for start in range(0, n, cfg.batch_size):
                    idx = perm[start : start + cfg.batch_size]
                    loss = masked_hinge_loss(head(Xt[idx]), Yt[idx], Mt[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach())
                    batches += 1
                record = {"epoch": float(epoch), "train_loss": total / max(batches, 1)}
                if not np.isfinite(record["train_loss"]):
                    raise FloatingPointError(
                        f"{name}: the training loss became {record['train_loss']} in epoch {epoch}; "
                        f"lower the learning rate (lr={cfg.lr:g})."
                    )
                if val_eval is not None:
                    Xv, scorer, judged = val_eval
                    record["val_map"] = safe_score(scorer, self._scores(Xv), labels=judged, all_concepts=True)
                    if scorer.better(record["val_map"], best_ap):
                        best_ap, best_epoch, waited = record["val_map"], epoch, 0
                        best_state = copy.deepcopy(head.state_dict())
                    else:
                        waited += 1
                self.history_.append(record)
                progress.update(1)
                progress.set_postfix({k: round(v, 4) for k, v in record.items() if k != "epoch"})
                if val_eval is not None and waited >= cfg.patience:
                    break
        if best_state is not None:
            head.load_state_dict(best_state)
        self.best_epoch_ = best_epoch if val_eval is not None else cfg.max_epochs
        self.best_val_map_ = float(best_ap) if val_eval is not None else None
        # One learning rate per fit (the grid is searched over runs); its curve point is kept in the
        # same form as the fine-tuned networks' grid (lr -> best validation mean AP).
        self.lr_ = float(cfg.lr)
        self.val_map_per_lr_ = {f"{cfg.lr:g}": self.best_val_map_}
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        X = checked_features(data, getattr(self, "name", "two_sided_nn"), self.n_features_)
        scores = self._scores(self._prepare(X))
        scores[:, ~self.trained_] = 0.0
        return scores.astype(np.float64)

    # -- helpers ------------------------------------------------------------------------------

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        if self.standardizer_ is not None:
            return self.standardizer_.transform(X, np.float32)
        return np.asarray(X, dtype=np.float32)

    def _scores(self, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
        import torch

        head = self.head_
        head.eval()
        device = head.L.device
        out = []
        with torch.no_grad():
            for start in range(0, len(X), chunk):
                out.append(head(torch.as_tensor(X[start : start + chunk], device=device)).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, head.S.shape[0]), dtype=np.float32)

    def _validation(self, val: MethodData, name: str) -> tuple[np.ndarray, Scorer, np.ndarray] | None:
        """Standardised validation features, the validation scorer and the labels of the 15:1 validation
        pairs (-1 elsewhere, AMB-48)."""
        from methods._validation import sampled_labels, val_scorer

        scorer = val_scorer(val)
        if scorer is None or val.features is None:
            return None
        Xv = self._prepare(checked_features(val, name, self.n_features_))
        yv = checked_labels(val, name)
        vmask = sample_training_mask(yv, neg_ratio=self.config.neg_ratio, seed=derive_seed(self.seed, name, "val"))
        if not ((yv == 1) & vmask).any():
            log.warning("%s: the validation split has no positives; training runs all epochs", name)
            return None
        return Xv, scorer, sampled_labels(yv, vmask)
