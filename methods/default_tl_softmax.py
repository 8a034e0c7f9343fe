"""``default_tl_softmax``: Default-TL with Caffe's softmax loss (DMTL_LC Table 1, row 1).

METHODS.md 2.2: the fine-tuning trunk of process a-f (default (b), extension 1096) plus a new
60-way FC layer, trained on positives replicated once per positive concept, each copy with that
concept as its single label (AMB-17), with ``mean_n -log softmax(f(x_n))_{y_n}``; ranking score =
softmax probability (AMB-42). See :mod:`methods._default_tl` for training, learning-rate choice and
reuse as a source network.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import miniature
from harness.api import register_method
from methods._default_tl import DefaultTLBase, DefaultTLConfig


@register_method("default_tl_softmax")
class DefaultTLSoftmax(DefaultTLBase):
    """Default-TL, softmax loss: fine-tuned source layers + new 60-way softmax layer on positives only."""

    description = "Default-TL: fine-tuned source network with a new 60-way softmax layer (positives only)"
    paper = "DMTL_LC Table 1 (DefaultTL-Softmax)"
    loss_kind = "softmax"

    # Applied on miniatures by harness.runner.resolve (harness.miniature); real data keeps the paper's.
    miniature_settings = {
        "batch_size": (32, miniature.BATCH_32),
        "lr_grid": ((0.001, 0.00316227766017), f"10^-3 and 10^-2.5: {miniature.LR_PAIR}"),
    }

    @dataclass(frozen=True)
    class Config(DefaultTLConfig):
        """Default-TL settings (see :class:`methods._finetune_config.FinetuneFields`)."""

