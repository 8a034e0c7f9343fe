"""``dmtl``: DMTL_LC without the label constraint (beta = 0, no C), DMTL_LC Table 1 row 3.

METHODS.md 2.1: the same network and training as ``dmtl_lc`` (fine-tuned trunk, two-sided head with
k = 157 and ReLU on S, hinge loss over the 15:1 sampled training pairs, SGD momentum 0.9, learning
rate chosen on validation), without the constraint layer C. See :mod:`methods._dmtl`.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness import miniature
from harness.api import register_method
from methods._dmtl import DMTLBase, DMTLConfig


@register_method("dmtl")
class DMTL(DMTLBase):
    """DMTL: fine-tuned trunk + two-sided head (L, ReLU'd S), hinge loss, no label constraint."""

    description = "deep multi-task learning: fine-tuned CNN + two-sided GO-MTL head, no label constraint (beta = 0)"
    paper = "DMTL_LC Table 1 (Proposed-DMTL)"
    with_constraint = False

    # Applied on miniatures by harness.runner.resolve (harness.miniature); real data keeps the paper's.
    miniature_settings = {
        "batch_size": (32, miniature.BATCH_32),
        "lr_grid": ((0.00316227766017, 0.01), f"10^-2.5 and 10^-2: {miniature.LR_PAIR}"),
    }

    @dataclass(frozen=True)
    class Config(DMTLConfig):
        """DMTL settings (see :class:`methods._dmtl.DMTLConfig`)."""
