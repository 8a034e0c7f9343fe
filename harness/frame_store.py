"""Pixel frames of a data set's items, decoded once and kept on disk for end-to-end training.

Feature caching (:mod:`harness.features`) stores what a frozen network computed; end-to-end
fine-tuning needs the pixels themselves, every epoch, in random order. A :class:`FrameStore` holds
the selected frames of every item (frames picked by :func:`harness.features.frame_selection`,
decoded with :mod:`harness.video` / PIL through :func:`harness.features._item_frames`), each
resized so its shorter side is ``size`` and centre-cropped to ``size x size``, as uint8 RGB.

On disk (under the harness cache, kind :data:`KIND`): ``chunk_NNNNN.npy`` files of
``(k, size, size, 3)`` uint8, whole items per chunk, and ``index.npz`` (item offsets, chunk starts).
The key is content-addressed: the item list (file names and byte sizes), frame stride, max_frames,
size and :data:`STORE_VERSION`. Building happens in a staging folder ``.partial-<key>``; each chunk
is written atomically with a sidecar recording its items and SHA-256, so an interrupted build
resumes at the first chunk that is missing or does not verify. The finished folder is sealed by
:meth:`harness.cache.Cache.commit` (sizes and checksums of every file, checked on lookup).

Reading: chunks are opened as memory maps, so a batch touches only its frames' pages; memory is
bounded by the batch, never by the data set. :func:`random_frame_batches` draws training batches
of random frames and :func:`shard_batch` cuts one global batch into per-process shards (DDP).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.cache import (
    Cache,
    atomic_path,
    atomic_save_npz,
    atomic_write_text,
    cache_key,
    load_npz,
    sha256_file,
)
from harness.errors import CacheError, HarnessError, InvalidParameterError, MissingDataError

log = logging.getLogger(__name__)

KIND = "frame_store"
STORE_VERSION = 1  # bump when the decoding / resizing recipe changes
CHUNK_FRAMES = 2048  # frames per chunk file (about 300 MB at 224 px): resume granularity

Item = str | Sequence[str]
FrameSource = Callable[[Item, int, "int | None"], Iterator[Any]]


def _item_files(item: Item) -> tuple[str, ...]:
    from harness.video import split_fragment

    files = (item,) if isinstance(item, str) else tuple(item)
    return tuple(split_fragment(f)[0] for f in files)


def _item_names(item: Item) -> tuple[str, ...]:
    """Each file's basename with its fragment (``clip.avi#t=0,2``): two segments of one video differ."""
    files = (item,) if isinstance(item, str) else tuple(item)
    return tuple(os.path.basename(f) for f in files)


def _describe_items(items: Sequence[Item]) -> list[list[Any]]:
    """(basename, byte size) of every file of every item: a moved data root keeps its store, a
    replaced file gets a new one. A missing file is a clear error before anything is decoded."""
    out: list[list[Any]] = []
    for i, item in enumerate(items):
        row: list[Any] = []
        for f, name in zip(_item_files(item), _item_names(item), strict=True):
            try:
                row.append([name, os.path.getsize(f)])
            except OSError:
                raise MissingDataError(f"frame store: item {i} ({f}) does not exist; check the data root") from None
        out.append(row)
    return out


def store_key(items: Sequence[Item], *, size: int, stride: int = 1, max_frames: int | None = None) -> str:
    """Content-addressed key of the store of ``items`` at these settings."""
    return cache_key(kind=KIND, version=STORE_VERSION, items=_describe_items(items), size=int(size),
                     stride=int(stride), max_frames=None if max_frames is None else int(max_frames))  # fmt: skip


def square_frame(image: Any, size: int) -> np.ndarray:
    """A PIL image resized (bilinear) so its shorter side is ``size``, centre-cropped to ``size x size``."""
    from PIL import Image

    image = image.convert("RGB")
    w, h = image.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    image = image.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)


def _default_source(item: Item, stride: int, max_frames: int | None) -> Iterator[Any]:
    from harness.features import _item_frames

    return _item_frames(item, stride, max_frames)


@dataclass(frozen=True)
class BuildReport:
    """What :func:`build_frame_store` did: chunks decoded now vs. found intact from an earlier try."""

    decoded_chunks: int
    reused_chunks: int
    from_cache: bool


