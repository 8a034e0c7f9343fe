"""Metrics: registered protocol-level entries, pure functions and TREC-format scoring.

Importing the package registers every metric in ``harness.api.METRICS`` (one module per
metric, file name = registered name). Direct use:

* ``metrics.functional``: pure functions (AP, xinfAP, Hamming loss, accuracies, CoVieW).
* ``metrics.trec``: qrels/run readers and writer, ``sample_eval.pl``-exact ``evaluate_run``,
  text/JSON/CSV reports (what ``harness eval trec`` uses).
"""

from __future__ import annotations

from metrics import avs_infap as _avs_infap  # noqa: F401  (registers "avs_infap")
from metrics import coview as _coview  # noqa: F401  (registers "coview")
from metrics import frame_accuracy as _frame_accuracy  # noqa: F401  (registers "frame_accuracy")
from metrics import functional, trec
from metrics import hamming_loss as _hamming_loss  # noqa: F401  (registers "hamming_loss")
from metrics import map as _map  # noqa: F401  (registers "map")
from metrics import mxinfap as _mxinfap  # noqa: F401  (registers "mxinfap")
from metrics import segment_accuracy as _segment_accuracy  # noqa: F401  (registers "segment_accuracy")
from metrics import top1_accuracy as _top1_accuracy  # noqa: F401  (registers "top1_accuracy")
from metrics import top5_accuracy as _top5_accuracy  # noqa: F401  (registers "top5_accuracy")
from metrics import video_accuracy as _video_accuracy  # noqa: F401  (registers "video_accuracy")
from metrics.functional import average_precision

__all__ = ["average_precision", "functional", "trec"]
