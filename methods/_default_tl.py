"""Default-TL (METHODS.md 2.2), shared by ``default_tl_softmax`` and ``default_tl_hinge``; torch-free import.

The source network's first layers (fine-tuning process a-f of Table 1), then a new 60-way FC
classification layer, fine-tuned end to end on positives only: a keyframe positive for several
concepts is one training example per positive concept, each with that concept as its single label
(AMB-17). Losses follow Caffe (softmax or L1 one-vs-all hinge, mean over the replicas of a batch);
ranking score = softmax probability / raw output (AMB-42). A batch holds ``batch_size`` keyframes,
each forwarded once for all its replicas (Caffe's batch counts replicas; the loss is the same mean,
at a quarter of the compute on the miniature where keyframes have about four positives).

Fine-tuned networks as sources (Table 2, right column; METHODS.md 2.1 step 6, AMB-18). A fitted
Default-TL network is stored in the cache (kind ``finetuned``) under a key made of the method, its
config, its seed and a fingerprint of the training/validation data, and reused by

* ``dmtl`` / ``dmtl_lc`` with ``--set init_from=default_tl_hinge`` (its trunk is the start), and
* any feature-based method with ``--set backbone=default_tl_hinge`` (through the core's fitted-method
  sources, :mod:`harness.fitted_methods`, for which this class implements the hooks):
  ``layer=fc8`` (or ``output``) = the 60-d output layer (AMB-18, literal reading), ``layer=trunk``
  = its last hidden layer (the 1096-d extension layer of process b).

A source is written ``<method>[:<key>=<value>;<key>=<value>...]`` with the Default-TL method's
config keys, e.g. ``default_tl_hinge:fine_tuning=b;max_epochs=4``. For features the run seed of the
source network is given by ``backbone_weights=seed<N>`` (default: seed 0); the source then trains
on exactly the training part of that seed's run (same held-out validation videos, default
validation fraction), so ``harness run --method lr --seed N --set backbone=default_tl_hinge
--set backbone_weights=seedN`` uses the network that ``harness run --method default_tl_hinge
--seed N`` fits (one training, cached). ``init_from`` uses the consuming run's own data and seed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from harness.api import Method, MethodData
from harness.errors import HarnessError, InvalidParameterError
from harness.params import Interval, config_to_dict, param
from harness.seeding import derive_seed
from methods._finetune_config import RUNTIME_FIELDS, FinetuneFields, KeyframeNetworkMethod
from methods._standardize import checked_labels

log = logging.getLogger(__name__)

CACHE_KIND = "finetuned"
FINETUNE_VERSION = 1  # bump when training semantics change (invalidates cached networks)
SOURCE_LAYERS = ("fc8", "output", "trunk")


@dataclass(frozen=True)
class DefaultTLConfig(FinetuneFields):
    """Default-TL settings (defaults: process (b), the best Default-TL of Table 1)."""

    batch_size: int = param(256, Interval(1, None),
                            "keyframes per mini-batch, each with one replica per positive concept (AMB-17); the loss "
                            "is the mean over the batch's replicas (AMB-16)", assumption=True)  # fmt: skip


class DefaultTLBase(KeyframeNetworkMethod):
    """Default-TL network on raw keyframes (subclasses set ``loss_kind``)."""

    loss_kind: ClassVar[str] = "hinge"
    tasks = ("multilabel",)
    fitted_notes = ("lr_", "best_epoch_", "best_val_map_", "val_map_per_lr_", "backbone_name_", "network_key_",
                    "skipped_concepts_", "history_")  # fmt: skip
    network_key_: str  # cache key of the fitted network (set by fit / when loaded from the cache)
    # A source method (harness.fitted_methods): cached once fitted, reused as a backbone or a start.
    output_layers: ClassVar[tuple[str, ...]] = SOURCE_LAYERS
    fitted_cache_kind: ClassVar[str] = CACHE_KIND
    fitted_version: ClassVar[int] = FINETUNE_VERSION

    # -- fit / predict ------------------------------------------------------------------------

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        import torch

        from methods import _finetune as ft
        from methods import _tl_nets as nets
        from methods._device import torch_device

        cfg, name = self.config, self._name()
        _check_config(cfg, name)
        labels = checked_labels(train, name)
        positives = labels == 1
        self.trained_ = positives.any(axis=0)
        self.skipped_concepts_ = [train.concepts[t] for t in np.flatnonzero(~self.trained_)]
        if self.skipped_concepts_:
            log.warning("%s: %d concept(s) have no training positives and get the constant score 0: %s",
                        name, len(self.skipped_concepts_), ", ".join(self.skipped_concepts_))  # fmt: skip
        if not self.trained_.any():
            raise HarnessError(f"{name}: the training split has no positive label at all; nothing to learn.")
        device = torch_device(self.device)
        backbone = ft.load_backbone(cfg.backbone, cfg.backbone_weights, train.paths, train.default_backbone)
        self.backbone_name_ = backbone.name
        self.process_ = ft.process_of(cfg.fine_tuning, cfg.width)
        store = ft.ImageStore.create(train.paths, backbone, memory_limit_mb=cfg.memory_limit_mb,
                                     num_workers=cfg.num_workers, what="training split")  # fmt: skip
        self.preprocessing_ = (store.side, store.crop, store.mean, store.std)
        n_pos = positives.sum(axis=1)
        rows = np.flatnonzero(n_pos > 0)
        pos_t = torch.as_tensor(positives, device=device)
        loss_fn = nets.softmax_replica_loss if self.loss_kind == "softmax" else nets.hinge_replica_loss
        T = labels.shape[1]

        def build() -> Any:
            gen = torch.Generator().manual_seed(derive_seed(self.seed, name, "init"))
            trunk = ft.build_finetune_trunk(backbone, self.process_, gen)
            return nets.DefaultTLNet(trunk, T, gen, cfg.init_std)

        def step_loss(model: Any, idx: np.ndarray, x: Any) -> Any:
            return loss_fn(model(x), pos_t[torch.as_tensor(idx, device=device)])

        def batches(rng: np.random.Generator) -> list[np.ndarray]:
            return ft.shuffled_batches(rows, cfg.batch_size, rng)

        validate = validator(self, val, self.preprocessing_, lambda m, x: nets.default_tl_scores(m(x), self.loss_kind))
        outcome = ft.train_with_lr_selection(build, batches, step_loss, store, validate, self._settings(val), device)
        self._adopt(outcome)
        self.n_concepts_ = T
        from harness.fitted_methods import store as store_fitted

        store_fitted(self, train, val)
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        from methods import _tl_nets as nets

        scores = self._outputs(data, lambda m, x: nets.default_tl_scores(m(x), self.loss_kind))
        scores[:, ~self.trained_] = 0.0
        return scores.astype(np.float64)

    def outputs(self, data: MethodData, layer: str = "fc8") -> np.ndarray:
        """Source features: ``fc8``/``output`` = the raw T-way output, ``trunk`` = the trunk output ``h``."""
        if layer not in SOURCE_LAYERS:
            raise InvalidParameterError(
                f"A Default-TL source network has layers {', '.join(SOURCE_LAYERS)} ('fc8' = 'output', the "
                f"{getattr(self, 'n_concepts_', 60)}-d output layer; 'trunk' = its last hidden layer). Got {layer!r}."
            )
        if layer == "trunk":
            return self._outputs(data, lambda m, x: m.trunk(x))
        return self._outputs(data, lambda m, x: m(x))

    # -- source-method hooks (harness.fitted_methods) ----------------------------------------

    @staticmethod
    def canonical_layer(layer: str) -> str:
        return "fc8" if layer == "output" else layer

    def fitted_key(self, train: MethodData, val: MethodData | None) -> str:
        return network_key(self._name(), self.config, self.seed, train, val)

    def save_fitted(self, folder: Path) -> dict[str, Any]:
        return _save_fitted(self, folder)

    def load_fitted(self, folder: Path) -> None:
        _load_fitted(self, folder)

    # -- helpers ------------------------------------------------------------------------------

    def _name(self) -> str:
        return str(getattr(self, "name", type(self).__name__))

    def _settings(self, val: MethodData | None = None) -> Any:
        from methods._finetune import train_settings

        return train_settings(self.config, self.seed, self._name(), val)

    def _adopt(self, outcome: Any) -> None:
        self.net_ = outcome.model
        self.lr_ = outcome.lr
        self.best_val_map_ = outcome.best_val
        self.best_epoch_ = outcome.best_epoch
        self.history_ = outcome.history
        self.val_map_per_lr_ = {f"{k:g}": v for k, v in outcome.per_lr.items()}

    def _outputs(self, data: MethodData, head: Any) -> np.ndarray:
        from methods import _finetune as ft
        from methods._device import torch_device

        if not hasattr(self, "net_"):
            raise HarnessError(f"{self._name()}: predict called before fit.")
        store = ft.ImageStore.with_preprocessing(data.paths, self.preprocessing_, memory_limit_mb=self.config.memory_limit_mb,
                                                 num_workers=self.config.num_workers, what="prediction input")  # fmt: skip
        device = torch_device(self.device)
        self.net_.to(device)
        return ft.predict_outputs(self.net_, store, device, batch_size=self.config.eval_batch_size, head=head)


def _check_config(cfg: Any, name: str) -> None:
    if cfg.lr is None and not cfg.lr_grid:
        raise InvalidParameterError(f"{name}: lr_grid is empty and lr is unset; give one of them.")


def validator(method: Method, val: MethodData | None, preprocessing: tuple[Any, ...], score: Any) -> Any:
    """Validation score of a network (the protocol's ``val_metric``, AMB-48: held-out keyframes, 15:1 sampled
    pairs); None if impossible."""
    import torch

    from methods import _finetune as ft
    from methods._device import torch_device
    from methods._sampling import sample_training_mask
    from methods._validation import safe_score, sampled_labels, val_scorer

    name = str(getattr(method, "name", type(method).__name__))
    scorer = val_scorer(val)
    if val is None or scorer is None:
        return None
    yv = checked_labels(val, name)
    cfg = method.config
    vmask = sample_training_mask(yv, neg_ratio=cfg.neg_ratio, seed=derive_seed(method.seed, name, "val"))
    if not ((yv == 1) & vmask).any():
        log.warning("%s: the validation split has no positives; no early stopping or learning-rate choice", name)
        return None
    judged = sampled_labels(yv, vmask)
    store = ft.ImageStore.with_preprocessing(val.paths, preprocessing, memory_limit_mb=cfg.memory_limit_mb,
                                             num_workers=cfg.num_workers, what="validation split")  # fmt: skip
    device = torch_device(method.device)

    def validate(model: Any) -> float:
        with torch.no_grad():
            scores = ft.predict_outputs(model, store, device, batch_size=cfg.eval_batch_size, head=score)
        return safe_score(scorer, scores, labels=judged, all_concepts=True)

    return validate


# --------------------------------------------------------------------------------------------
# Fitted networks in the cache, and Default-TL networks as sources
# --------------------------------------------------------------------------------------------


def network_key(method_name: str, config: Any, seed: int, train: MethodData, val: MethodData | None) -> str:
    """Cache key of a fitted network: method, result-relevant config, seed and data fingerprint."""
    from harness.cache import cache_key
    from methods._finetune import data_fingerprint

    cfg = {k: v for k, v in config_to_dict(config).items() if k not in RUNTIME_FIELDS}
    if cfg.get("backbone") == "auto" and train.default_backbone:
        cfg["backbone"] = train.default_backbone  # the network depends on what 'auto' meant for this data
    return cache_key(method=method_name, config=cfg, seed=seed, data=data_fingerprint(train, val),
                     version=FINETUNE_VERSION)  # fmt: skip


def _save_fitted(method: DefaultTLBase, folder: Path) -> dict[str, Any]:
    """Write a fitted Default-TL network into a cache folder; returns the entry's description."""
    import torch

    from harness.cache import atomic_path

    state = {k: v.detach().cpu() for k, v in method.net_.state_dict().items()}
    with atomic_path(folder / "state.pt") as tmp:
        torch.save(state, tmp)
    return {
        "method": method._name(), "config": config_to_dict(method.config), "seed": method.seed,
        "backbone": method.backbone_name_, "process": method.process_.key, "width": method.process_.width,
        "n_concepts": method.n_concepts_, "trained": [bool(v) for v in method.trained_],
        "skipped": list(method.skipped_concepts_),
        "preprocessing": list(method.preprocessing_[:2]) + [list(method.preprocessing_[2]), list(method.preprocessing_[3])],
        "lr": method.lr_, "best_val_map": method.best_val_map_, "best_epoch": method.best_epoch_,
        "val_map_per_lr": method.val_map_per_lr_, "history": method.history_,
    }  # fmt: skip