class FrameStore:
    """Read side of a built store: ``len(store)`` frames, ``offsets`` per item, memory-mapped chunks."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        index = load_npz(self.folder / "index.npz")
        self.offsets = index["offsets"].astype(np.int64)  # (n_items + 1,): item i = frames offsets[i]:offsets[i+1]
        self.chunk_starts = index["chunk_starts"].astype(np.int64)  # (n_chunks + 1,)
        self.size = int(index["size"])
        self._maps: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_items(self) -> int:
        return len(self.offsets) - 1

    def frame_items(self) -> np.ndarray:
        """(n_frames,) the item index of every frame."""
        return np.repeat(np.arange(self.n_items), np.diff(self.offsets))

    def _chunk(self, c: int) -> np.ndarray:
        if c not in self._maps:
            path = self.folder / f"chunk_{c:05d}.npy"
            try:
                self._maps[c] = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise CacheError(f"frame store chunk {path} is unreadable ({exc}); run 'harness cache clear "
                                 f"{KIND}' and rerun") from exc  # fmt: skip
        return self._maps[c]

    def frames(self, index: Sequence[int] | np.ndarray) -> np.ndarray:
        """(len(index), size, size, 3) uint8 frames at global frame indices ``index`` (any order)."""
        idx = np.asarray(index, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"frame index out of range 0..{len(self) - 1}")
        out = np.empty((len(idx), self.size, self.size, 3), dtype=np.uint8)
        chunk_of = np.searchsorted(self.chunk_starts, idx, side="right") - 1
        for c in np.unique(chunk_of):
            sel = np.flatnonzero(chunk_of == c)
            local = idx[sel] - self.chunk_starts[c]
            order = np.argsort(local, kind="stable")  # increasing reads on the memory map
            out[sel[order]] = self._chunk(int(c))[local[order]]
        return out

    def item_frames(self, i: int) -> np.ndarray:
        return self.frames(np.arange(self.offsets[i], self.offsets[i + 1]))

    def sequential_batches(self, batch_size: int, index: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(frame indices, frames)`` in order, ``batch_size`` at a time (inference)."""
        idx = np.arange(len(self)) if index is None else np.asarray(index, dtype=np.int64)
        for s in range(0, len(idx), int(batch_size)):
            part = idx[s : s + int(batch_size)]
            yield part, self.frames(part)


def random_frame_batches(frames: np.ndarray, batch_size: int, generator: np.random.Generator) -> Iterator[np.ndarray]:
    """One epoch of training batches: a random permutation of ``frames`` (global indices) cut into
    batches of ``batch_size`` (the last one shorter). Every process of a DDP job draws the same
    permutation from the same seed and keeps its :func:`shard_batch`."""
    order = np.asarray(frames, dtype=np.int64)[generator.permutation(len(frames))]
    for s in range(0, len(order), int(batch_size)):
        yield order[s : s + int(batch_size)]


