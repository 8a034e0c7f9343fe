"""Feature extraction batches frames, not items: bounded memory, same features however batches are cut.

The clips are written with the UCF101 miniature's own frame generator (real AVI files decoded by
the real decoder); the network is ``mini_alexnet`` with an explicit random initialisation (the
weights do not matter for batching, and no pretraining is needed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harness import video  # noqa: E402
from harness.api import FeatureSpec  # noqa: E402
from harness.errors import InvalidParameterError  # noqa: E402
from harness.features import compute_features, frames_per_batch  # noqa: E402
from harness.frame_batches import FrameBatcher, OrderedPrefetch  # noqa: E402


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Clips of 16, 9 and 16 frames, a segment of the first clip, a keyframe, and the first clip again."""
    from PIL import Image

    from datasets.ucf101 import MINI_FPS, mini_clip_frames

    folder = tmp_path_factory.mktemp("chunk_clips")
    clips = []
    for k, (ci, g, c) in enumerate(((0, 1, 1), (1, 2, 1), (3, 4, 2))):
        frames = mini_clip_frames(0, ci, g, c)
        if k == 1:
            frames = frames[:9]
        path = folder / f"clip{k}.avi"
        video.write_video(path, frames, MINI_FPS)
        clips.append(str(path))
    key = folder / "key.png"
    Image.fromarray(mini_clip_frames(0, 2, 3, 1)[5]).save(key)
    return [clips[0], clips[1], f"{clips[0]}#t=0.5,1.5", str(key), clips[2], clips[0]]