def _load_fitted(method: DefaultTLBase, folder: Path) -> None:
    import torch

    from methods import _finetune as ft
    from methods import _tl_nets as nets

    meta = json.loads((folder / "meta.json").read_text())["description"]
    backbone = ft.load_backbone(meta["backbone"], method.config.backbone_weights, None)
    process = ft.process_of(meta["process"], meta["width"])
    trunk = ft.build_finetune_trunk(backbone, process, torch.Generator().manual_seed(0))
    net = nets.DefaultTLNet(trunk, int(meta["n_concepts"]), torch.Generator().manual_seed(0))
    try:
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except Exception as exc:
        raise HarnessError(f"cached network {folder} is unreadable ({exc}); clear it with 'harness cache clear'") from exc
    net.eval()
    method.net_, method.backbone_name_, method.process_ = net, meta["backbone"], process
    method.n_concepts_ = int(meta["n_concepts"])
    method.trained_ = np.asarray(meta["trained"], dtype=bool)
    method.skipped_concepts_ = list(meta.get("skipped", []))
    side, crop, mean, std = meta["preprocessing"]
    method.preprocessing_ = (int(side), int(crop), tuple(mean), tuple(std))
    method.lr_, method.best_val_map_, method.best_epoch_ = meta["lr"], meta["best_val_map"], meta["best_epoch"]
    method.history_, method.val_map_per_lr_ = meta["history"], meta["val_map_per_lr"]


def parse_source(text: str) -> tuple[type[DefaultTLBase], Any]:
    """``default_tl_hinge[:key=value;key=value]`` -> (method class, resolved config)."""
    from harness.fitted_methods import parse_reference

    name = str(text).partition(":")[0].strip()
    from harness.api import METHODS

    if name not in METHODS or not (isinstance(METHODS.get(name), type) and issubclass(METHODS.get(name), DefaultTLBase)):
        raise InvalidParameterError(
            f"{text!r} is not a Default-TL source: the name before ':' must be default_tl_hinge or "
            f"default_tl_softmax, got {name!r}."
        )
    cls, cfg = parse_reference(text)
    return cls, cfg  # type: ignore[return-value]


def fitted_source(text: str, seed: int, train: MethodData, val: MethodData | None, device: str) -> DefaultTLBase:
    """The Default-TL network ``text`` fitted with ``seed`` on (train, val): from the cache, else trained."""
    from harness.fitted_methods import fitted

    parse_source(text)  # a Default-TL network (DMTL's init_from needs its trunk)
    return fitted(text, seed, train, val, device)  # type: ignore[no-any-return]
