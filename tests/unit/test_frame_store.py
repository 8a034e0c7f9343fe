"""harness.frame_store on the real UCF101 clip and real chunk files: build, cache, resume, damage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness import frame_store as fs
from harness.cache import Cache
from harness.errors import MissingDataError
from harness.features import frame_selection

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CLIP = DATA / "videos" / "ucf101_applyeyemakeup_clip.avi"


def _clip() -> str:
    if not CLIP.exists():
        pytest.skip(f"shared clip {CLIP} is absent")
    return str(CLIP)


def test_real_clip_shape_count_and_cache(tmp_path):
    from harness.video import count_item_frames

    cache = Cache(tmp_path)
    store, rep = fs.build_frame_store([_clip()], size=64, stride=4, cache=cache)
    want = len(frame_selection(count_item_frames(_clip()), 4, None))
    assert len(store) == want > 0
    x = store.item_frames(0)
    assert x.shape == (want, 64, 64, 3) and x.dtype == np.uint8 and x.std() > 0
    assert (rep.decoded_chunks, rep.from_cache) == (1, False)
    store2, rep2 = fs.build_frame_store([_clip()], size=64, stride=4, cache=cache)
    assert rep2.from_cache and np.array_equal(store2.item_frames(0), x)


def test_resume_after_interruption(tmp_path, monkeypatch):
    items = [_clip()] * 4
    ref, _ = fs.build_frame_store(items, size=16, stride=8, max_frames=3, chunk_frames=1, cache=Cache(tmp_path / "a"))
    real = fs._decode_item
    calls = {"n": 0}

    def flaky(source, its, i, *a):
        calls["n"] += 1
        if i == 2:
            raise RuntimeError("interrupted")
        return real(source, its, i, *a)

    cache = Cache(tmp_path / "b")
    monkeypatch.setattr(fs, "_decode_item", flaky)
    with pytest.raises(RuntimeError):
        fs.build_frame_store(items, size=16, stride=8, max_frames=3, chunk_frames=1, cache=cache)
    monkeypatch.setattr(fs, "_decode_item", real)
    store, rep = fs.build_frame_store(items, size=16, stride=8, max_frames=3, chunk_frames=1, cache=cache)
    assert (rep.reused_chunks, rep.decoded_chunks) == (2, 2)
    assert np.array_equal(store.frames(np.arange(len(store))), ref.frames(np.arange(len(ref))))
    assert np.array_equal(store.offsets, ref.offsets)


def test_damaged_chunk_is_rebuilt(tmp_path):
    cache = Cache(tmp_path)
    items = [_clip()] * 2
    store, _ = fs.build_frame_store(items, size=16, stride=8, max_frames=3, chunk_frames=1, cache=cache)
    good = store.frames(np.arange(len(store)))
    chunk = store.folder / "chunk_00001.npy"
    raw = bytearray(chunk.read_bytes())
    raw[-5] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    store2, rep = fs.build_frame_store(items, size=16, stride=8, max_frames=3, chunk_frames=1, cache=cache)
    assert not rep.from_cache and rep.decoded_chunks == 2
    assert np.array_equal(store2.frames(np.arange(len(store2))), good)


def test_missing_video_is_clear_error(tmp_path):
    with pytest.raises(MissingDataError, match="does not exist"):
        fs.build_frame_store([str(tmp_path / "nope.avi")], size=16, cache=Cache(tmp_path))


def test_fragment_changes_key(tmp_path):
    clip = _clip()
    assert fs.store_key([clip + "#t=0,1"], size=8) != fs.store_key([clip + "#t=1,2"], size=8)


def test_random_batches_reproducible_and_in_range():
    frames = np.arange(10, 47)
    a = list(fs.random_frame_batches(frames, 8, np.random.default_rng(3)))
    b = list(fs.random_frame_batches(frames, 8, np.random.default_rng(3)))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert [len(x) for x in a] == [8, 8, 8, 8, 5]
    allf = np.concatenate(a)
    assert sorted(allf.tolist()) == frames.tolist() and not np.array_equal(allf, frames)


@pytest.mark.parametrize(("n", "world"), [(10, 3), (2, 4), (8, 1)])
def test_shard_batch_concatenates(n, world):
    batch = np.arange(n) * 7
    parts = [fs.shard_batch(batch, r, world) for r in range(world)]
    assert np.array_equal(np.concatenate(parts), batch)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(Exception, match="rank"):
        fs.shard_batch(batch, world, world)
