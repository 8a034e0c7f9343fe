"""``default_tl_hinge``: Default-TL with Caffe's L1 one-vs-all hinge loss (DMTL_LC Table 1, row 2).

METHODS.md 2.2: the fine-tuning trunk of process a-f (default (b), extension 1096, the best
Default-TL of Table 1 and the source network of Table 2's right column) plus a new 60-way FC
layer, trained on positives replicated once per positive concept (AMB-17) with
``mean_n sum_k max(0, 1 - d_nk f_k(x_n))``; ranking score = raw output. See
:mod:`methods._default_tl` for training, learning-rate choice and reuse as a source network.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import miniature
from harness.api import register_method
from methods._default_tl import DefaultTLBase, DefaultTLConfig


@register_method("default_tl_hinge")
class DefaultTLHinge(DefaultTLBase):
    """Default-TL, hinge loss: fine-tuned source layers + new 60-way layer on positives only."""

    description = "Default-TL: fine-tuned source network with a new 60-way hinge-loss layer (positives only)"
    paper = "DMTL_LC Table 1 (DefaultTL-Hinge), Table 2 (direct output)"
    loss_kind = "hinge"

    # Applied on miniatures by harness.runner.resolve (harness.miniature); real data keeps the paper's.
    miniature_settings = {
        "batch_size": (32, miniature.BATCH_32),
        "lr_grid": ((3.16227766017e-05, 0.0001), f"10^-4.5 and 10^-4; 10^-2.5 and 10^-2 collapse to a constant score: {miniature.LR_PAIR}"),
    }

    @dataclass(frozen=True)
    class Config(DefaultTLConfig):
        """Default-TL settings (see :class:`methods._finetune_config.FinetuneFields`)."""

