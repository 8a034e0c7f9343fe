"""Hand-crafted global image features of MMDL-EG (METHODS.md 2.9), a registered feature source.

``backbone=handcrafted`` with ``layer`` one of :data:`LAYERS` computes the feature from each item's
image file (``Split.paths``), in a process pool over images, cached like backbone features (key:
data-set manifest, split, item ids, layer, :data:`VERSION`). Implemented so far (numpy + Pillow):

* ``hsv128``: HSV colour histogram, 8 hue x 4 saturation x 4 value bins (Pillow's 0..255 HSV),
  L1-normalised (fraction of pixels per bin);
* ``edh37``: edge-direction histogram, Sobel gradients of the grey image (0..1), 36 direction bins
  of 10 degrees over [0, 360) for pixels with gradient magnitude >= :data:`EDGE_THRESHOLD`, and a
  37th bin of the non-edge pixels; fractions of the image's pixels.

Not implemented yet (issue 13): LAB colour moments, wavelet texture, LBP, GIST and the BoVW
variants. The [0, 1] scaling with training statistics is MMDL-EG's (``normalize=minmax``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from harness.api import Dataset, FeatureSpec, Split
from harness.errors import DataError, InvalidParameterError

VERSION = 1
EDGE_THRESHOLD = 0.25  # Sobel magnitude (grey levels in 0..1): a step of 1/8 of full contrast and more
HSV_BINS = (8, 4, 4)


def hsv_histogram(rgb: np.ndarray) -> np.ndarray:
    """(128,) fraction of pixels per (hue, saturation, value) bin of an (h, w, 3) uint8 RGB image."""
    from PIL import Image

    hsv = np.asarray(Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB").convert("HSV"), dtype=np.int64)
    idx = [np.minimum(hsv[..., c] * n // 256, n - 1) for c, n in enumerate(HSV_BINS)]
    code = (idx[0] * HSV_BINS[1] + idx[1]) * HSV_BINS[2] + idx[2]
    counts = np.bincount(code.ravel(), minlength=int(np.prod(HSV_BINS)))
    return (counts / max(code.size, 1)).astype(np.float32)


def edge_direction_histogram(rgb: np.ndarray) -> np.ndarray:
    """(37,) 36 edge-direction bins (10 degrees each, gradient direction) + the non-edge share."""
    grey = np.asarray(rgb, dtype=np.float64).mean(axis=2) / 255.0
    padded = np.pad(grey, 1, mode="edge")
    # Sobel: x to the right, y downwards (image rows); direction = atan2(-gy, gx) so "up" is 90 degrees.
    gx = (padded[:-2, 2:] + 2 * padded[1:-1, 2:] + padded[2:, 2:]) - (padded[:-2, :-2] + 2 * padded[1:-1, :-2] + padded[2:, :-2])
    gy = (padded[2:, :-2] + 2 * padded[2:, 1:-1] + padded[2:, 2:]) - (padded[:-2, :-2] + 2 * padded[:-2, 1:-1] + padded[:-2, 2:])
    magnitude = np.hypot(gx, gy) / 4.0  # a full 0 -> 1 step gives 1
    edges = magnitude >= EDGE_THRESHOLD
    angle = np.degrees(np.arctan2(-gy[edges], gx[edges])) % 360.0
    bins = np.minimum((angle // 10).astype(np.int64), 35)
    out = np.zeros(37, dtype=np.float64)
    out[:36] = np.bincount(bins, minlength=36)
    out[36] = (~edges).sum()
    return (out / max(grey.size, 1)).astype(np.float32)


LAYERS: dict[str, tuple[int, Callable[[np.ndarray], np.ndarray]]] = {
    "hsv128": (128, hsv_histogram),
    "edh37": (37, edge_direction_histogram),
}


def _one(args: tuple[str, str]) -> np.ndarray:
    from PIL import Image

    layer, path = args
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except OSError as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None
    return LAYERS[layer][1](rgb)


def compute(layer: str, paths: tuple[str, ...], workers: int = 2) -> np.ndarray:
    """(n, d) float32 features of the image files, in a process pool (``workers`` <= 1: in process)."""
    from harness.progress import progress

    if layer not in LAYERS:
        raise InvalidParameterError(f"backbone 'handcrafted' has layers {', '.join(LAYERS)}; got {layer!r}")
    jobs = [(layer, str(p)) for p in paths]
    if workers <= 1 or len(jobs) < 64:
        rows = [_one(j) for j in progress(jobs, desc=f"features handcrafted.{layer}")]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(progress(pool.map(_one, jobs, chunksize=32), desc=f"features handcrafted.{layer}", total=len(jobs)))
    return np.stack(rows) if rows else np.zeros((0, LAYERS[layer][0]), np.float32)


def handcrafted_source(dataset: Dataset, split_name: str, split: Split, spec: FeatureSpec, *, device: str = "cpu",
                       cache: Any = None) -> np.ndarray:  # fmt: skip
    """The registered source of ``backbone=handcrafted``: one cached (n, d) block per split and layer."""
    import os

    from harness.cache import Cache, cache_key

    if split.paths is None:
        raise DataError(f"backbone 'handcrafted' reads image files, and split {split_name!r} of {dataset.name} has none")
    if spec.layer not in LAYERS:
        raise InvalidParameterError(f"backbone 'handcrafted' has layers {', '.join(LAYERS)}; got {spec.layer!r}")
    parts = {"manifest": dataset.manifest_hash, "split": split_name, "backbone": "handcrafted", "layer": spec.layer,
             "items": hashlib.sha256("\n".join(map(str, split.ids)).encode("utf-8")).hexdigest(), "version": VERSION}  # fmt: skip
    cache = cache or Cache()
    workers = min(len(os.sched_getaffinity(0)), 8)
    arrays = cache.get_arrays("features", cache_key(**parts), lambda: {"features": compute(spec.layer, split.paths, workers)},
                              {**parts, "dataset": dataset.name, "n": len(split)})  # fmt: skip
    return arrays["features"].astype(np.float32, copy=False)


def register() -> None:
    from harness.features import register_feature_source

    register_feature_source("handcrafted", handcrafted_source)
