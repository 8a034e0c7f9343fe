"""``finetune_cnn``: a frame classifier fine-tuned from an ImageNet network (METHODS.md 2.8 step 0; NB-TL's
Table 2 baseline "fine-tuning of CNN_M_2048").

The source network's fc6 and fc7 are copied, a new ``C``-way fc8 is appended, and the classifier is
trained on single frames of the training clips (every frame, or every ``frame_stride``-th) with
softmax cross-entropy: SGD, momentum 0.9, batch 256 random frames, weight decay 5e-4, lr 0.001 for the
earlier layers and x10 (``lr_boost``) for the last two FC layers (AMB-26). The training frames are first
split 90/10 into train / penalty-validation (``val_unit``: by frame, AMB-25, or by clip); the network
sees only the 90 %, and NB-TL (``methods/nbtl.py``) builds its penalty set from the 10 %. A clip's
prediction is the mean of its frames' softmax vectors (METHODS.md 1.8).

What is trained (``train_layers``): ``fc`` trains fc6-fc8 on cached ``pool5`` features of every frame
(the convolutional layers frozen; the harness extracts and caches them once per backbone); ``all``
(the paper: end to end, conv layers at lr 0.001) needs a pixel frame store that does not exist yet
and is refused with that message. Backbones: AlexNet-shaped networks with fc6/fc7 (``mini_alexnet``,
``alexnet``, ``vgg*``); ``cnn_m_2048`` (Chatfield et al.) is not implemented.

A fitted network is a cached source method (:mod:`harness.fitted_methods`): ``nbtl`` reads the one
network fitted per (data, seed) for all of its drop settings.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from harness.api import FeatureSpec, Method, MethodData, Sequences, register_method
from harness.errors import DataError, HarnessError, InvalidParameterError
from harness.params import Interval, Options, config_to_dict, param
from harness.seeding import derive_seed
from methods._nbtl_select import SPLIT_UNITS, frame_clips, holdout_frames

log = logging.getLogger(__name__)

CACHE_KIND = "finetuned_frames"
FITTED_VERSION = 1  # bump when training semantics change (invalidates cached networks)
FEATURE_LAYER = "pool5"  # below fc6: what the frozen-conv setting trains on
OUTPUT_LAYERS = ("fc6", "fc7", "probs")
RUNTIME_FIELDS = ("eval_batch_size",)

# Shared with nbtl (its fine-tuned network is this method's); measured on ucf101-mini split 1, seed 0.
MINIATURE_SETTINGS: dict[str, tuple[Any, str]] = {
    "train_layers": ("fc", "end-to-end fine-tuning needs the pixel frame store (not implemented); fc6-fc8 on cached "
                           "pool5 frame features of mini_alexnet is the cheap variant (recorded)"),
    "batch_size": (32, "split 1's 4,363 training frames (seed 0) give 17 SGD updates per epoch at the paper's batch "
                       "of 256; 32 gives 137"),
    "max_epochs": (15, "at batch 32 the training loss falls from 1.99 to 1.78 in 3 epochs and to 1.72 by epoch 15 "
                       "(split 1, seed 0); 60 epochs reach 1.65 without a better test accuracy"),
}


@dataclass(frozen=True)
class FinetuneCNNConfig:
    """Fine-tuning settings (paper values where METHODS.md 2.8 gives them)."""

    backbone: str = param("auto", help="source network with fc6/fc7 ('auto': the data set's: mini_alexnet on the "
                                       "miniature; alexnet / vgg* on real data)")  # fmt: skip
    backbone_weights: str = param("default", help="'default' pretrained, a checkpoint path, or 'random' (asked for)")
    train_layers: str = param("all", Options(("all", "fc")),
                              "all: end to end (the paper; needs the pixel frame store, not implemented); fc: fc6-fc8 "
                              "on cached pool5 frame features, conv layers frozen")  # fmt: skip
    frame_stride: int = param(1, Interval(1, None), "use every k-th frame of a clip (paper: every frame)")
    max_frames: int | None = param(None, Interval(1, None), "then at most this many frames per clip, evenly spaced")
    lr: float = param(0.001, Interval(0, None, "neither"), "learning rate of the earlier layers (AMB-26)")
    lr_boost: float = param(10.0, Interval(0, None, "neither"), "lr multiplier of the last two FC layers, fc7 and fc8")
    momentum: float = param(0.9, Interval(0, 1, "left"), "SGD momentum")
    weight_decay: float = param(5e-4, Interval(0, None), "L2 weight decay")
    batch_size: int = param(256, Interval(1, None), "random frames per mini-batch")
    max_epochs: int = param(10, Interval(1, None), "epochs over the training frames (the seed gives none)",
                            assumption=True)  # fmt: skip
    init_std: float = param(0.01, Interval(0, None, "neither"), "std of the Gaussian init of the new fc8 (Caffe)",
                            assumption=True)  # fmt: skip
    val_fraction: float = param(0.1, Interval(0, 1, "neither"), "share of the training frames held out as "
                                                                "penalty-validation")  # fmt: skip
    val_unit: str = param("frame", Options(SPLIT_UNITS), "hold out random frames (AMB-25) or whole clips",
                          assumption=True)  # fmt: skip
    eval_batch_size: int = param(1024, Interval(1, None), "frames per batch at inference")


def frame_data(data: MethodData, name: str) -> tuple[Sequences, np.ndarray]:
    """The per-frame feature block and the (N,) clip index of each frame."""
    seqs = data.features if data.features is not None else data.blocks.get("features")
    if not isinstance(seqs, Sequences):
        raise DataError(f"{name} reads per-frame features (pooling none); got {type(seqs).__name__}. Run it through the "
                        "harness runner on a video data set (ucf101, ucf101-mini).")  # fmt: skip
    return seqs, frame_clips(seqs.offsets)


class FrameNetworkMethod(Method):
    """Shared by finetune_cnn and nbtl: the frame features they read and clip-level prediction."""

    tasks = ("multiclass",)
    miniature_settings: ClassVar[dict[str, tuple[Any, str]]] = MINIATURE_SETTINGS

    @classmethod
    def feature_spec(cls, config: Any) -> FeatureSpec | None:
        """Per-frame ``pool5`` features for ``train_layers=fc``; None (raw clips) for end-to-end training."""
        if config.train_layers != "fc":
            return None
        return FeatureSpec(config.backbone, FEATURE_LAYER, weights=config.backbone_weights, pooling="none",
                           frame_stride=config.frame_stride, max_frames=config.max_frames)  # fmt: skip

    def _check_mode(self) -> None:
        if self.config.train_layers != "fc":
            raise InvalidParameterError(
                f"{getattr(self, 'name', type(self).__name__)}: train_layers={self.config.train_layers!r} (end-to-end "
                "fine-tuning from the pixels, the paper's) needs a pixel frame store, which the harness does not have "
                "yet; use --set train_layers=fc (fc6-fc8 on cached pool5 frame features, conv layers frozen)."
            )

    def _clip_scores(self, head: Any, data: MethodData) -> np.ndarray:
        from methods._device import torch_device
        from methods._nbtl_net import clip_means, frame_outputs

        seqs, _ = frame_data(data, str(getattr(self, "name", "")))
        probs = frame_outputs(head, seqs.values, torch_device(self.device), self.config.eval_batch_size)[2]
        return clip_means(probs, seqs.offsets)


@register_method("finetune_cnn")
class FinetuneCNN(FrameNetworkMethod):
    """fc6-fc8 of an ImageNet network fine-tuned on single frames; clip = mean of frame softmax."""

    Config = FinetuneCNNConfig
    description = "fine-tuned ImageNet CNN on single frames (fc7/fc8 at 10x lr), clip = mean frame softmax"
    paper = "NB-TL (seed 002) Table 2 baseline"
    fitted_notes = ("train_losses_", "holdout_frame_accuracy_", "n_train_frames_", "n_holdout_frames_", "val_score_",
                    "backbone_name_", "network_key_")  # fmt: skip
    output_layers: ClassVar[tuple[str, ...]] = OUTPUT_LAYERS
    fitted_cache_kind: ClassVar[str] = CACHE_KIND
    fitted_version: ClassVar[int] = FITTED_VERSION

    def holdout(self, data: MethodData) -> np.ndarray:
        """(N,) bool: the penalty-validation frames of ``data`` (deterministic in the seed)."""
        seqs, _ = frame_data(data, "finetune_cnn")
        gen = np.random.default_rng(derive_seed(self.seed, "finetune_cnn", "holdout"))
        return holdout_frames(seqs.offsets, self.config.val_fraction, self.config.val_unit, gen)

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        import torch

        from harness.fitted_methods import store
        from methods import _nbtl_net as nets
        from methods._device import torch_device
        from methods._finetune import load_backbone
        from methods._validation import safe_score, val_scorer

        self._check_mode()
        cfg = self.config
        seqs, clips = frame_data(train, "finetune_cnn")
        if self._load_cached(train, val):  # the network nbtl (or an earlier run) fitted on the same data and seed
            return self
        y = np.asarray(train.labels, dtype=np.int64)[clips]
        hold = self.holdout(train)
        backbone = load_backbone(cfg.backbone, cfg.backbone_weights, None, train.default_backbone)
        self.backbone_name_ = backbone.name
        gen = torch.Generator().manual_seed(derive_seed(self.seed, "finetune_cnn", "init"))
        head = nets.build_head(backbone, len(train.concepts), gen, cfg.init_std)
        if head.in_features != seqs.values.shape[1]:
            raise DataError(f"finetune_cnn: frame features have {seqs.values.shape[1]} dims, {backbone.name}'s fc6 takes "
                            f"{head.in_features}")  # fmt: skip
        device = torch_device(self.device)
        groups = nets.param_groups(head, cfg.lr, cfg.lr_boost)
        self.train_losses_ = nets.train_head(head, seqs.values[~hold], y[~hold], groups, momentum=cfg.momentum,
                                             weight_decay=cfg.weight_decay, epochs=cfg.max_epochs,
                                             batch_size=cfg.batch_size, seed=derive_seed(self.seed, "finetune_cnn", "sgd"),
                                             device=device)  # fmt: skip
        self.head_ = head
        probs = nets.frame_outputs(head, seqs.values[hold], device, cfg.eval_batch_size)[2]
        self.holdout_frame_accuracy_ = float((probs.argmax(1) == y[hold]).mean()) if hold.any() else None
        self.n_train_frames_, self.n_holdout_frames_ = int((~hold).sum()), int(hold.sum())
        scorer = val_scorer(val)
        self.val_score_ = None if scorer is None or val is None else safe_score(scorer, self.predict(val))
        store(self, train, val)
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        if not hasattr(self, "head_"):
            raise HarnessError("finetune_cnn: predict called before fit.")
        return self._clip_scores(self.head_, data)

    def _load_cached(self, train: MethodData, val: MethodData | None) -> bool:
        from harness.cache import Cache

        key = self.fitted_key(train, val)
        folder = Cache().lookup(CACHE_KIND, key)
        if folder is None:
            return False
        log.info("finetune_cnn: using the cached fine-tuned network %s", key)
        self.load_fitted(Path(folder))
        self.network_key_ = key
        return True

    # -- source-method hooks (harness.fitted_methods) ----------------------------------------

    def outputs(self, data: MethodData, layer: str = "probs") -> np.ndarray:
        """Per clip: the mean fc6 / fc7 activation of its frames, or the mean frame softmax (``probs``)."""
        from methods._device import torch_device
        from methods._nbtl_net import clip_means, frame_outputs

        if layer not in OUTPUT_LAYERS:
            raise InvalidParameterError(f"finetune_cnn outputs layers {', '.join(OUTPUT_LAYERS)}; got {layer!r}")
        seqs, _ = frame_data(data, "finetune_cnn")
        out = frame_outputs(self.head_, seqs.values, torch_device(self.device), self.config.eval_batch_size)
        return clip_means(out[OUTPUT_LAYERS.index(layer)], seqs.offsets)

    def fitted_key(self, train: MethodData, val: MethodData | None) -> str:
        from harness.cache import cache_key
        from methods._finetune import data_fingerprint

        cfg = {k: v for k, v in config_to_dict(self.config).items() if k not in RUNTIME_FIELDS}
        if cfg.get("backbone") == "auto" and train.default_backbone:
            cfg["backbone"] = train.default_backbone
        return str(cache_key(method="finetune_cnn", config=cfg, seed=self.seed, data=data_fingerprint(train, val),
                             version=FITTED_VERSION))  # fmt: skip

    def save_fitted(self, folder: Path) -> dict[str, Any]:
        import torch

        from harness.cache import atomic_path

        with atomic_path(folder / "state.pt") as tmp:
            torch.save({k: v.detach().cpu() for k, v in self.head_.state_dict().items()}, tmp)
        return {"method": "finetune_cnn", "config": config_to_dict(self.config), "seed": self.seed,
                "backbone": self.backbone_name_, "n_classes": int(self.head_.fc8.out_features),
                "train_losses": self.train_losses_, "holdout_frame_accuracy": self.holdout_frame_accuracy_,
                "n_train_frames": self.n_train_frames_, "n_holdout_frames": self.n_holdout_frames_,
                "val_score": self.val_score_}  # fmt: skip

    def load_fitted(self, folder: Path) -> None:
        import torch

        from methods._finetune import load_backbone
        from methods._nbtl_net import build_head

        meta = json.loads((folder / "meta.json").read_text())["description"]
        backbone = load_backbone(meta["backbone"], self.config.backbone_weights, None)
        head = build_head(backbone, int(meta["n_classes"]), torch.Generator().manual_seed(0), 0.01)
        try:
            head.load_state_dict(torch.load(folder / "state.pt", map_location="cpu", weights_only=True))
        except Exception as exc:
            raise HarnessError(f"cached network {folder} is unreadable ({exc}); clear it with 'harness cache clear'") from exc
        self.head_ = head.eval()
        self.backbone_name_ = meta["backbone"]
        self.train_losses_, self.holdout_frame_accuracy_ = meta["train_losses"], meta["holdout_frame_accuracy"]
        self.n_train_frames_, self.n_holdout_frames_ = meta["n_train_frames"], meta["n_holdout_frames"]
        self.val_score_ = meta["val_score"]
