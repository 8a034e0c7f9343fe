"""Per-frame features (``pooling="none"`` -> Sequences), the frame selection (``frame_stride``,
``max_frames``), items of several frames (``Split.frame_paths``) and their cache entries.

Independent path for the values: the frames of a clip saved as lossless PNGs and run one by one
(as in test_video_features); the network is ``mini_alexnet`` with its explicit random weights.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from harness import features as F
from harness import video
from harness.api import Dataset, FeatureSpec, Protocol, Sequences, Split
from harness.cache import Cache, cache_key
from harness.errors import InvalidParameterError

FPS = 6
N_CLIP = 12  # frames of the test clip (2 s at 6 fps)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    """A 12-frame clip and its decoded frames as PNG files (the same pixels)."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("sequences")
    yy, xx = np.mgrid[0:64, 0:64]
    frames = np.stack(
        [np.stack([(xx * 4 + 19 * t) % 256, (yy * 3 + 11 * t) % 256, np.full_like(xx, 30 + 17 * t)], -1)
         for t in range(N_CLIP)]
    ).astype(np.uint8)  # fmt: skip
    clip = folder / "clip.avi"
    video.write_video(clip, frames, fps=FPS)
    pngs = []
    for i, frame in enumerate(video.read_frames(clip)):
        pngs.append(str(folder / f"frame{i:02d}.png"))
        Image.fromarray(frame).save(pngs[-1])
    return str(clip), pngs


SPEC = FeatureSpec("mini_alexnet", "fc7", weights="random", pooling="none")


@pytest.fixture(scope="module")
def per_frame(media: tuple[str, list[str]]) -> np.ndarray:
    """(12, 256) features of the clip's frames, each image run as its own item."""
    _, pngs = media
    x = F.compute_features(pngs, FeatureSpec("mini_alexnet", "fc7", weights="random"))
    assert isinstance(x, np.ndarray) and x.shape == (N_CLIP, 256)
    return x


def _middles(n: int, stride: int, m: int | None) -> list[int]:
    """Oracle of the documented rule, in exact rational arithmetic."""
    kept = list(range(0, n, stride))
    if m is None or len(kept) <= m:
        return kept
    return [kept[int(Fraction(2 * j + 1, 2 * m) * len(kept))] for j in range(m)]


