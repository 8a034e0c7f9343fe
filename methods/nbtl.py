"""``nbtl``: negative back-dropout transfer learning (METHODS.md 2.8, seed 002).

1. ``finetune_cnn`` with this method's fine-tuning settings: fitted once per (data, seed) and cached
   (:mod:`harness.fitted_methods`), so every drop setting of a table reuses one network.
2. Penalty set: the fine-tuned network classifies the held-out 10 % of the training frames; the
   misclassified ones are the penalty frames, counted in clips; ``penalty_clips`` keeps those of all
   the clips, a number of them (Table 1: 260) or a fraction (Table 2: 1/3, 2/3), drawn at random.
3. Negative back-dropout (:mod:`methods._nbtl_select`): per penalty frame the fc7 unit contributing
   most to the wrong class, and the fc6 unit contributing most to that one; the top ``drop_ratio`` of
   each chosen layer's units by summed contribution are dropped (their outgoing weights zeroed).
4. No retraining by default (AMB-28); ``refit_epochs=1`` fine-tunes fc7 and fc8 for an epoch on the
   training frames with the masks frozen.

A clip's prediction is the mean of its frames' softmax under the masked network (METHODS.md 1.8).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, fields
from typing import Any, Self

import numpy as np

from harness.api import MethodData, register_method
from harness.errors import HarnessError
from harness.params import Interval, Options, param
from harness.seeding import derive_seed
from methods._nbtl_select import LAYER_CHOICES, penalty_set, select_units
from methods.finetune_cnn import FinetuneCNNConfig, FrameNetworkMethod, frame_data

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NBTLConfig(FinetuneCNNConfig):
    """The fine-tuning settings of ``finetune_cnn`` plus the drop settings (paper defaults: last two, 10 %)."""

    drop_layers: str = param("last_two", Options(LAYER_CHOICES),
                             "whose input units are dropped: last (fc8's, i.e. fc7 units), second_to_last (fc7's, "
                             "i.e. fc6 units) or last_two")  # fmt: skip
    drop_ratio: float = param(0.1, Interval(0, 1, "right"), "share of a layer's units dropped (paper: 0.1, 0.2)")
    penalty_clips: str = param("all", help="penalty clips kept: 'all', a count (Table 1: 260) or a fraction (0.333)")
    refit_epochs: int = param(0, Interval(0, None), "epochs of fc7/fc8 fine-tuning after dropping, masks frozen "
                                                    "(AMB-28: none by default)")  # fmt: skip


FINETUNE_FIELDS = tuple(f.name for f in fields(FinetuneCNNConfig))


def finetune_reference(cfg: Any) -> str:
    """``finetune_cnn:key=value;...`` with the fine-tuning settings of ``cfg`` that differ from the defaults."""
    default = FinetuneCNNConfig()
    items = [f"{k}={getattr(cfg, k)}" for k in FINETUNE_FIELDS if getattr(cfg, k) != getattr(default, k)]
    return "finetune_cnn" + (":" + ";".join(items) if items else "")


@register_method("nbtl")
class NBTL(FrameNetworkMethod):
    """Fine-tuned frame CNN whose fc units most responsible for misclassified validation frames are dropped."""

    Config = NBTLConfig
    description = "NB-TL: negative back-dropout of the fc units behind misclassified validation frames"
    paper = "NB-TL (seed 002) Tables 1-3"
    fitted_notes = ("penalty_frames_", "penalty_clips_", "penalty_clips_available_", "dropped_fc7_", "dropped_fc6_",
                    "selected_fc7_", "selected_fc6_", "base_network_", "base_holdout_frame_accuracy_",
                    "refit_losses_", "val_score_")  # fmt: skip

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        from harness.fitted_methods import fitted
        from methods import _nbtl_net as nets
        from methods._device import torch_device
        from methods._validation import safe_score, val_scorer

        self._check_mode()
        cfg = self.config
        base = fitted(finetune_reference(cfg), self.seed, train, val, self.device)
        self.base_network_ = getattr(base, "network_key_", None)
        self.base_holdout_frame_accuracy_ = base.holdout_frame_accuracy_
        seqs, clips = frame_data(train, "nbtl")
        y = np.asarray(train.labels, dtype=np.int64)[clips]
        hold = base.holdout(train)
        device = torch_device(self.device)
        h6, h7, probs = nets.frame_outputs(base.head_, seqs.values[hold], device, cfg.eval_batch_size)
        predicted = probs.argmax(1)
        pset = penalty_set(predicted, y[hold], clips[hold], cfg.penalty_clips,
                           np.random.default_rng(derive_seed(self.seed, "nbtl", "penalty")))  # fmt: skip
        self.penalty_frames_, self.penalty_clips_ = len(pset.frames), len(pset.clips)
        self.penalty_clips_available_ = pset.all_clips
        w7, w8 = base.head_.effective_weights()
        sel = select_units(w8, w7, h7[pset.frames], h6[pset.frames], predicted[pset.frames], cfg.drop_layers,
                           cfg.drop_ratio)  # fmt: skip
        self.dropped_fc7_, self.dropped_fc6_ = sel.fc7.tolist(), sel.fc6.tolist()
        self.selected_fc7_, self.selected_fc6_ = sel.selected_fc7, sel.selected_fc6
        head = copy.deepcopy(base.head_)
        head.drop(sel.fc7, sel.fc6)
        self.refit_losses_ = []
        if cfg.refit_epochs:
            groups = nets.param_groups(head, cfg.lr, cfg.lr_boost)[1:]  # fc7 and fc8 only
            self.refit_losses_ = nets.train_head(head, seqs.values[~hold], y[~hold], groups, momentum=cfg.momentum,
                                                 weight_decay=cfg.weight_decay, epochs=cfg.refit_epochs,
                                                 batch_size=cfg.batch_size, device=device,
                                                 seed=derive_seed(self.seed, "nbtl", "refit"))  # fmt: skip
        self.head_ = head
        log.info("nbtl: %d penalty frames from %d of %d clips; dropped %d fc7 and %d fc6 units", self.penalty_frames_,
                 self.penalty_clips_, pset.all_clips, len(sel.fc7), len(sel.fc6))  # fmt: skip
        scorer = val_scorer(val)
        self.val_score_ = None if scorer is None or val is None else safe_score(scorer, self.predict(val))
        return self

    def predict(self, data: MethodData) -> np.ndarray:
        if not hasattr(self, "head_"):
            raise HarnessError("nbtl: predict called before fit.")
        return self._clip_scores(self.head_, data)
