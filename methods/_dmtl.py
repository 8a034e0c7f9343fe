"""DMTL and DMTL_LC (METHODS.md 2.1), shared by ``dmtl`` and ``dmtl_lc``; torch-free import.

Network: the fine-tuning trunk of process a-f (or the trunk of a fitted Default-TL network,
``init_from``; METHODS.md 2.1 step 6) and the two-sided head of :mod:`methods._two_sided`: latent
basis L (d x k), task coefficients S (T x k) with a ReLU, scores ``(h L) relu(S)^T`` for all T
concepts at once. DMTL_LC adds the label-constraint layer C (T x k): sigmoid cross-entropy between
``relu(S) C^T`` and the rescaled phi matrix of the training labels (co-annotated examples,
AMB-15), weighted by beta; its gradient reaches S and C only.

Training (steps 1-5): each concept's training set = all positives + random negatives up to 15 per
positive (:mod:`methods._sampling`); a mini-batch holds ``batch_size`` keyframes with every
selected (keyframe, concept, label) triple of theirs, and the loss is the hinge mean over those
triples (AMB-12) plus beta times the mean over the same triples of ``L_LC(t_i)`` (AMB-14: sum over
t'). SGD with momentum 0.9 and weight decay 5e-4; learning rate chosen on validation mean AP over
the paper's grid with early stopping (AMB-16, AMB-48); see :mod:`methods._finetune`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from harness.api import MethodData
from harness.errors import HarnessError, InvalidParameterError
from harness.params import Interval, Options, param
from harness.search_space import Categorical, LogUniform
from harness.seeding import derive_seed
from methods._finetune_config import FinetuneFields, KeyframeNetworkMethod
from methods._sampling import sample_training_mask, trainable_concepts
from methods._standardize import checked_labels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DMTLConfig(FinetuneFields):
    """DMTL settings (defaults: process (c), where DMTL_LC is best in Table 1)."""

    fine_tuning: str = param("c", Options(("a", "b", "c", "d", "e", "f")),
                             "fine-tuning process (Table 1 column): a baseline H=7; b/c/d extension E=1 with "
                             "1096/2048/4096 neurons; e/f re-initialisation H=6,R=1 with 1096/2048; "
                             "ignored with init_from")  # fmt: skip
    k: int = param(157, Interval(1, None), "latent tasks (columns of L)")
    relu_s: bool = param(True, help="ReLU on the task coefficients S ('to encourage sparse models')")
    batch_size: int = param(256, Interval(1, None),
                            "keyframes per mini-batch, each with all its sampled (concept, label) triples; the loss is "
                            "the mean over the batch's triples (AMB-12, AMB-16)", assumption=True)  # fmt: skip
    init_from: str = param("", help="start from a fitted Default-TL network instead of the source network: "
                           "'default_tl_hinge[:key=value;...]' (Table 2 right column: default_tl_hinge, process b); "
                           "'' = fine-tune the source network with process fine_tuning")  # fmt: skip


@dataclass(frozen=True)
class DMTLLCConfig(DMTLConfig):
    """DMTL_LC settings: DMTL's plus the label constraint."""

    beta: float = param(0.3, Interval(0, None), "weight of the label-constraint loss")
    lc_reduction: str = param("sum", Options(("sum", "mean")),
                              "label-constraint cross-entropy over t': 'sum' (Caffe, AMB-14) or 'mean'")  # fmt: skip


K_CHOICES = (39, 78, 157, 314)  # the paper's k = 157, halved twice and doubled (assumption)