def test_frame_selection_rule() -> None:
    assert F.frame_selection(10, 1, 4).tolist() == [1, 3, 6, 8]
    assert F.frame_selection(100, 30).tolist() == [0, 30, 60, 90]
    assert F.frame_selection(100, 30, 2).tolist() == [30, 90]
    assert F.frame_selection(5, 1, 10).tolist() == [0, 1, 2, 3, 4]
    assert F.frame_selection(1, 30, 1).tolist() == [0]
    for n in (1, 2, 7, 30, 31, 164):
        for stride in (1, 2, 5, 30):
            for m in (None, 1, 2, 3, 8, 16):
                got = F.frame_selection(n, stride, m)
                assert got.tolist() == _middles(n, stride, m), (n, stride, m)
                assert got.dtype == np.int64 and len(got) == min(m or n, -(-n // stride))
                assert np.all(np.diff(got) > 0) and np.all(got % stride == 0) and got.max() < n


def test_clip_segment_and_keyframe_items_give_their_frames(media: tuple[str, list[str]], per_frame: np.ndarray) -> None:
    clip, pngs = media
    keyframes = (pngs[2], pngs[7], pngs[4])
    items = [clip, f"{clip}#t=0,1", keyframes, (pngs[0], clip)]
    seq = F.compute_features(items, SPEC, batch_size=5, max_frames_per_batch=7)
    assert isinstance(seq, Sequences) and seq.values.dtype == np.float32
    assert seq.lengths.tolist() == [N_CLIP, FPS, 3, 1 + N_CLIP]
    np.testing.assert_allclose(seq[0], per_frame, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(seq[1], per_frame[:FPS], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(seq[2], per_frame[[2, 7, 4]], rtol=1e-4, atol=1e-5)  # in the listed order
    np.testing.assert_allclose(seq[3], per_frame[[0, *range(N_CLIP)]], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("stride", "most"), [(5, None), (1, 4), (2, 3), (30, None), (3, 1)])
def test_stride_and_max_frames_pick_the_documented_frames(
    media: tuple[str, list[str]], per_frame: np.ndarray, stride: int, most: int | None
) -> None:
    clip, pngs = media
    spec = FeatureSpec("mini_alexnet", "fc7", weights="random", pooling="none", frame_stride=stride, max_frames=most)
    keyframes = tuple(pngs[:7])
    items = [clip, f"{clip}#t=1", keyframes, (pngs[0], clip)]
    seq = F.compute_features(items, spec, batch_size=4, max_frames_per_batch=6)
    both = np.concatenate([per_frame[:1], per_frame])
    expected = [per_frame[F.frame_selection(N_CLIP, stride, most)],
                per_frame[FPS:][F.frame_selection(N_CLIP - FPS, stride, most)],
                per_frame[:7][F.frame_selection(7, stride, most)],
                both[F.frame_selection(N_CLIP + 1, stride, most)]]  # fmt: skip
    assert seq.lengths.tolist() == [len(e) for e in expected]
    for i, e in enumerate(expected):
        np.testing.assert_allclose(seq[i], e, rtol=1e-4, atol=1e-5, err_msg=f"item {i}")
    # The selection applies before pooling too.
    for pooling, reduce in (("mean", np.mean), ("max", np.max)):
        pooled = F.compute_features(items, FeatureSpec("mini_alexnet", "fc7", weights="random", pooling=pooling,
                                                       frame_stride=stride, max_frames=most))  # fmt: skip
        np.testing.assert_allclose(pooled, np.stack([reduce(e, axis=0) for e in expected]), rtol=1e-4, atol=1e-5)


def _dataset(split: Split) -> Dataset:
    return Dataset(name="frames-test", task="multilabel", concepts=("a",), train=split, test=split,
                   protocol=Protocol(metric="map"), manifest_hash="m" * 24, root=Path("."))  # fmt: skip


@pytest.fixture()
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = F.compute_features

    def wrapper(paths, spec, **kw):
        calls.append(len(paths))
        return real(paths, spec, **kw)

    monkeypatch.setattr(F, "compute_features", wrapper)
    return calls


def test_sequences_round_trip_through_the_cache(media: tuple[str, list[str]], counted: list[int]) -> None:
    clip, pngs = media
    frame_paths = ((pngs[1], pngs[3], pngs[5]), (pngs[0],), (pngs[2], pngs[4]), (clip,))
    split = Split(ids=np.array(["s1", "s2", "s3", "s4"]), groups=np.array(["v", "v", "w", "w"]), labels=None,
                  paths=(pngs[3], pngs[0], pngs[4], clip), frame_paths=frame_paths)  # fmt: skip
    ds = _dataset(split)
    first = F.extract_features(ds, "test", split, SPEC)
    second = F.extract_features(ds, "test", split, SPEC)
    assert counted == [4]  # the second call read the cache
    assert isinstance(first, Sequences) and isinstance(second, Sequences)
    assert first.lengths.tolist() == [3, 1, 2, N_CLIP]
    np.testing.assert_array_equal(first.values, second.values)
    np.testing.assert_array_equal(first.offsets, second.offsets)
    assert second.values.dtype == np.float32 and second.offsets.dtype == np.int64
    (entry,) = Cache().entries("features")
    assert set(np.load(entry.path / "data.npz").files) == {"values", "offsets"}
    assert entry.meta["description"]["pooling"] == "none"

    # Pooled features are the mean / max of the sequence (own entries; the frames are the same).
    mean = F.extract_features(ds, "test", split, FeatureSpec("mini_alexnet", "fc7", weights="random"))
    top = F.extract_features(ds, "test", split, FeatureSpec("mini_alexnet", "fc7", weights="random", pooling="max"))
    np.testing.assert_allclose(mean, first.pool("mean"), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(top, first.pool("max"), rtol=1e-6, atol=1e-6)
    # The frame selection is in the key: a new entry, and it agrees with the full sequence.
    strided = F.extract_features(ds, "test", split, FeatureSpec("mini_alexnet", "fc7", weights="random",
                                                                pooling="none", frame_stride=2))  # fmt: skip
    assert strided.lengths.tolist() == [2, 1, 1, N_CLIP // 2]
    np.testing.assert_allclose(strided[0], first[0][[0, 2]], rtol=1e-4, atol=1e-5)
    assert counted == [4, 4, 4, 4] and len(Cache().entries("features")) == 4


def test_one_file_items_keep_their_cache_key(media: tuple[str, list[str]], counted: list[int]) -> None:
    """Frame lists of one file each (a TRECVID shot with one keyframe) give the key of plain paths:
    the documented parts, with no frame parts; other frame lists get their own entry."""
    _, pngs = media
    ids, groups = np.array(["a", "b", "c"]), np.array(["v", "v", "w"])
    plain = Split(ids=ids, groups=groups, labels=None, paths=tuple(pngs[:3]))
    single = Split(ids=ids, groups=groups, labels=None, paths=tuple(pngs[:3]), frame_paths=tuple((p,) for p in pngs[:3]))
    spec = FeatureSpec("mini_alexnet", "fc7", weights="random")
    a = F.extract_features(_dataset(plain), "test", plain, spec)
    b = F.extract_features(_dataset(single), "test", single, spec)
    assert counted == [3]
    np.testing.assert_array_equal(a, b)
    (entry,) = Cache().entries("features")
    d = entry.meta["description"]
    parts = {k: d[k] for k in ("manifest", "split", "items", "backbone", "weights", "layer", "pooling",
                               "preprocessing", "version")}  # fmt: skip
    assert entry.key == cache_key(**parts) and "frame_stride" not in d and "frames" not in d
    several = Split(ids=ids, groups=groups, labels=None, paths=tuple(pngs[:3]),
                    frame_paths=((pngs[0], pngs[5]), (pngs[1],), (pngs[2],)))  # fmt: skip
    c = F.extract_features(_dataset(several), "test", several, spec)
    assert counted == [3, 3] and len(Cache().entries("features")) == 2
    np.testing.assert_allclose(c[1:], a[1:], rtol=1e-4, atol=1e-6)  # other batches: float noise only
    assert not np.allclose(c[0], a[0])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"frame_stride": 0}, "frame_stride must be an integer >= 1"),
        ({"frame_stride": -30}, "got -30"),
        ({"frame_stride": 1.5}, "frame_stride must be an integer"),
        ({"frame_stride": True}, "frame_stride must be an integer"),
        ({"max_frames": 0}, "max_frames must be an integer >= 1 .* or None"),
        ({"max_frames": "8"}, "got '8'"),
        ({"pooling": "median"}, "pooling must be one of 'mean', 'max', 'none'.* got 'median'"),
    ],
)
def test_bad_frame_settings_are_rejected_before_work(changes: dict, message: str) -> None:
    split = Split(ids=np.array(["a"]), groups=np.array(["v"]), labels=None, paths=("/absent/a.jpg",))
    spec = FeatureSpec("no_such_backbone", "fc7", **changes)  # checked before the backbone name
    with pytest.raises(InvalidParameterError, match=message):
        F.extract_features(_dataset(split), "test", split, spec)
    with pytest.raises(InvalidParameterError, match=message):
        F.compute_features(["/absent/a.jpg"], FeatureSpec("mini_alexnet", "fc7", weights="random", **changes))
    assert Cache().entries("features") == []


def test_provided_blocks_have_no_frames() -> None:
    split = Split(ids=np.array(["a", "b"]), groups=np.array(["v", "w"]), labels=None, features={"x": np.ones((2, 3))})
    with pytest.raises(InvalidParameterError, match="pooling 'none' .* needs a backbone"):
        F.extract_features(_dataset(split), "test", split, FeatureSpec("provided", "x", pooling="none"))


def test_an_item_without_frames_is_named(media: tuple[str, list[str]]) -> None:
    from harness.errors import DataError

    _, pngs = media
    with pytest.raises(DataError, match=r"Item 1 \(no files\) has no decodable frames"):
        F.compute_features([(pngs[0],), ()], SPEC)