def n_frames(items: list[str]) -> list[int]:
    from harness.features import _load_frames

    return [len(_load_frames(p)) for p in items]


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_chunked_equals_one_big_batch(items: list[str], pooling: str, caplog: pytest.LogCaptureFixture) -> None:
    counts = n_frames(items)
    total = sum(counts)
    assert counts[0] == 16 and counts[1] == 9 and counts[3] == 1
    spec = FeatureSpec("mini_alexnet", "fc7", weights="random", pooling=pooling)
    whole = compute_features(items, spec, batch_size=total, max_frames_per_batch=total)
    # 7 frames per batch: clip 0 (16 frames) straddles batches 1-3, clip 1 starts in batch 3.
    with caplog.at_level(logging.INFO, logger="harness.features"):
        chunked = compute_features(items, spec, batch_size=3, max_frames_per_batch=7)
    assert f"({total} frames, {-(-total // 7)} batches of up to 7 frames)" in caplog.text
    assert "frames/s" in caplog.text and "items/s" in caplog.text
    one = compute_features(items, spec, batch_size=1, max_frames_per_batch=1)
    assert whole.shape == (len(items), 256)
    np.testing.assert_allclose(chunked, whole, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(one, whole, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(whole[5], whole[0], rtol=1e-4, atol=1e-5)  # the same clip twice
    assert not np.allclose(whole[0], whole[2])  # a segment is not its whole clip


def test_chunked_matches_per_frame_features(items: list[str]) -> None:
    """Pooled clip features are the mean of the clip's frames run one by one (an independent path)."""
    from harness.backbones import build_trunk
    from harness.features import _load_frames

    spec = FeatureSpec("mini_alexnet", "fc7", weights="random")
    chunked = compute_features(items[:2], spec, batch_size=4, max_frames_per_batch=10)
    backbone = build_trunk("mini_alexnet", "random")
    net = backbone.extractor("fc7").eval()
    with torch.no_grad():
        for row, path in zip(chunked, items[:2], strict=True):
            frames = [net(backbone.preprocess(f)[None])[0].numpy() for f in _load_frames(path)]
            np.testing.assert_allclose(row, np.mean(frames, axis=0), rtol=1e-4, atol=1e-5)


def test_default_batch_is_about_one_gib_of_input(monkeypatch: pytest.MonkeyPatch, items: list[str]) -> None:
    assert frames_per_batch(224) == 1783  # 1783 x 3 x 224 x 224 x 4 bytes <= 1 GiB < 1784 x ...
    assert 1783 * 3 * 224 * 224 * 4 <= 2**30 < 1784 * 3 * 224 * 224 * 4
    assert frames_per_batch(64) == 21845
    spec = FeatureSpec("mini_alexnet", "fc7", weights="random")
    monkeypatch.setenv("HARNESS_MAX_FRAMES_PER_BATCH", "0")
    with pytest.raises(InvalidParameterError, match="positive number of frames"):
        compute_features(items[:1], spec)
    monkeypatch.setenv("HARNESS_MAX_FRAMES_PER_BATCH", "many")
    with pytest.raises(InvalidParameterError, match="HARNESS_MAX_FRAMES_PER_BATCH"):
        compute_features(items[:1], spec)


def test_batcher_joins_items_that_straddle_batches() -> None:
    calls: list[int] = []

    def forward(x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        return x.reshape(len(x), -1).sum(dim=1, keepdim=True)

    batcher = FrameBatcher(forward, capacity=4, forward_frames=3)
    values = {0: torch.arange(6.0), 1: torch.tensor([10.0]), 2: torch.arange(20.0, 25.0)}
    done: dict[int, torch.Tensor] = {}
    for item, v in values.items():
        for part in torch.split(v.view(-1, 1), 2):  # chunks of 2 frames
            batcher.add(item, part)
        batcher.end_item(item, len(v))
        done.update(batcher.finished())
    batcher.flush()
    done.update(batcher.finished())
    assert sorted(done) == [0, 1, 2]
    for item, v in values.items():
        np.testing.assert_array_equal(done[item].view(-1).numpy(), v.numpy())
    assert batcher.frames == 12 and batcher.batches == 3
    assert calls == [3, 1, 3, 1, 3, 1]  # batches of 4 frames, forward passes of at most 3


def test_prefetch_bounds_waiting_frames_and_keeps_order() -> None:
    """A long item (far more frames than the bound) streams through; waiting frames stay bounded."""
    chunk, per_item, workers, bound = 4, [40, 3, 25, 1, 60, 8], 3, 12
    lock = threading.Lock()
    alive = [0]
    peak = [0]

    def produce(j: int) -> Iterator[torch.Tensor]:
        for start in range(0, per_item[j], chunk):
            k = min(chunk, per_item[j] - start)
            with lock:
                alive[0] += k
                peak[0] = max(peak[0], alive[0])
            yield torch.full((k, 1), float(j * 1000 + start))

    got: dict[int, list[float]] = {}
    with OrderedPrefetch(len(per_item), produce, workers=workers, max_frames=bound, max_items_ahead=4) as pf:
        for i in range(len(per_item)):
            got[i] = []
            for x in pf.chunks(i):
                time.sleep(0.002)  # a slow consumer: the workers run ahead until the bound stops them
                got[i] += x[:, 0].tolist()
                with lock:
                    alive[0] -= len(x)
    for j, n in enumerate(per_item):
        assert len(got[j]) == n
        assert got[j][::chunk] == [float(j * 1000 + s) for s in range(0, n, chunk)]
    # Frames in memory: the waiting ones (<= bound, plus one chunk the item being read may always
    # add), one chunk held by each worker until there is room, and the chunk being read.
    assert peak[0] <= bound + chunk + workers * chunk + chunk, peak[0]
    assert peak[0] < sum(per_item) / 2


def test_prefetch_reraises_in_item_order() -> None:
    def produce(j: int) -> Iterator[torch.Tensor]:
        yield torch.zeros((2, 1))
        if j == 2:
            raise ValueError("item 2 is damaged")

    seen = []
    with pytest.raises(ValueError, match="item 2"), OrderedPrefetch(5, produce, workers=2, max_frames=4,
                                                                    max_items_ahead=5) as pf:  # fmt: skip
        for i in range(5):
            for _ in pf.chunks(i):
                seen.append(i)
    assert seen == [0, 1, 2]


def test_damaged_clip_after_good_ones_names_the_file(items: list[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.avi"
    broken.write_bytes(Path(items[0]).read_bytes()[:-400])
    spec = FeatureSpec("mini_alexnet", "fc7", weights="random")
    with pytest.raises(video.VideoDecodeError, match="broken.avi"):
        compute_features([items[1], str(broken), items[4]], spec, max_frames_per_batch=5)
