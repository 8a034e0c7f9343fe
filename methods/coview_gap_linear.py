"""``coview_gap_linear``: a reference multi-head baseline for CoVieW on GAP backbone features.

Each 5-s segment is one vector: the backbone's ``layer`` output, global-average-pooled over space
(conv maps) and averaged over the segment's frames (``pooling=mean``), standardised with training
statistics. Three linear heads on it: softmax regression for the scene and for the action, least
squares for the importance score; trained together (sum of the two cross-entropies and the mean
squared importance error) by mini-batch SGD with momentum (torch's update), the epoch with the best validation
score (the protocol's ``val_metric``, segment accuracy) kept, stopping after ``patience`` epochs
without gain.

``predict`` returns the protocol's heads ``{"scene": (n, S), "action": (n, A), "importance": (n,)}``:
class probabilities and the predicted importance (which orders each video's segments for the top-6
selection of the CoVieW metric). Not from one of the five papers: the linear-probe counterpart of
MTN's GAP features, and the harness's reference multi-head plugin.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from harness.api import Method, MethodData, register_method
from harness.errors import DataError
from harness.params import Interval, param
from harness.search_space import Dimension, LogUniform
from harness.seeding import derive_seed
from methods._feature_config import FeatureFields
from methods._standardize import Standardizer, checked_features

log = logging.getLogger(__name__)

HEADS = ("scene", "action", "importance")


@register_method("coview_gap_linear")
class CoviewGapLinear(Method):
    """Linear scene / action softmax heads and an importance regressor on GAP segment features."""

    description = "CoVieW: linear scene/action softmax + importance regression on GAP backbone features"
    paper = "reference baseline (CoVieW multi-head)"
    tasks = ("coview",)
    fitted_notes = ("best_epoch_", "best_val_score_", "val_metric_")

    @dataclass(frozen=True)
    class Config(FeatureFields):
        layer: str = param("conv5", help="backbone layer whose output is the feature vector (conv maps: GAP)")
        lr: float = param(0.01, Interval(0, None, "neither"), "SGD learning rate", assumption=True)
        weight_decay: float = param(1e-4, Interval(0, None), "L2 weight decay", assumption=True)
        momentum: float = param(0.9, Interval(0, 1, "left"), "SGD momentum")
        batch_size: int = param(64, Interval(1, None), "segments per mini-batch")
        max_epochs: int = param(60, Interval(1, None), "maximum number of epochs")
        patience: int = param(10, Interval(1, None), "epochs without validation gain before stopping")
        importance_weight: float = param(1.0, Interval(0, None), "weight of the importance loss")

    @classmethod
    def search_space(cls) -> dict[str, Dimension]:
        """Learning rate and weight decay, log-uniform."""
        return {"lr": LogUniform(1e-3, 1e-1), "weight_decay": LogUniform(1e-6, 1e-2)}

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        import torch

        from methods._device import threads_for, torch_device
        from methods._validation import safe_score, val_scorer

        cfg, name = self.config, getattr(self, "name", "coview_gap_linear")
        X = checked_features(train, name)
        self.sizes_ = head_sizes(train)
        scene, action, importance = coview_labels(train, self.sizes_, name)
        self.standardizer_ = Standardizer.fit(X)
        self.n_features_ = X.shape[1]
        device = torch_device(self.device)
        gen = torch.Generator().manual_seed(derive_seed(self.seed, name, "init"))
        order = torch.Generator().manual_seed(derive_seed(self.seed, name, "batches"))
        d, (S, A) = X.shape[1], (self.sizes_["scene"], self.sizes_["action"])
        model = torch.nn.Linear(d, S + A + 1)
        with torch.no_grad():
            model.weight.normal_(0.0, 0.01, generator=gen)
            model.bias.zero_()
        self.model_ = model.to(device)
        Xt = torch.as_tensor(self.standardizer_.transform(X, np.float32), device=device)
        ys = torch.as_tensor(scene, device=device)
        ya = torch.as_tensor(action, device=device)
        yi = torch.as_tensor(importance, dtype=torch.float32, device=device)
        params = list(model.parameters())
        buffers = [torch.zeros_like(p) for p in params]
        scorer = val_scorer(val) if val is not None and val.features is not None else None
        self.val_metric_ = None if scorer is None else scorer.metric
        best, best_state, best_epoch, waited = (scorer.worst if scorer else -np.inf), None, cfg.max_epochs, 0
        self.history_: list[dict[str, float]] = []
        with threads_for(cfg.batch_size * d * (S + A + 1), device):
            for epoch in range(1, cfg.max_epochs + 1):
                model.train()
                total = 0.0
                perm = torch.randperm(len(Xt), generator=order).to(device)
                for start in range(0, len(Xt), cfg.batch_size):
                    idx = perm[start : start + cfg.batch_size]
                    out = model(Xt[idx])
                    loss = (torch.nn.functional.cross_entropy(out[:, :S], ys[idx])
                            + torch.nn.functional.cross_entropy(out[:, S : S + A], ya[idx])
                            + cfg.importance_weight * torch.nn.functional.mse_loss(out[:, -1], yi[idx]))  # fmt: skip
                    for p in params:
                        p.grad = None
                    loss.backward()
                    sgd_step(params, buffers, cfg.lr, cfg.momentum, cfg.weight_decay)
                    total += float(loss.detach()) * len(idx)
                record = {"epoch": float(epoch), "train_loss": total / len(Xt)}
                if not np.isfinite(record["train_loss"]):
                    raise FloatingPointError(f"{name}: the training loss became {record['train_loss']} in epoch {epoch}; "
                                             f"lower the learning rate (lr={cfg.lr:g}).")  # fmt: skip
                if scorer is not None and val is not None:
                    record["val_score"] = safe_score(scorer, self.predict(val))
                    if scorer.better(record["val_score"], best):
                        best, best_epoch, waited = record["val_score"], epoch, 0
                        best_state = copy.deepcopy(model.state_dict())
                    else:
                        waited += 1
                self.history_.append(record)
                if scorer is not None and waited >= cfg.patience:
                    break
        if best_state is not None:
            model.load_state_dict(best_state)
        self.best_epoch_ = best_epoch if scorer is not None else len(self.history_)
        self.best_val_score_ = None if scorer is None else float(best)
        return self

    def predict(self, data: MethodData) -> dict[str, np.ndarray]:
        import torch

        X = checked_features(data, getattr(self, "name", "coview_gap_linear"), self.n_features_)
        S, A = self.sizes_["scene"], self.sizes_["action"]
        from methods._device import threads_for

        model = self.model_
        model.eval()
        with torch.no_grad(), threads_for(len(X) * X.shape[1] * (S + A + 1), model.weight.device):
            out = model(torch.as_tensor(self.standardizer_.transform(X, np.float32), device=model.weight.device))
            scene = torch.softmax(out[:, :S], dim=1).cpu().numpy().astype(np.float64)
            action = torch.softmax(out[:, S : S + A], dim=1).cpu().numpy().astype(np.float64)
            importance = out[:, -1].cpu().numpy().astype(np.float64)
        return {"scene": scene, "action": action, "importance": importance}


def sgd_step(params: list[Any], buffers: list[Any], lr: float, momentum: float, weight_decay: float) -> None:
    """One step of ``torch.optim.SGD`` (same update; importing torch.optim costs seconds of torch._dynamo)."""
    import torch

    with torch.no_grad():
        for p, buf in zip(params, buffers, strict=True):
            grad = p.grad + weight_decay * p if weight_decay else p.grad
            buf.mul_(momentum).add_(grad)
            p.sub_(lr * buf)


def head_sizes(data: MethodData) -> dict[str, int]:
    """Scene and action class counts: the protocol's heads, else the adapter's info, else the labels."""
    heads: Mapping[str, Any] = data.protocol.heads if data.protocol is not None else {}
    sizes: dict[str, int] = {}
    for head in ("scene", "action"):
        if head in heads and len(heads[head]) == 1:
            sizes[head] = int(heads[head][0])
        elif f"n_{head}_classes" in data.info:
            sizes[head] = int(data.info[f"n_{head}_classes"])
        elif data.labels is not None:
            sizes[head] = int(np.asarray(data.labels)[:, HEADS.index(head)].max()) + 1 - _label_base(data)
    return sizes


def _label_base(data: MethodData) -> int:
    return int(data.protocol.options.get("label_base", 0)) if data.protocol is not None else 0


def coview_labels(data: MethodData, sizes: Mapping[str, int], method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """0-based scene and action classes (int64) and importance (float) from the (n, 3) CoVieW labels."""
    if data.labels is None:
        raise DataError(f"{method}: fit needs labels, but the training data has none.")
    y = np.asarray(data.labels, dtype=np.float64)
    if y.shape != (len(data), 3):
        raise DataError(f"{method}: CoVieW labels must be ({len(data)}, 3) = scene, action, importance; got {y.shape}.")
    base = _label_base(data)
    classes = []
    for col, head in ((0, "scene"), (1, "action")):
        c = y[:, col] - base
        if np.any(np.mod(c, 1) != 0) or (len(c) and (c.min() < 0 or c.max() >= sizes[head])):
            raise DataError(f"{method}: {head} labels must be class ids in [{base}, {sizes[head] - 1 + base}].")
        classes.append(c.astype(np.int64))
    if not np.isfinite(y[:, 2]).all():
        raise DataError(f"{method}: importance labels contain NaN or inf.")
    return classes[0], classes[1], y[:, 2]
