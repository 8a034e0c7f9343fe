"""Backbone features of video items: every decoded frame goes through the backbone, then pooling.

Parity: the pooled feature of a clip (or of a ``#t=start,end`` segment) equals the mean / max of
the features of its frames saved as lossless PNG images and extracted one by one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness import video
from harness.api import FeatureSpec
from harness.features import compute_features


@pytest.fixture(scope="module")
def clip_and_frames(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    from PIL import Image

    folder = tmp_path_factory.mktemp("video_features")
    yy, xx = np.mgrid[0:64, 0:64]
    frames = np.stack(
        [np.stack([(xx * 4 + 9 * t) % 256, (yy * 3 + 5 * t) % 256, np.full_like(xx, 40 + 10 * t)], -1) for t in range(12)]
    ).astype(np.uint8)
    clip = folder / "clip.avi"
    video.write_video(clip, frames, fps=6)
    pngs = []
    for i, frame in enumerate(video.read_frames(clip)):  # the decoded pixels, stored losslessly
        pngs.append(str(folder / f"frame{i:02d}.png"))
        Image.fromarray(frame).save(pngs[-1])
    return clip, pngs


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_clip_feature_is_the_pooled_frame_features(clip_and_frames: tuple[Path, list[str]], pooling: str) -> None:
    clip, pngs = clip_and_frames
    spec = FeatureSpec(backbone="mini_alexnet", layer="fc7", weights="random", pooling=pooling)
    per_frame = compute_features(pngs, spec)
    pooled = compute_features([str(clip), f"{clip}#t=0,1", f"{clip}#t=1"], spec)
    reduce = np.mean if pooling == "mean" else np.max
    np.testing.assert_allclose(pooled[0], reduce(per_frame, axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pooled[1], reduce(per_frame[:6], axis=0), rtol=1e-4, atol=1e-5)  # frames 0..5 of 6 fps
    np.testing.assert_allclose(pooled[2], reduce(per_frame[6:], axis=0), rtol=1e-4, atol=1e-5)
    assert not np.allclose(pooled[1], pooled[2])


def test_damaged_video_item_is_a_clear_error(clip_and_frames: tuple[Path, list[str]], tmp_path: Path) -> None:
    clip, _ = clip_and_frames
    broken = tmp_path / "broken.avi"
    broken.write_bytes(clip.read_bytes()[:-400])
    spec = FeatureSpec(backbone="mini_alexnet", layer="fc7", weights="random")
    with pytest.raises(video.VideoDecodeError, match="broken.avi"):
        compute_features([str(broken)], spec)
