"""Config fields and the method base shared by the fine-tuning methods (Default-TL, DMTL, DMTL_LC); torch-free.

Reported values are plain defaults; values the paper does not give carry ``assumption=True``
(recorded with every run). Learning rate (METHODS.md 2.1): with ``lr`` unset the network is
trained once per value of ``lr_grid`` (the paper's 7 values 1e-5 .. 1e-2, step 10^0.5) and the
value with the best validation mean AP wins; ``lr=VALUE`` trains one network (what ``harness tune``
sets, over the same grid). Shorter grids are for quick runs on miniatures and are recorded as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.api import FeatureSpec, Method
from harness.params import Interval, Options, param
from harness.search_space import PAPER_LR_GRID

PAPER_LRS: tuple[float, ...] = tuple(float(v) for v in PAPER_LR_GRID.choices)
PROCESS_KEYS = ("a", "b", "c", "d", "e", "f")
# Fields that change how fast a run goes, never its result: left out of cached-network keys.
RUNTIME_FIELDS = ("memory_limit_mb", "num_workers", "eval_batch_size")


@dataclass(frozen=True)
class FinetuneFields:
    """Fields of every fine-tuning method (subclasses set ``fine_tuning``'s default)."""

    fine_tuning: str = param("b", Options(PROCESS_KEYS),
                             "fine-tuning process (Table 1 column): a baseline H=7; b/c/d extension E=1 with "
                             "1096/2048/4096 neurons; e/f re-initialisation H=6,R=1 with 1096/2048")  # fmt: skip
    width: int | None = param(None, Interval(1, None),
                              "override the neurons of the new layer of b-f (AMB-9: e.g. 1024 for the printed 1096)")  # fmt: skip
    lr: float | None = param(None, Interval(0, None, "neither"),
                             "fixed learning rate; unset = choose on validation mean AP over lr_grid")  # fmt: skip
    lr_grid: tuple[float, ...] = param(PAPER_LRS, Interval(0, None, "neither"),
                                       "learning rates tried when lr is unset (paper: 1e-5 .. 1e-2, step 10^0.5)")  # fmt: skip
    momentum: float = param(0.9, Interval(0, 1, "left"), "SGD momentum")
    weight_decay: float = param(5e-4, Interval(0, None), "L2 weight decay (Caffe AlexNet default, AMB-16)",
                                assumption=True)  # fmt: skip
    max_epochs: int = param(8, Interval(1, None), "maximum epochs per learning rate", assumption=True)
    patience: int = param(2, Interval(1, None), "epochs without validation gain before stopping (AMB-16)",
                          assumption=True)  # fmt: skip
    init_std: float = param(0.01, Interval(0, None, "neither"), "std of the Gaussian init of new layers (Caffe)",
                            assumption=True)  # fmt: skip
    neg_ratio: float = param(15.0, Interval(0, None), "max negatives per positive per concept (0 = all)")
    backbone: str = param("auto", help="source network ('auto': mini_alexnet for miniature keyframes, else alexnet)")
    backbone_weights: str = param("default", help="source weights: 'default' pretrained, or a checkpoint path")
    memory_limit_mb: float = param(4096.0, Interval(0, None),
                                   "keep decoded keyframes in memory up to this size, else decode per batch")  # fmt: skip
    num_workers: int = param(4, Interval(0, None), "DataLoader workers when keyframes are decoded per batch")
    eval_batch_size: int = param(256, Interval(1, None), "keyframes per batch at inference")


class KeyframeNetworkMethod(Method):
    """A network trained end to end on raw keyframes, its learning rate tuned over the paper's grid."""

    @classmethod
    def feature_spec(cls, config: Any) -> FeatureSpec | None:
        return None  # reads raw keyframes

    @classmethod
    def search_space(cls) -> dict[str, Any]:
        return {"lr": PAPER_LR_GRID}
