"""MTN's trained model in the harness cache: one training, many predictions.

The key covers what changes the training (the config less the predict-time settings, the seed, the
training / validation data: ids, labels and the two streams' cached frame features), so runs that
differ only in the test protocol (``test_frames``, ``test_crops``, ``eval_batch``) load the model
the first of them trained (Table 2 rows 3-4 are one model).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from harness.api import MethodData, Sequences
from harness.errors import HarnessError

log = logging.getLogger(__name__)

CACHE_KIND = "mtn_fits"
FIT_VERSION = 1  # bump when training semantics change (invalidates cached models)
PREDICT_TIME = ("test_frames", "test_crops", "eval_batch")  # settings that never reach the training
NOTES = ("sizes_", "map_shapes_", "n_parameters_", "history_", "epochs_", "lr_decays_", "lr_", "best_epoch_",
         "best_val_score_", "val_metric_", "fit_seconds_", "segments_per_second_")  # fmt: skip


def _digest_array(h: Any, values: Any) -> None:
    a = np.ascontiguousarray(values)
    h.update(f"{a.dtype}{a.shape}".encode())
    h.update(memoryview(a).cast("B"))


def data_digest(data: MethodData | None, blocks: tuple[str, ...]) -> str:
    """SHA-256 of a split's ids, labels and the feature blocks the training reads."""
    h = hashlib.sha256()
    if data is None:
        return "none"
    h.update("\n".join(map(str, data.ids)).encode())
    if data.labels is not None:
        _digest_array(h, np.asarray(data.labels, dtype=np.float64))
    for name in blocks:
        block = data.blocks.get(name)
        h.update(name.encode())
        if isinstance(block, Sequences):
            _digest_array(h, block.values)
            _digest_array(h, block.offsets)
        elif block is not None:
            _digest_array(h, np.asarray(block))
    return h.hexdigest()[:24]


def fit_key(method: Any, train: MethodData, val: MethodData | None, blocks: tuple[str, ...]) -> str:
    from harness.cache import cache_key

    cfg = {k: v for k, v in asdict(method.config).items() if k not in PREDICT_TIME}
    for task in ("scene", "action"):  # 'auto' names the data set's backbone
        if cfg.get(f"{task}_backbone") == "auto":
            cfg[f"{task}_backbone"] = train.default_backbone
    return str(cache_key(method="mtn", config=cfg, seed=method.seed, train=data_digest(train, blocks),
                         val=data_digest(val, blocks), version=FIT_VERSION))  # fmt: skip


def store(method: Any, key: str) -> None:
    """Write the trained weights and fit notes (a full disk warns, never fails the run)."""
    import torch

    from harness.cache import Cache, atomic_path

    def build(folder: Path) -> dict[str, Any]:
        with atomic_path(folder / "state.pt") as tmp:
            torch.save({k: v.detach().cpu() for k, v in method.model_.state_dict().items()}, tmp)
        (folder / "notes.json").write_text(json.dumps({k: getattr(method, k) for k in NOTES}, default=float))
        return {"kind": "fitted mtn", "key": key}

    try:
        Cache().build(CACHE_KIND, key, build)
    except OSError as exc:
        log.warning("mtn: could not cache the trained model: %s", exc)


def restore(method: Any, key: str) -> bool:
    """Load the weights and notes of ``key`` into ``method.model_`` (built by the caller); False if absent."""
    import torch

    from harness.cache import Cache

    folder = Cache().lookup(CACHE_KIND, key)
    if folder is None:
        return False
    try:
        state = torch.load(Path(folder) / "state.pt", map_location="cpu", weights_only=True)
        method.model_.load_state_dict(state)
        notes = json.loads((Path(folder) / "notes.json").read_text())
    except Exception as exc:
        raise HarnessError(f"mtn: cached model {folder} is unreadable ({exc}); clear it with 'harness cache clear'") from exc
    for k in NOTES:
        setattr(method, k, notes[k])
    method.fit_cache_hit_ = True
    log.info("mtn: using the cached trained model %s (only predict-time settings differ)", key)
    return True