def shard_batch(batch: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Process ``rank``'s contiguous share of a global batch (sizes differ by at most one), so the
    shards of all ranks are the global batch exactly."""
    if not 0 <= rank < world_size:
        raise InvalidParameterError(f"rank {rank} outside 0..{world_size - 1}")
    bounds = np.linspace(0, len(batch), world_size + 1).round().astype(np.int64)
    return batch[bounds[rank] : bounds[rank + 1]]


# ------------------------------------------------------------------------------------------------
# Building
# ------------------------------------------------------------------------------------------------


def _sidecar(staging: Path, c: int) -> Path:
    return staging / f"chunk_{c:05d}.json"


def _intact_chunk(staging: Path, c: int, first_item: int) -> dict[str, Any] | None:
    """The sidecar of chunk ``c`` if it and its data are complete and start at ``first_item``."""
    try:
        info = json.loads(_sidecar(staging, c).read_text())
        data = staging / f"chunk_{c:05d}.npy"
        if int(info["first_item"]) != first_item or data.stat().st_size != int(info["bytes"]):
            return None
        if sha256_file(data) != info["sha256"]:
            return None
        return dict(info)
    except (OSError, ValueError, KeyError):
        return None


def _decode_item(source: FrameSource, items: Sequence[Item], i: int, size: int, stride: int,
                 max_frames: int | None) -> list[np.ndarray]:  # fmt: skip
    try:
        frames = [square_frame(im, size) for im in source(items[i], stride, max_frames)]
    except HarnessError as exc:  # MissingDataError / VideoDecodeError: name the item
        raise type(exc)(f"frame store, item {i}: {exc}") from None
    if not frames:
        raise MissingDataError(f"frame store, item {i} ({_item_files(items[i])[0]}): no frame was selected")
    return frames


def build_frame_store(
    items: Sequence[Item],
    *,
    size: int,
    stride: int = 1,
    max_frames: int | None = None,
    chunk_frames: int = CHUNK_FRAMES,
    cache: Cache | None = None,
    source: FrameSource | None = None,
) -> tuple[FrameStore, BuildReport]:
    """The store of ``items`` (decoded now, resumed, or found in the cache).

    Args:
        items: one file (video, image, ``video#t=a,b``) or a tuple of files per item.
        size: side of the stored square frames (the network's input size).
        stride, max_frames: which frames of an item (:func:`harness.features.frame_selection`).
        chunk_frames: frames per chunk file (the unit of resumption).
        source: ``source(item, stride, max_frames)`` yields PIL images (default: the harness decoder).

    Raises:
        MissingDataError: an item's file is missing or gives no frame.
        VideoDecodeError: a video is damaged (the message names the item and the file).
    """
    if int(size) < 1 or int(stride) < 1 or int(chunk_frames) < 1:
        raise InvalidParameterError(f"frame store: size, stride and chunk_frames must be >= 1 (got {size}, {stride}, "
                                    f"{chunk_frames})")  # fmt: skip
    cache = cache or Cache()
    key = store_key(items, size=size, stride=stride, max_frames=max_frames)
    found = cache.lookup(KIND, key)
    if found is not None:
        return FrameStore(found), BuildReport(0, 0, True)
    source = source or _default_source
    staging = cache.entry_dir(KIND, f".partial-{key}")
    staging.mkdir(parents=True, exist_ok=True)
    offsets, chunk_starts = [0], [0]
    decoded = reused = 0
    i = c = 0
    while i < len(items):
        info = _intact_chunk(staging, c, i)
        if info is not None:  # an earlier, interrupted build finished this chunk
            offsets.extend((offsets[-1] + np.cumsum(info["counts"])).astype(int).tolist())
            reused += 1
        else:
            frames: list[np.ndarray] = []
            counts: list[int] = []
            while i + len(counts) < len(items) and len(frames) < chunk_frames:
                got = _decode_item(source, items, i + len(counts), size, stride, max_frames)
                frames.extend(got)
                counts.append(len(got))
            data = staging / f"chunk_{c:05d}.npy"
            with atomic_path(data) as tmp, open(tmp, "wb") as fh:
                np.save(fh, np.stack(frames), allow_pickle=False)
            info = {"first_item": i, "counts": counts, "bytes": data.stat().st_size, "sha256": sha256_file(data)}
            atomic_write_text(_sidecar(staging, c), json.dumps(info))  # written after its data: marks it done
            offsets.extend((offsets[-1] + np.cumsum(counts)).astype(int).tolist())
            decoded += 1
        i += len(info["counts"])
        chunk_starts.append(offsets[-1])
        c += 1
    for stale in staging.glob("chunk_*"):  # chunks beyond the last (a changed chunk_frames) are not ours
        if int(stale.stem.split("_")[1]) >= c:
            stale.unlink()
    for side in staging.glob("chunk_*.json"):
        side.unlink()
    atomic_save_npz(staging / "index.npz", {"offsets": np.asarray(offsets, np.int64),
                                            "chunk_starts": np.asarray(chunk_starts, np.int64),
                                            "size": np.asarray(int(size))})  # fmt: skip
    description = {"n_items": len(items), "n_frames": int(offsets[-1]), "size": int(size), "stride": int(stride),
                   "max_frames": max_frames, "chunks": c, "version": STORE_VERSION}  # fmt: skip
    cache.commit(KIND, key, staging, description)
    final = cache.entry_dir(KIND, key)
    if final.exists() and cache.lookup(KIND, key) is None:  # a damaged copy: replace it; keep an intact one
        shutil.rmtree(final, ignore_errors=True)
    if not final.exists():
        os.replace(staging, final)
    else:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("frame store %s: %d frames of %d items, %d chunks (%d decoded, %d resumed)", key, offsets[-1],
             len(items), c, decoded, reused)  # fmt: skip
    return FrameStore(final), BuildReport(decoded, reused, False)
