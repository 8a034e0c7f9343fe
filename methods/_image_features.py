"""Hand-crafted global image features of MMDL-EG (METHODS.md 2.9), a registered feature source.

``backbone=handcrafted`` with ``layer`` one of :data:`LAYERS` computes the feature from each item's
image file (``Split.paths``), in a process pool over images, cached like backbone features (key:
data-set manifest, split, item ids, layer, :data:`VERSION`), resumable by chunks of :data:`CHUNK`.
The twelve features of the seed (numpy, Pillow, PyWavelets, OpenCV):

* ``hsv128``: HSV colour histogram, 8 hue x 4 saturation x 4 value bins (Pillow's 0..255 HSV),
  L1-normalised (fraction of pixels per bin);
* ``lab225``: L*a*b* (D65) colour moments (mean, std, cube root of the third central moment) on a
  5 x 5 grid;
* ``edh37``: edge-direction histogram, Sobel gradients of the grey image (0..1), 36 direction bins
  of 10 degrees over [0, 360) for pixels with gradient magnitude >= :data:`EDGE_THRESHOLD`, and a
  37th bin of the non-edge pixels; fractions of the image's pixels;
* ``lbp59``: uniform LBP histogram (8 neighbours, radius 1): 58 uniform patterns + the rest;
* ``wt36``: pyramid wavelet texture (PyWavelets): a :data:`WAVELET_LEVELS`-level 2-D
  :data:`WAVELET` decomposition of the grey image (0..1); for each of the 6 x 3 detail subbands
  (finest level first; horizontal, vertical, diagonal) the mean absolute coefficient and the
  standard deviation of the coefficients. The seed says only "36-dimension pyramid wavelet
  texture"; 6 levels x 3 subbands x 2 statistics is the harness's reading (recorded in the cache
  entry's description with the wavelet and the levels);
* ``gist960``: colour GIST (:mod:`methods._gist`: ``LMgist``'s parameters, 3 channels x 20 Gabor
  filters x 4 x 4 blocks);
* the six bag-of-visual-words layers ``bow_{sift,csift,rgbsift}_{dense,harris}`` (:mod:`methods._bovw`:
  OpenCV SIFT and Harris corners, a 1000-word codebook fitted on the training split only, a
  2-level spatial pyramid and TF-IDF: 5000 values; not resumable by chunks).

The [0, 1] scaling with training statistics is MMDL-EG's (``normalize=minmax``).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from harness.api import Dataset, FeatureSpec, Split
from harness.errors import DataError, InvalidParameterError
from methods import _bovw, _gist

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


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) CIE L*a*b* (D65) of uint8 sRGB: L in [0, 100], a and b about [-128, 127]."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124564, 0.3575761, 0.1804375],
                             [0.2126729, 0.7151522, 0.0721750],
                             [0.0193339, 0.1191920, 0.9503041]]).T / np.array([0.95047, 1.0, 1.08883])  # fmt: skip
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_moments(rgb: np.ndarray, grid: int = 5) -> np.ndarray:
    """(225,) colour moments on a 5 x 5 grid: per block and L*a*b* channel the mean, the standard
    deviation and the cube root of the third central moment (block-major, then channel, then moment)."""
    lab = srgb_to_lab(rgb)
    out = []
    for rows in np.array_split(np.arange(lab.shape[0]), grid):
        for cols in np.array_split(np.arange(lab.shape[1]), grid):
            block = lab[np.ix_(rows, cols)].reshape(-1, 3)
            if len(block) == 0:  # an image narrower than the grid: an empty block has no colour
                out.append(np.zeros((3, 3)))
                continue
            mean = block.mean(axis=0)
            centred = block - mean
            out.append(np.stack([mean, np.sqrt((centred**2).mean(axis=0)), np.cbrt((centred**3).mean(axis=0))], axis=1))
    return np.asarray(out, dtype=np.float32).ravel()


def _uniform_lbp_table() -> np.ndarray:
    """256 LBP codes -> 59 bins: the 58 codes with at most 2 circular 0/1 transitions, then the rest."""
    table = np.full(256, 58, dtype=np.int64)
    uniform = [c for c in range(256) if sum(((c >> i) & 1) != ((c >> ((i + 1) % 8)) & 1) for i in range(8)) <= 2]
    table[uniform] = np.arange(len(uniform))
    return table


LBP_TABLE = _uniform_lbp_table()


def lbp_histogram(rgb: np.ndarray) -> np.ndarray:
    """(59,) uniform local binary patterns (8 neighbours at radius 1, neighbour >= centre = 1)."""
    grey = np.asarray(rgb, dtype=np.float64).mean(axis=2)
    p = np.pad(grey, 1, mode="edge")
    h, w = grey.shape
    offsets = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)]  # clockwise from top-left
    code = np.zeros((h, w), dtype=np.int64)
    for bit, (dy, dx) in enumerate(offsets):
        code |= (p[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] >= grey).astype(np.int64) << bit
    counts = np.bincount(LBP_TABLE[code].ravel(), minlength=59)
    return (counts / max(code.size, 1)).astype(np.float32)


WAVELET = "haar"  # harness reading of "pyramid wavelet texture" (the seed names no wavelet)
WAVELET_LEVELS = 6  # 6 levels x 3 detail subbands x (mean |c|, std c) = the seed's 36 values


def wavelet_texture(rgb: np.ndarray) -> np.ndarray:
    """(36,) mean |coefficient| and std of each detail subband of a 6-level Haar pyramid of the grey image."""
    import pywt

    grey = np.asarray(rgb, dtype=np.float64).mean(axis=2) / 255.0
    if min(grey.shape) < 2**WAVELET_LEVELS:
        raise DataError(f"wavelet texture needs images of at least {2**WAVELET_LEVELS} x {2**WAVELET_LEVELS} "
                        f"pixels for {WAVELET_LEVELS} levels; got {grey.shape[1]} x {grey.shape[0]}")
    coeffs = pywt.wavedec2(grey, WAVELET, level=WAVELET_LEVELS)  # [cA_6, (cH_6, cV_6, cD_6), ..., (cH_1, ...)]
    stats = [(np.abs(band).mean(), band.std()) for level in reversed(coeffs[1:]) for band in level]
    return np.asarray(stats, dtype=np.float32).ravel()


LAYERS: dict[str, tuple[int, Callable[[np.ndarray], np.ndarray]]] = {
    "hsv128": (128, hsv_histogram),
    "lab225": (225, lab_moments),
    "edh37": (37, edge_direction_histogram),
    "lbp59": (59, lbp_histogram),
    "wt36": (36, wavelet_texture),
    "gist960": (_gist.DIM, _gist.gist),
}
# Readings that a layer's values depend on beyond its name: part of its cache key and description.
LAYER_READINGS: dict[str, dict[str, Any]] = {
    "wt36": {"wavelet": WAVELET, "levels": WAVELET_LEVELS},
    "gist960": {"gist": f"LMgist size {_gist.SIZE}, orientations {_gist.ORIENTATIONS}, {_gist.BLOCKS}x{_gist.BLOCKS} "
                        f"blocks, fc {_gist.PREFILTER_FC}, padding {_gist.PADDING}"},
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


CHUNK = 512  # images per resumable chunk: an interrupted extraction loses at most one chunk


def _rows(jobs: list[tuple[str, str]], pool: ProcessPoolExecutor | None) -> list[np.ndarray]:
    if pool is None:
        return [_one(j) for j in jobs]
    return list(pool.map(_one, jobs, chunksize=32))


def compute(layer: str, paths: tuple[str, ...], workers: int = 2, resume_dir: Path | None = None) -> np.ndarray:
    """(n, d) float32 features of the image files, in a process pool (``workers`` <= 1: in process).

    With ``resume_dir``, every finished chunk of :data:`CHUNK` images is saved there (atomically),
    and chunks found there are loaded instead of computed: a rerun after an interruption resumes.
    """
    from harness.cache import atomic_path
    from harness.progress import bar

    if layer not in LAYERS:
        raise InvalidParameterError(f"backbone 'handcrafted' has layers {', '.join(LAYERS)}; got {layer!r}")
    dim = LAYERS[layer][0]
    jobs = [(layer, str(p)) for p in paths]
    starts = range(0, len(jobs), CHUNK)
    parallel = workers > 1 and len(jobs) >= 64
    pool = ProcessPoolExecutor(max_workers=workers) if parallel else None
    out: list[np.ndarray] = []
    try:
        with bar(len(jobs), f"features handcrafted.{layer}", unit="image") as progress:
            for i, start in enumerate(starts):
                part = jobs[start : start + CHUNK]
                saved = None if resume_dir is None else resume_dir / f"chunk{i:06d}.npy"
                block = _load_chunk(saved, (len(part), dim))
                if block is None:
                    block = np.stack(_rows(part, pool)).astype(np.float32, copy=False)
                    if saved is not None:
                        saved.parent.mkdir(parents=True, exist_ok=True)
                        with atomic_path(saved) as tmp, open(tmp, "wb") as f:
                            np.save(f, block)
                out.append(block)
                progress.update(len(part))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)


def _load_chunk(path: Path | None, shape: tuple[int, int]) -> np.ndarray | None:
    """A saved chunk of the expected shape, or None (absent or damaged: computed again)."""
    if path is None or not path.exists():
        return None
    try:
        block = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return block if block.shape == shape and block.dtype == np.float32 else None


def handcrafted_source(dataset: Dataset, split_name: str, split: Split, spec: FeatureSpec, *, device: str = "cpu",
                       cache: Any = None) -> np.ndarray:  # fmt: skip
    """The registered source of ``backbone=handcrafted``: one cached (n, d) block per split and layer."""
    import os

    from harness.cache import Cache, cache_key

    if split.paths is None:
        raise DataError(f"backbone 'handcrafted' reads image files, and split {split_name!r} of {dataset.name} has none")
    workers = min(len(os.sched_getaffinity(0)), 8)
    if spec.layer in _bovw.LAYERS:  # codebook from the training split, then per-split encodings
        return _bovw.bovw_source(dataset, split_name, split, spec.layer, cache or Cache(), workers)
    if spec.layer not in LAYERS:
        raise InvalidParameterError(f"backbone 'handcrafted' has layers {', '.join((*LAYERS, *_bovw.LAYERS))}; "
                                    f"got {spec.layer!r}")
    parts = {"manifest": dataset.manifest_hash, "split": split_name, "backbone": "handcrafted", "layer": spec.layer,
             "items": hashlib.sha256("\n".join(map(str, split.ids)).encode("utf-8")).hexdigest(), "version": VERSION,
             **LAYER_READINGS.get(spec.layer, {})}  # fmt: skip
    cache = cache or Cache()
    key = cache_key(**parts)
    partial = cache.root / "partial" / key  # finished chunks of an interrupted extraction
    arrays = cache.get_arrays("features", key, lambda: {"features": compute(spec.layer, split.paths, workers, partial)},
                              {**parts, "dataset": dataset.name, "n": len(split)})  # fmt: skip
    shutil.rmtree(partial, ignore_errors=True)
    return arrays["features"].astype(np.float32, copy=False)


def register() -> None:
    from harness.features import register_feature_source

    register_feature_source("handcrafted", handcrafted_source)
