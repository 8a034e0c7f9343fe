"""``dmtl_lc``: deep multi-task learning with a label constraint (Markatopoulou et al., ACM MM 2016).

METHODS.md 2.1: a fine-tuned source network (process a-f, default (c), ext. 2048, the paper's best
at 22.60 MXinfAP) topped by the two-sided network (k = 157 latent tasks, ReLU on S) trained with
the hinge loss over each concept's sampled training set (all positives, negatives up to 15:1),
plus beta = 0.3 times the label constraint (sigmoid cross-entropy between relu(S) C^T and the
rescaled phi matrix of the training labels). SGD, momentum 0.9; learning rate chosen on validation
mean AP over 1e-5 .. 1e-2 (step 10^0.5). ``--set init_from=default_tl_hinge`` starts from the
fitted Default-TL network (b) as in Table 2's right column. See :mod:`methods._dmtl`.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import miniature
from harness.api import register_method
from methods._dmtl import DMTLBase, DMTLLCConfig


@register_method("dmtl_lc")
class DMTLLC(DMTLBase):
    """DMTL_LC: fine-tuned trunk + two-sided head (L, ReLU'd S) + label-correlation constraint (C, phi)."""

    description = "deep multi-task learning with label constraint: fine-tuned CNN + two-sided head + phi constraint"
    paper = "DMTL_LC Tables 1-2 (Proposed-DMTL_LC)"
    with_constraint = True

    # Applied on miniatures by harness.runner.resolve (harness.miniature); real data keeps the paper's.
    miniature_settings = {
        "batch_size": (32, miniature.BATCH_32),
        "lr_grid": ((0.00316227766017, 0.01), f"10^-2.5 and 10^-2: {miniature.LR_PAIR}"),
    }

    @dataclass(frozen=True)
    class Config(DMTLLCConfig):
        """DMTL_LC settings (see :class:`methods._dmtl.DMTLLCConfig`)."""
