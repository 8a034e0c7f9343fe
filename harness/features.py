"""Backbone features of a split, extracted once in batches and cached on disk by content.

Cache key (kind ``features``): dataset manifest hash, split name, a hash of the split's item ids,
backbone name, weights hash, layer, frame pooling and preprocessing; also the frame selection
(``frame_stride``, ``max_frames``) when it is not the default (every frame), and a digest of the
items' frame lists (``Split.frame_paths``) when an item has other frames than its one ``paths``
file. A change of any of them (another layer, other weights, a modified data set) gives a new
entry; a corrupt entry is detected by the cache and rebuilt.

Frames of an item: item ``i`` is ``split.frame_paths[i]`` (its images, in order: e.g. every
keyframe of a TRECVID shot) when the split has frame lists, else the one file ``split.paths[i]``.
An image file is one frame; a video file or a segment ``video#t=start,end`` gives every decoded
frame (:mod:`harness.video`). Of an item's ``n`` frames, ``spec.frame_stride = k`` keeps frames
0, k, 2k, ...; ``spec.max_frames = m`` then keeps ``m`` of those ``L`` evenly: the middle of each
of ``m`` equal parts, positions ``floor((2j + 1) L / (2m))`` for ``j = 0 .. m-1`` (all ``L`` when
``L <= m``); see :func:`frame_selection`. Only the selected frames are decoded into pixels and run
through the network (a video is first decoded once, without conversion, to count its frames when
``max_frames`` is set).

Output: ``spec.pooling`` ``mean`` / ``max`` pools an item's frame features into one row, (n, d);
``none`` returns an :class:`~harness.api.Sequences` (values (total frames, d) float32 + offsets;
the cache stores both arrays). Frames, not items, are batched (:func:`compute_features`,
:mod:`harness.frame_batches`), so memory stays bounded however many frames a clip has (128 UCF101
clips of ~160 frames at 224 px would be ~12 GB of input at once). ``$HARNESS_MAX_FRAMES_PER_BATCH``
overrides the default batch (about 1 GiB of network input); it changes speed and memory, never the
features.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from harness.api import Dataset, FeatureBlock, FeatureSpec, Sequences, Split
from harness.cache import Cache, cache_key
from harness.errors import DataError, InvalidParameterError, MissingDataError
from harness.video import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"})
POOLINGS = ("mean", "max", "none")  # none: per-frame features (a Sequences)
PREPROCESSINGS = ("default", "tencrop")  # the backbone's evaluation transform; tencrop: 10 views per frame
# (harness.crops: 4 corners + centre and their mirrors, consecutive rows of each frame; pooling none only)
FEATURES_VERSION = 1  # bump when extraction semantics change (invalidates cached features)
FRAME_BATCH_BYTES = 1 << 30  # float32 network input per batch of frames (the default batch size)
FRAMES_PER_CHUNK = 16  # frames a decoding worker hands over at a time
MAX_ITEMS_AHEAD = 256  # items whose decoding may start before the batcher reaches them
MAX_FRAMES_ENV = "HARNESS_MAX_FRAMES_PER_BATCH"


# Feature sources: backbone names resolved by a plugin instead of harness.backbones (additive hook).
# ``fn(dataset, split_name, split, spec, device=, cache=) -> (n, d) float32`` handles ``<prefix>`` and
# ``<prefix>:<anything>``; e.g. methods/_default_tl.py registers ``default_tl_hinge`` so feature-based
# methods can run on the outputs of a fine-tuned Default-TL network (METHODS.md 2.3, AMB-18).
FeatureSource = Callable[..., np.ndarray]
_SOURCES: dict[str, FeatureSource] = {}


def register_feature_source(prefix: str, fn: FeatureSource) -> None:
    """Let ``fn`` produce the features of backbone names ``prefix`` and ``prefix:...``."""
    if ":" in prefix:
        raise ValueError(f"a feature-source prefix cannot contain ':', got {prefix!r}")
    _SOURCES[prefix] = fn


def feature_source(backbone: str) -> FeatureSource | None:
    """The registered source of a backbone name, or None for ordinary backbones.

    A registered method that can be cached and reused (:mod:`harness.fitted_methods`) is a source
    too: ``backbone=<method>[:<settings>]`` reads its fitted outputs."""
    prefix = str(backbone).split(":", 1)[0]
    if prefix in _SOURCES:
        return _SOURCES[prefix]
    from harness.api import METHODS
    from harness.fitted_methods import is_source_method, source_features

    if prefix in METHODS and is_source_method(METHODS.get(prefix)):
        return source_features
    return None


def check_spec(spec: FeatureSpec) -> None:
    """Check the frame settings of ``spec`` (pooling, preprocessing, frame_stride, max_frames).

    Raises:
        InvalidParameterError: a value out of range, naming the field, the value and what is valid.
    """
    if spec.pooling not in POOLINGS:
        raise InvalidParameterError(
            f"FeatureSpec pooling must be one of {', '.join(map(repr, POOLINGS))} (mean / max pool an item's "
            f"frames into one row, none keeps every frame as a sequence), got {spec.pooling!r}."
        )
    if spec.preprocessing not in PREPROCESSINGS:
        raise InvalidParameterError(f"preprocessing must be one of {PREPROCESSINGS}, got {spec.preprocessing!r}.")
    if spec.preprocessing == "tencrop" and spec.pooling != "none":
        raise InvalidParameterError("preprocessing 'tencrop' gives ten rows per frame and needs pooling 'none' "
                                    f"(got pooling {spec.pooling!r}); pool the views in the method.")  # fmt: skip
    stride = spec.frame_stride
    if isinstance(stride, bool) or not isinstance(stride, int | np.integer) or stride < 1:
        raise InvalidParameterError(
            f"FeatureSpec frame_stride must be an integer >= 1 (1 keeps every frame, 30 keeps frames 0, 30, "
            f"60, ...), got {stride!r}."
        )
    most = spec.max_frames
    if most is not None and (isinstance(most, bool) or not isinstance(most, int | np.integer) or most < 1):
        raise InvalidParameterError(
            f"FeatureSpec max_frames must be an integer >= 1 (frames kept per item, sampled evenly) or None "
            f"(every frame the stride keeps), got {most!r}."
        )


def frame_selection(n_frames: int, stride: int = 1, max_frames: int | None = None) -> np.ndarray:
    """Positions (among an item's ``n_frames`` frames) that the frame settings keep, increasing.

    ``stride`` keeps 0, stride, 2 * stride, ... (``L`` frames); ``max_frames = m < L`` then keeps the
    middle of each of ``m`` equal parts of those: ``kept[floor((2j + 1) L / (2m))]``, j = 0 .. m-1.
    E.g. 10 frames, stride 1, m = 4: frames 1, 3, 6, 8; 100 frames, stride 30: 0, 30, 60, 90, and
    with m = 2 then 30, 90.
    """
    kept = np.arange(0, int(n_frames), int(stride), dtype=np.int64)
    if max_frames is None or len(kept) <= max_frames:
        return kept
    j = np.arange(int(max_frames), dtype=np.int64)
    return kept[(2 * j + 1) * len(kept) // (2 * int(max_frames))]


def extract_features(
    dataset: Dataset,
    split_name: str,
    split: Split,
    spec: FeatureSpec,
    *,
    device: str = "cpu",
    cache: Cache | None = None,
    batch_size: int = 128,
    max_frames_per_batch: int | None = None,
) -> FeatureBlock:
    """Features of ``split``'s items at ``spec.layer`` of ``spec.backbone``: (n, d) float32 for
    ``spec.pooling`` ``mean`` / ``max``, an :class:`~harness.api.Sequences` of (frames, d) float32
    per item for ``none`` (see the module docstring for which frames an item has).

    ``batch_size`` (frames per forward pass) and ``max_frames_per_batch`` (frames per batch) set
    speed and memory only (see :func:`compute_features`); they are not part of the cache key.

    ``spec.backbone == "provided"`` returns the data set's own feature block ``spec.layer`` (or
    all blocks concatenated for ``layer="all"``) without caching.

    Raises:
        InvalidParameterError: bad frame settings (:func:`check_spec`), before any work.
        DataError: the split has neither raw inputs nor the requested feature block, or an item
            cannot be read.
        HarnessError: unknown backbone/layer, or weights that cannot be obtained.
    """
    check_spec(spec)
    if spec.backbone == "provided":
        if spec.pooling == "none":
            raise InvalidParameterError(
                f"pooling 'none' (per-frame sequences) needs a backbone to run on the frames; the blocks "
                f"{dataset.name} ships have one row per item. Use pooling 'mean' or choose a backbone."
            )
        return _provided(dataset, split_name, split, spec.layer)
    source = feature_source(spec.backbone)
    if source is not None:
        return source(dataset, split_name, split, spec, device=device, cache=cache or Cache())
    from harness import backbones

    items = item_frames(split)
    if items is None:
        raise DataError(
            f"Split {split_name!r} of {dataset.name} has no raw inputs (keyframes/clips) to run backbone "
            f"{spec.backbone!r} on; use its provided features (backbone 'provided')."
        )
    backbones.check_name(spec.backbone)
    backbones.check_layer(spec.backbone, spec.layer)
    cache = cache or Cache()
    weights = backbones.resolve_weights(spec.backbone, spec.weights, cache=cache)
    parts = {
        "manifest": dataset.manifest_hash,
        "split": split_name,
        "items": hashlib.sha256("\n".join(map(str, split.ids)).encode("utf-8")).hexdigest(),
        "backbone": spec.backbone,
        "weights": weights.sha256,
        "layer": spec.layer,
        "pooling": spec.pooling,
        "preprocessing": spec.preprocessing,
        "version": FEATURES_VERSION,
    }
    # Added only when not the default, so the keys of one-file items with every frame stay as they were.
    if spec.frame_stride != 1 or spec.max_frames is not None:
        parts.update(frame_stride=int(spec.frame_stride),
                     max_frames=None if spec.max_frames is None else int(spec.max_frames))  # fmt: skip
    if split.frame_paths is not None and (split.paths is None or any(
            tuple(f) != (p,) for f, p in zip(split.frame_paths, split.paths, strict=True))):  # fmt: skip
        parts["frames"] = _frames_digest(split.frame_paths)
    key = cache_key(**parts)
    sequences = spec.pooling == "none"

    def compute() -> dict[str, np.ndarray]:
        feats = compute_features(items, spec, device=device, cache=cache, batch_size=batch_size,
                                 max_frames_per_batch=max_frames_per_batch,
                                 desc=f"features {dataset.name}/{split_name} {spec.backbone}.{spec.layer}")  # fmt: skip
        if isinstance(feats, Sequences):
            return {"values": feats.values, "offsets": feats.offsets}
        return {"features": feats}

    description = {**parts, "dataset": dataset.name, "n": len(split), "weights_source": weights.source}
    arrays = cache.get_arrays("features", key, compute, description)
    if sequences:
        values, offsets = arrays.get("values"), arrays.get("offsets")
        if values is None or offsets is None or len(offsets) != len(split) + 1:
            raise DataError(f"cached frame features {key} do not match split {split_name!r} ({len(split)} items)")
        return Sequences(values.astype(np.float32, copy=False), offsets.astype(np.int64, copy=False))
    feats = arrays.get("features")
    if feats is None or feats.shape[0] != len(split):
        raise DataError(f"cached features {key} do not match split {split_name!r} ({len(split)} items)")
    return feats.astype(np.float32, copy=False)


def item_frames(split: Split) -> tuple[str | tuple[str, ...], ...] | None:
    """What each item's frames are read from: ``frame_paths[i]`` when the split has frame lists,
    else ``paths[i]``; None when the split has neither."""
    if split.frame_paths is not None:
        return tuple(tuple(map(str, f)) for f in split.frame_paths)
    return None if split.paths is None else tuple(split.paths)


def _frames_digest(frame_paths: Sequence[Sequence[str]]) -> str:
    # File names (not folders: a moved data root keeps its features) and counts of every item's frames.
    text = "\n".join("\t".join(os.path.basename(str(f)) for f in frames) for frames in frame_paths)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _provided(dataset: Dataset, split_name: str, split: Split, layer: str) -> np.ndarray:
    blocks = dict(split.features or {})
    if not blocks:
        raise DataError(
            f"Data set {dataset.name} ships no feature blocks for split {split_name!r}; choose a backbone "
            f"(e.g. --set backbone=resnet18) instead of 'provided'."
        )
    if layer == "all":
        return np.concatenate([np.asarray(b, np.float32).reshape(len(split), -1) for b in blocks.values()], axis=1)
    if layer not in blocks:
        raise DataError(
            f"Data set {dataset.name} has no feature block {layer!r}. Available: {', '.join(blocks)}, or 'all'."
        )
    return np.asarray(blocks[layer], np.float32).reshape(len(split), -1)


def _load_frames(path: str) -> list[Any]:
    """The frames (PIL images, RGB) of one file: an image file is one frame; a video file (or a
    segment ``video#t=start,end``) gives every decoded frame (:mod:`harness.video`)."""
    from PIL import Image

    from harness.video import is_video_path, read_item_frames, split_fragment

    if is_video_path(split_fragment(path)[0]):
        return [Image.fromarray(frame) for frame in read_item_frames(path)]
    return [_load_image(path)]


def _load_image(path: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    suffix = os.path.splitext(path)[1].lower()
    if suffix in IMAGE_EXTENSIONS:
        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except FileNotFoundError:
            raise MissingDataError(f"Keyframe {path} does not exist.") from None
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise DataError(f"Cannot decode image {path}: {exc}. Replace or remove the file.") from exc
    raise DataError(
        f"Cannot read {path}: unsupported file type {suffix or '(none)'!r}. Expected an image "
        f"({', '.join(sorted(IMAGE_EXTENSIONS))}) or a video ({', '.join(VIDEO_EXTENSIONS)})."
    )


def _item_frames(item: str | Sequence[str], stride: int = 1, max_frames: int | None = None) -> Iterator[Any]:
    """The selected frames (PIL images) of one item, lazily: a video's frames are decoded one at a
    time (a long clip is never held whole), and only the frames :func:`frame_selection` keeps are
    read as pixels.

    ``item``: one file, or the files of an item with several (its frames, in order: images, and
    videos contributing all their frames).
    """
    from PIL import Image

    from harness.video import count_item_frames, is_video_path, iter_item_frames, split_fragment

    files = (item,) if isinstance(item, str) else tuple(item)
    videos = [is_video_path(split_fragment(f)[0]) for f in files]
    if not any(videos):  # images only: one frame each, the selection is known without reading
        for k in frame_selection(len(files), stride, max_frames):
            yield from _load_frames(files[int(k)])
        return
    if len(files) == 1 and max_frames is None:  # one clip, every stride-th frame: a single pass
        for frame in iter_item_frames(files[0], every=stride):
            yield Image.fromarray(frame)
        return
    counts = [count_item_frames(f) if v else 1 for f, v in zip(files, videos, strict=True)]
    wanted = frame_selection(sum(counts), stride, max_frames)
    first = 0
    for f, v, n in zip(files, videos, counts, strict=True):
        local = wanted[(wanted >= first) & (wanted < first + n)] - first
        first += n
        if not len(local):
            continue
        if v:
            for frame in iter_item_frames(f, positions=local.tolist()):
                yield Image.fromarray(frame)
        else:
            yield from _load_frames(f)


def frames_per_batch(input_size: int, budget_bytes: int = FRAME_BATCH_BYTES) -> int:
    """Frames whose float32 network input (3 x ``input_size``^2) fits ``budget_bytes`` (at least 1).

    With the default 1 GiB: 1,783 frames at 224 px (AlexNet, ResNet), 21,845 at 64 px (``mini_alexnet``).
    """
    return max(1, int(budget_bytes) // (3 * int(input_size) ** 2 * 4))


def _frames_per_batch(value: int | None, input_size: int) -> int:
    if value is None:
        env = os.environ.get(MAX_FRAMES_ENV, "").strip()
        if not env:
            return frames_per_batch(input_size)
        try:
            value = int(env)
        except ValueError:
            raise InvalidParameterError(f"${MAX_FRAMES_ENV} must be a positive integer (frames), got {env!r}.") from None
    if value < 1:
        raise InvalidParameterError(f"max_frames_per_batch must be a positive number of frames, got {value}.")
    return int(value)


def compute_features(
    paths: Sequence[str | Sequence[str]],
    spec: FeatureSpec,
    *,
    device: str = "cpu",
    cache: Cache | None = None,
    batch_size: int = 128,
    max_frames_per_batch: int | None = None,
    desc: str = "features",
) -> FeatureBlock:
    """Run the backbone over the frames of ``paths``' items (no caching): (n, d) float32 rows pooled
    by ``spec.pooling`` (``mean`` / ``max``), or for ``none`` an :class:`~harness.api.Sequences` of
    every selected frame's features (frames selected by ``spec.frame_stride`` / ``spec.max_frames``,
    :func:`frame_selection`).

    Items are batched by frames, so memory does not grow with clip length: frames are decoded and
    preprocessed by worker threads, copied into one batch of ``max_frames_per_batch`` frames, and
    run through the network ``batch_size`` frames at a time; an item's frame features are pooled
    (or kept) once all its frames have been through (a clip may straddle two batches; the result is
    the same). Frames waiting to be batched are bounded by half a batch.

    Args:
        paths: the items: a file each (image, video, segment ``video#t=start,end``), or a tuple of
            files for an item with several frames (its keyframes, in order).
        spec: backbone, layer, weights, pooling and frame selection.
        device: where the network runs.
        cache: where backbone weights are cached.
        batch_size: frames per forward pass (bounds activation memory on ``device``).
        max_frames_per_batch: frames per batch (bounds the input tensor in host memory); default
            ``$HARNESS_MAX_FRAMES_PER_BATCH`` or :func:`frames_per_batch` of the backbone's input
            size (about 1 GiB of float32 input).
        desc: progress-bar label (the bar counts items).

    Raises:
        InvalidParameterError: bad frame settings or batch sizes.
        DataError: an item cannot be read or has no frames.
    """
    import torch

    from harness.backbones import build_trunk
    from harness.frame_batches import FrameBatcher, OrderedPrefetch
    from harness.progress import bar

    check_spec(spec)
    if batch_size < 1:
        raise InvalidParameterError(f"batch_size must be a positive number of frames, got {batch_size}.")
    backbone = build_trunk(spec.backbone, spec.weights, device=device, cache=cache)
    net = backbone.extractor(spec.layer).to(device).eval()
    capacity = _frames_per_batch(max_frames_per_batch, backbone.input_size)
    chunk = max(1, min(FRAMES_PER_CHUNK, capacity))
    workers = max(1, min(4, os.cpu_count() or 1))
    on_cuda = torch.device(device).type == "cuda"
    stride, most = int(spec.frame_stride), None if spec.max_frames is None else int(spec.max_frames)

    views = None
    if spec.preprocessing == "tencrop":
        from harness.crops import ten_crop_preprocess

        views = ten_crop_preprocess(backbone.input_size, backbone.mean, backbone.std)

    def produce(i: int) -> Iterator[Any]:
        frames: list[Any] = []
        for image in _item_frames(paths[i], stride, most):
            if views is not None:  # ten rows per frame; chunks may exceed ``chunk`` by up to 9 rows
                frames.extend(views(image))
            else:
                frames.append(backbone.preprocess(image))
            if len(frames) >= chunk:
                yield torch.stack(frames)
                frames = []
        if frames:
            yield torch.stack(frames)

    def forward(x: Any) -> Any:
        return net(x.to(device, non_blocking=on_cuda)).float().cpu()

    def finish(y: Any) -> np.ndarray:
        if spec.pooling == "none":
            return y.numpy().reshape(len(y), -1)
        return (torch.amax(y, dim=0) if spec.pooling == "max" else torch.mean(y, dim=0)).numpy()

    out: list[np.ndarray | None] = [None] * len(paths)
    batcher = FrameBatcher(forward, capacity, batch_size, pin=on_cuda)
    t0 = time.perf_counter()
    with OrderedPrefetch(len(paths), produce, workers=workers, max_frames=max(chunk, capacity // 2),
                         max_items_ahead=MAX_ITEMS_AHEAD) as prefetch, \
            bar(len(paths), desc, unit="item") as b, torch.no_grad():  # fmt: skip
        for i in range(len(paths)):
            n_frames = 0
            for x in prefetch.chunks(i):
                batcher.add(i, x)
                n_frames += len(x)
            if n_frames == 0:
                raise DataError(f"Item {i} ({_describe(paths[i])}) has no decodable frames.")
            batcher.end_item(i, n_frames)
            for item, y in batcher.finished():
                out[item] = finish(y)
                b.update(1)
        batcher.flush()
        for item, y in batcher.finished():
            out[item] = finish(y)
            b.update(1)
    seconds = max(time.perf_counter() - t0, 1e-9)
    missing = sum(v is None for v in out)
    if missing:
        raise DataError(f"features of {missing} of {len(paths)} items are missing (internal error).")
    log.info(
        "extracted %s.%s features of %d items (%d frames, %d batches of up to %d frames) in %.1f s: "
        "%.1f items/s, %.1f frames/s on %s",
        spec.backbone, spec.layer, len(paths), batcher.frames, batcher.batches, capacity, seconds,
        len(paths) / seconds, batcher.frames / seconds, device,
    )  # fmt: skip
    rows = [v for v in out if v is not None]
    out.clear()
    if spec.pooling == "none":
        return _pack(rows)
    feats = np.stack(rows) if rows else np.zeros((0, 0), np.float32)
    return feats.astype(np.float32, copy=False)


def _pack(rows: list[np.ndarray]) -> Sequences:
    """One Sequences from per-item (frames, d) arrays, releasing each as it is copied (the peak is
    about one copy of the values, not two)."""
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    values = np.empty((int(offsets[-1]), *(rows[0].shape[1:] if rows else (0,))), np.float32)
    for i in range(len(rows)):
        values[offsets[i] : offsets[i + 1]] = rows[i]
        rows[i] = values[:0]  # drop the item's own copy
    return Sequences(values, offsets)


def _describe(item: str | Sequence[str]) -> str:
    if isinstance(item, str):
        return item
    files = list(item)
    if not files:
        return "no files"
    return files[0] if len(files) == 1 else f"{len(files)} files: {files[0]} ..."
