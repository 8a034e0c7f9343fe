"""Backbone features of a split, extracted once in batches and cached on disk by content.

Cache key (kind ``features``): dataset manifest hash, split name, a hash of the split's item ids,
backbone name, weights hash, layer, frame pooling and preprocessing. A change of any of them
(another layer, other weights, a modified data set) gives a new entry; a corrupt entry is
detected by the cache and rebuilt.

Items are read with :func:`_load_frames`: an image file is one frame; a video file or a segment
``video#t=start,end`` is decoded by :mod:`harness.video`; the frames of an item are pooled
frame-wise by ``spec.pooling`` (``mean`` or ``max``) after the backbone.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from harness.api import Dataset, FeatureSpec, Split
from harness.cache import Cache, cache_key
from harness.errors import DataError, InvalidParameterError, MissingDataError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"})
POOLINGS = ("mean", "max")
PREPROCESSINGS = ("default",)  # the backbone's own evaluation transform
FEATURES_VERSION = 1  # bump when extraction semantics change (invalidates cached features)


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
) -> np.ndarray:
    """(n, d) float32 features of ``split``'s items at ``spec.layer`` of ``spec.backbone``.

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
    from PIL import Image, UnidentifiedImageError

    from harness.video import is_video_path, read_item_frames, split_fragment

    if is_video_path(split_fragment(path)[0]):
        return [Image.fromarray(frame) for frame in read_item_frames(path)]
    suffix = os.path.splitext(path)[1].lower()
    if suffix in IMAGE_EXTENSIONS:
        try:
            with Image.open(path) as im:
                return [im.convert("RGB")]
        except FileNotFoundError:
            raise MissingDataError(f"Keyframe {path} does not exist.") from None
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            raise DataError(f"Cannot decode image {path}: {exc}. Replace or remove the file.") from exc
    raise DataError(
        f"Cannot read {path}: unsupported file type {suffix or '(none)'!r}. Expected an image "
        f"({', '.join(sorted(IMAGE_EXTENSIONS))})."
    )


def compute_features(
    paths: Sequence[str],
    spec: FeatureSpec,
    *,
    device: str = "cpu",
    cache: Cache | None = None,
    batch_size: int = 128,
    desc: str = "features",
) -> np.ndarray:
    """Run the backbone over ``paths`` (no caching); frames of one item pooled by ``spec.pooling``."""
    import torch

    from harness.backbones import build_trunk
    from harness.progress import bar

    backbone = build_trunk(spec.backbone, spec.weights, device=device, cache=cache)
    net = backbone.extractor(spec.layer).to(device).eval()
    pool = torch.amax if spec.pooling == "max" else torch.mean

    def load(path: str) -> Any:
        frames = _load_frames(path)
        if not frames:
            raise DataError(f"{path} has no decodable frames.")
        return torch.stack([backbone.preprocess(f) for f in frames])

    out: list[np.ndarray] = []
    n_frames = 0
    t0 = time.perf_counter()
    # Decoding and resizing run in threads (Pillow releases the GIL) while torch computes.
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool_ex, bar(len(paths), desc, unit="item") as b, torch.no_grad():
        for start in range(0, len(paths), batch_size):
            batch = list(pool_ex.map(load, paths[start : start + batch_size]))
            counts = [len(x) for x in batch]
            x = torch.cat(batch).to(device)
            y = torch.cat([net(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
            pooled = [pool(chunk, dim=0) for chunk in torch.split(y, counts)]
            out.append(torch.stack(pooled).float().cpu().numpy())
            n_frames += len(x)
            b.update(len(batch))
    seconds = time.perf_counter() - t0
    feats = np.concatenate(out) if out else np.zeros((0, 0), np.float32)
    log.info(
        "extracted %s.%s features of %d items (%d frames) in %.1f s: %.1f items/s on %s",
        spec.backbone, spec.layer, len(paths), n_frames, seconds, len(paths) / max(seconds, 1e-9), device,
    )  # fmt: skip
    return feats.astype(np.float32, copy=False)
