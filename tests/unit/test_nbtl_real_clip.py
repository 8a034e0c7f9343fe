"""The real UCF101 clip in ../shared/data/videos through the whole finetune_cnn path: PyAV decoding, per-frame
pool5 features, the fine-tuned frame head, one clip prediction (the mean of its frames' softmax)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.api import FeatureSpec, MethodData, Sequences
from harness.features import compute_features
from harness.params import resolve_config
from methods.finetune_cnn import FinetuneCNN

CLIP = Path(__file__).resolve().parents[3] / "shared" / "data" / "videos" / "ucf101_applyeyemakeup_clip.avi"
SMALL = {"backbone": "mini_alexnet", "backbone_weights": "random", "train_layers": "fc", "batch_size": 32,
         "max_epochs": 1, "max_frames": 8}


def _data(seqs: Sequences, labels: np.ndarray | None, concepts: tuple[str, ...]) -> MethodData:
    ids = np.array([f"v{i}" for i in range(len(seqs))])
    return MethodData(ids=ids, groups=ids, concepts=concepts, task="multiclass", labels=labels, features=seqs,
                      default_backbone="mini_alexnet")  # fmt: skip


def test_real_clip_decoded_to_frames_and_predicted() -> None:
    clip = CLIP
    if not clip.is_file():
        pytest.skip(f"reference clip {clip} is absent (it lives in ../shared/data beside the repository)")
    spec = FeatureSpec("mini_alexnet", "pool5", weights="random", pooling="none", max_frames=8)
    seqs = compute_features([str(clip), str(clip)], spec)
    assert isinstance(seqs, Sequences) and seqs.lengths.tolist() == [8, 8] and seqs.values.shape[1] == 432
    assert np.isfinite(seqs.values).all() and seqs.values.std() > 0  # real pixels, not a blank frame
    model = FinetuneCNN(config=resolve_config(FinetuneCNN.Config, SMALL), seed=0)
    model.fit(_data(seqs, np.array([0, 1]), ("ApplyEyeMakeup", "Other")))
    scores = model.predict(_data(seqs.subset(np.array([0])), None, ("ApplyEyeMakeup", "Other")))
    assert scores.shape == (1, 2) and np.isclose(scores.sum(), 1.0)