class DMTLBase(KeyframeNetworkMethod):
    """DMTL(_LC) on raw keyframes; subclasses set ``with_constraint``."""

    with_constraint: ClassVar[bool] = True
    tasks = ("multilabel",)
    fitted_notes = ("lr_", "best_epoch_", "best_val_map_", "val_map_per_lr_", "backbone_name_", "init_network_",
                    "skipped_concepts_", "history_")  # fmt: skip

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        """lr over the paper's grid, k (latent tasks) around the paper's 157, and beta (DMTL_LC) around 0.3."""
        space: dict[str, Any] = {**super().search_space(), "k": Categorical(K_CHOICES)}
        if cls.with_constraint:
            space["beta"] = LogUniform(0.03, 3.0)
        return space

    def _name(self) -> str:
        return str(getattr(self, "name", type(self).__name__))

    def _beta(self) -> float:
        return float(getattr(self.config, "beta", 0.0)) if self.with_constraint else 0.0

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        import torch

        from methods import _finetune as ft
        from methods import _tl_nets as nets
        from methods._default_tl import fitted_source, validator
        from methods._device import torch_device
        from methods._two_sided import masked_hinge_loss, phi_matrix, phi_targets

        cfg, name = self.config, self._name()
        if cfg.lr is None and not cfg.lr_grid:
            raise InvalidParameterError(f"{name}: lr_grid is empty and lr is unset; give one of them.")
        labels = checked_labels(train, name)
        mask = sample_training_mask(labels, neg_ratio=cfg.neg_ratio, seed=derive_seed(self.seed, name, "negatives"))
        self.trained_ = trainable_concepts(labels, mask, train.concepts, name)
        self.skipped_concepts_ = [train.concepts[t] for t in np.flatnonzero(~self.trained_)]
        if not self.trained_.any():
            raise HarnessError(f"{name}: no concept has both positive and negative training examples.")
        mask &= self.trained_[None, :]
        rows = np.flatnonzero(mask.any(axis=1))
        device = torch_device(self.device)
        beta = self._beta()

        if cfg.init_from:
            source = fitted_source(cfg.init_from, self.seed, train, val, self.device)
            self.init_network_ = getattr(source, "network_key_", "")
            source_trunk = source.net_.trunk
            backbone = None
            self.backbone_name_ = source.backbone_name_
            self.preprocessing_ = source.preprocessing_
            self.process_ = None
            log.info("%s: starting from the trunk of %s (%s, d=%d)", name, cfg.init_from,
                     source.process_.describe(), source_trunk.out_dim)  # fmt: skip
        else:
            backbone = ft.load_backbone(cfg.backbone, cfg.backbone_weights, train.paths, train.default_backbone)
            self.backbone_name_ = backbone.name
            process = ft.process_of(cfg.fine_tuning, cfg.width)
            self.process_ = process
            self.preprocessing_ = ft.preprocessing_of(backbone)
        store = ft.ImageStore.with_preprocessing(train.paths, self.preprocessing_, memory_limit_mb=cfg.memory_limit_mb,
                                                 num_workers=cfg.num_workers, what="training split")  # fmt: skip
        T = labels.shape[1]

        def build() -> Any:
            import copy

            gen = torch.Generator().manual_seed(derive_seed(self.seed, name, "init"))
            if cfg.init_from:
                trunk = copy.deepcopy(source_trunk).cpu()
            else:
                trunk = ft.build_finetune_trunk(backbone, process, gen)
            return nets.DMTLNet(trunk, trunk.out_dim, T, cfg.k, relu_s=cfg.relu_s, with_constraint=beta > 0,
                                generator=gen, init_std=cfg.init_std)  # fmt: skip

        y_t = torch.as_tensor(np.where(labels == 1, 1.0, -1.0), dtype=torch.float32, device=device)
        m_t = torch.as_tensor(mask, device=device)
        phi_t = torch.as_tensor(phi_targets(phi_matrix(labels)), dtype=torch.float32, device=device)
        reduction = getattr(cfg, "lc_reduction", "sum")

        def step_loss(model: Any, idx: np.ndarray, x: Any) -> Any:
            i = torch.as_tensor(idx, device=device)
            batch_mask = m_t[i]
            loss = masked_hinge_loss(model(x), y_t[i], batch_mask)
            if beta > 0:
                # Mean over the batch's triples of L_LC(t_i): weight each concept by its triples here.
                weights = batch_mask.sum(dim=0).to(torch.float32)
                loss = loss + beta * model.head.constraint_loss(phi_t, weights, reduction)
            return loss

        def batches(rng: np.random.Generator) -> list[np.ndarray]:
            return ft.shuffled_batches(rows, cfg.batch_size, rng)

        validate = validator(self, val, self.preprocessing_, lambda m, x: m(x))
        outcome = ft.train_with_lr_selection(build, batches, step_loss, store, validate, self._settings(val), device)
        self.net_ = outcome.model
        self.lr_ = outcome.lr
        self.best_val_map_ = outcome.best_val
        self.best_epoch_ = outcome.best_epoch
        self.history_ = outcome.history
        self.val_map_per_lr_ = {f"{k:g}": v for k, v in outcome.per_lr.items()}
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        from methods import _finetune as ft
        from methods._device import torch_device

        if not hasattr(self, "net_"):
            raise HarnessError(f"{self._name()}: predict called before fit.")
        cfg = self.config
        store = ft.ImageStore.with_preprocessing(data.paths, self.preprocessing_, memory_limit_mb=cfg.memory_limit_mb,
                                                 num_workers=cfg.num_workers, what="prediction input")  # fmt: skip
        device = torch_device(self.device)
        self.net_.to(device)
        scores = ft.predict_outputs(self.net_, store, device, batch_size=cfg.eval_batch_size)
        scores[:, ~self.trained_] = 0.0
        return scores.astype(np.float64)

    def _settings(self, val: MethodData | None = None) -> Any:
        from methods._finetune import train_settings

        return train_settings(self.config, self.seed, self._name(), val)

