"""Backbone features of a split, extracted once in batches and cached on disk by content.

Cache key (kind ``features``): dataset manifest hash, split name, a hash of the split's item ids,
backbone name, weights hash, layer, frame pooling and preprocessing. A change of any of them
(another layer, other weights, a modified data set) gives a new entry; a corrupt entry is
detected by the cache and rebuilt.

Items are read frame by frame: an image file is one frame; a video file or a segment
``video#t=start,end`` is decoded lazily by :mod:`harness.video`. Frames, not items, are batched
(:func:`compute_features`, :mod:`harness.frame_batches`), so memory stays bounded however many
frames a clip has (128 UCF101 clips of ~160 frames at 224 px would be ~12 GB of input at once); the
frame features of an item are pooled by ``spec.pooling`` (``mean`` or ``max``) once all of them
have been through the backbone. ``$HARNESS_MAX_FRAMES_PER_BATCH`` overrides the default batch
(about 1 GiB of network input); it changes speed and memory, never the features.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from harness.api import Dataset, FeatureSpec, Split
from harness.cache import Cache, cache_key
from harness.errors import DataError, InvalidParameterError, MissingDataError
from harness.video import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"})
POOLINGS = ("mean", "max")
PREPROCESSINGS = ("default",)  # the backbone's own evaluation transform
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
    """The registered source of a backbone name, or None for ordinary backbones."""
    return _SOURCES.get(str(backbone).split(":", 1)[0])


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
) -> np.ndarray:
    """(n, d) float32 features of ``split``'s items at ``spec.layer`` of ``spec.backbone``.

    ``batch_size`` (frames per forward pass) and ``max_frames_per_batch`` (frames per batch) set
    speed and memory only (see :func:`compute_features`); they are not part of the cache key.

    ``spec.backbone == "provided"`` returns the data set's own feature block ``spec.layer`` (or
    all blocks concatenated for ``layer="all"``) without caching.

    Raises:
        DataError: the split has neither raw inputs nor the requested feature block, or an item
            cannot be read.
        HarnessError: unknown backbone/layer, or weights that cannot be obtained.
    """
    if spec.backbone == "provided":
        return _provided(dataset, split_name, split, spec.layer)
    source = feature_source(spec.backbone)
    if source is not None:
        return source(dataset, split_name, split, spec, device=device, cache=cache or Cache())
    from harness import backbones

    if spec.pooling not in POOLINGS:
        raise InvalidParameterError(f"pooling must be one of {POOLINGS}, got {spec.pooling!r}.")
    if spec.preprocessing not in PREPROCESSINGS:
        raise InvalidParameterError(f"preprocessing must be one of {PREPROCESSINGS}, got {spec.preprocessing!r}.")
    if split.paths is None:
        raise DataError(
            f"Split {split_name!r} of {dataset.name} has no raw inputs (keyframes/clips) to run backbone "
            f"{spec.backbone!r} on; use its provided features (backbone 'provided')."
        )
    backbones.check_name(spec.backbone)
    backbones.check_layer(spec.backbone, spec.layer)
    cache = cache or Cache()
    weights = backbones.resolve_weights(spec.backbone, spec.weights, cache=cache)
    items = hashlib.sha256("\n".join(map(str, split.ids)).encode("utf-8")).hexdigest()
    parts = {
        "manifest": dataset.manifest_hash,
        "split": split_name,
        "items": items,
        "backbone": spec.backbone,
        "weights": weights.sha256,
        "layer": spec.layer,
        "pooling": spec.pooling,
        "preprocessing": spec.preprocessing,
        "version": FEATURES_VERSION,
    }
    key = cache_key(**parts)

    def compute() -> dict[str, np.ndarray]:
        feats = compute_features(split.paths or (), spec, device=device, cache=cache, batch_size=batch_size,
                                 max_frames_per_batch=max_frames_per_batch,
                                 desc=f"features {dataset.name}/{split_name} {spec.backbone}.{spec.layer}")  # fmt: skip
        return {"features": feats}

    description = {**parts, "dataset": dataset.name, "n": len(split), "weights_source": weights.source}
    arrays = cache.get_arrays("features", key, compute, description)
    feats = arrays.get("features")
    if feats is None or feats.shape[0] != len(split):
        raise DataError(f"cached features {key} do not match split {split_name!r} ({len(split)} items)")
    return feats.astype(np.float32, copy=False)


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
    """The frames (PIL images, RGB) of one item: an image file is one frame; a video file (or a
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


def _item_frames(path: str) -> Iterator[Any]:
    """The frames of one item, lazily: a video's frames are decoded one at a time (a long clip is
    never held whole); other items are read by :func:`_load_frames`."""
    from PIL import Image

    from harness.video import is_video_path, iter_item_frames, split_fragment

    if is_video_path(split_fragment(path)[0]):
        for frame in iter_item_frames(path):
            yield Image.fromarray(frame)
    else:
        yield from _load_frames(path)


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
    paths: Sequence[str],
    spec: FeatureSpec,
    *,
    device: str = "cpu",
    cache: Cache | None = None,
    batch_size: int = 128,
    max_frames_per_batch: int | None = None,
    desc: str = "features",
) -> np.ndarray:
    """Run the backbone over ``paths`` (no caching); frames of one item pooled by ``spec.pooling``.

    Items are batched by frames, so memory does not grow with clip length: frames are decoded and
    preprocessed by worker threads, copied into one batch of ``max_frames_per_batch`` frames, and
    run through the network ``batch_size`` frames at a time; an item's frame features are pooled
    once all its frames have been through (a clip may straddle two batches; the result is the
    same). Frames waiting to be batched are bounded by half a batch.

    Args:
        paths: the items (image files, video files, segments ``video#t=start,end``).
        spec: backbone, layer, weights and pooling.
        device: where the network runs.
        cache: where backbone weights are cached.
        batch_size: frames per forward pass (bounds activation memory on ``device``).
        max_frames_per_batch: frames per batch (bounds the input tensor in host memory); default
            ``$HARNESS_MAX_FRAMES_PER_BATCH`` or :func:`frames_per_batch` of the backbone's input
            size (about 1 GiB of float32 input).
        desc: progress-bar label (the bar counts items).

    Raises:
        DataError: an item cannot be read or has no frames.
    """
    import torch

    from harness.backbones import build_trunk
    from harness.frame_batches import FrameBatcher, OrderedPrefetch
    from harness.progress import bar

    if batch_size < 1:
        raise InvalidParameterError(f"batch_size must be a positive number of frames, got {batch_size}.")
    backbone = build_trunk(spec.backbone, spec.weights, device=device, cache=cache)
    net = backbone.extractor(spec.layer).to(device).eval()
    capacity = _frames_per_batch(max_frames_per_batch, backbone.input_size)
    chunk = max(1, min(FRAMES_PER_CHUNK, capacity))
    workers = max(1, min(4, os.cpu_count() or 1))
    on_cuda = torch.device(device).type == "cuda"

    def produce(i: int) -> Iterator[Any]:
        frames: list[Any] = []
        for image in _item_frames(paths[i]):
            frames.append(backbone.preprocess(image))
            if len(frames) == chunk:
                yield torch.stack(frames)
                frames = []
        if frames:
            yield torch.stack(frames)

    def forward(x: Any) -> Any:
        return net(x.to(device, non_blocking=on_cuda)).float().cpu()

    def pool(y: Any) -> np.ndarray:
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
                raise DataError(f"{paths[i]} has no decodable frames.")
            batcher.end_item(i, n_frames)
            for item, y in batcher.finished():
                out[item] = pool(y)
                b.update(1)
        batcher.flush()
        for item, y in batcher.finished():
            out[item] = pool(y)
            b.update(1)
    seconds = max(time.perf_counter() - t0, 1e-9)
    feats = np.stack([v for v in out if v is not None]) if paths else np.zeros((0, 0), np.float32)
    if len(feats) != len(paths):
        raise DataError(f"features of {len(paths) - len(feats)} of {len(paths)} items are missing (internal error).")
    log.info(
        "extracted %s.%s features of %d items (%d frames, %d batches of up to %d frames) in %.1f s: "
        "%.1f items/s, %.1f frames/s on %s",
        spec.backbone, spec.layer, len(paths), batcher.frames, batcher.batches, capacity, seconds,
        len(paths) / seconds, batcher.frames / seconds, device,
    )  # fmt: skip
    return feats.astype(np.float32, copy=False)
