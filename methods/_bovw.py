"""Bag-of-visual-words features of MMDL-EG (METHODS.md 2.9): {SIFT, CSIFT, RGB-SIFT} x {dense, Harris}.

Layer ``bow_<descriptor>_<sampling>`` (e.g. ``bow_csift_harris``) of ``backbone=handcrafted``:

1. keypoints: ``dense`` every :data:`DENSE_STEP` pixels at scale :data:`PATCH`, or ``harris``: up to
   :data:`HARRIS_MAX` Harris corners (OpenCV ``goodFeaturesToTrack``) at the same scale;
2. descriptors (OpenCV SIFT on 8-bit channels): ``sift`` on the grey image (128-d); ``rgbsift`` on R,
   G and B, concatenated (384-d); ``csift`` on the opponent intensity O3 and the colour-invariant
   ratios O1/O3, O2/O3 (van de Sande et al. 2010; 384-d);
3. a :data:`WORDS`-word codebook: k-means (scikit-learn ``MiniBatchKMeans``) on at most
   :data:`CODEBOOK_SAMPLE` descriptors drawn from the **training split only**, cached per
   (data set, training items, layer);
4. each descriptor to its nearest word; a two-level spatial pyramid (the whole image + 2 x 2 cells:
   5 x WORDS counts) and TF-IDF weighting with the training split's document frequencies:
   ``tf = count / words in the cell``, ``idf = log((1 + N_train) / (1 + images containing the word)) + 1``.

Keypoint step, patch scale, corner count, the colour ranges of CSIFT's 8-bit channels and the
codebook sample are the harness's readings (the seed gives only the feature names, the 1000 words,
the pyramid and TF-IDF); they are part of every cache key (:data:`READINGS`).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from harness.errors import DataError, InvalidParameterError

DESCRIPTORS = ("sift", "csift", "rgbsift")
SAMPLINGS = ("dense", "harris")
LAYERS = tuple(f"bow_{d}_{s}" for d in DESCRIPTORS for s in SAMPLINGS)
WORDS = 1000  # the seed's codebook size
DENSE_STEP = 8
PATCH = 16.0
HARRIS_MAX = 500
CODEBOOK_SAMPLE = 200_000
PYRAMID_CELLS = 5  # level 0 (1 cell) + level 1 (2 x 2)
READINGS = {"dense_step": DENSE_STEP, "patch": PATCH, "harris_max": HARRIS_MAX, "codebook_sample": CODEBOOK_SAMPLE,
            "csift_ranges": "O3 0..441.7, O1/O3 and O2/O3 -2..2", "version": 1}  # fmt: skip


def parse(layer: str) -> tuple[str, str]:
    """(descriptor, sampling) of a ``bow_<descriptor>_<sampling>`` layer."""
    parts = layer.split("_")
    if len(parts) != 3 or parts[0] != "bow" or parts[1] not in DESCRIPTORS or parts[2] not in SAMPLINGS:
        raise InvalidParameterError(f"BoVW layers are {', '.join(LAYERS)}; got {layer!r}")
    return parts[1], parts[2]


def keypoints(grey: np.ndarray, sampling: str) -> list[Any]:
    import cv2

    h, w = grey.shape
    half = int(PATCH // 2)
    if sampling == "dense":
        return [cv2.KeyPoint(float(x), float(y), PATCH) for y in range(half, h - half + 1, DENSE_STEP)
                for x in range(half, w - half + 1, DENSE_STEP)]  # fmt: skip
    corners = cv2.goodFeaturesToTrack(grey, maxCorners=HARRIS_MAX, qualityLevel=0.01, minDistance=5,
                                      useHarrisDetector=True, k=0.04)  # fmt: skip
    return [] if corners is None else [cv2.KeyPoint(float(x), float(y), PATCH) for x, y in corners.reshape(-1, 2)]


def _channels(rgb: np.ndarray, descriptor: str) -> list[np.ndarray]:
    """The 8-bit channels SIFT runs on for ``descriptor``."""
    if descriptor == "sift":
        return [np.asarray(rgb, dtype=np.float64).mean(axis=2).round().astype(np.uint8)]
    if descriptor == "rgbsift":
        return [np.ascontiguousarray(rgb[..., c]) for c in range(3)]
    r, g, b = (np.asarray(rgb[..., c], dtype=np.float64) for c in range(3))
    o1, o2, o3 = (r - g) / np.sqrt(2), (r + g - 2 * b) / np.sqrt(6), (r + g + b) / np.sqrt(3)
    denom = np.maximum(o3, 1.0)  # black pixels: no colour, ratio 0

    def to8(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
        return np.clip((x - lo) / (hi - lo) * 255.0, 0, 255).round().astype(np.uint8)

    return [to8(o3, 0.0, 441.7), to8(o1 / denom, -2.0, 2.0), to8(o2 / denom, -2.0, 2.0)]


def describe(rgb: np.ndarray, descriptor: str, sampling: str) -> tuple[np.ndarray, np.ndarray]:
    """(m, 128 or 384) float32 descriptors and their (m, 2) (x, y) positions in an (h, w, 3) uint8 image."""
    import cv2

    grey = np.asarray(rgb, dtype=np.float64).mean(axis=2).round().astype(np.uint8)
    kps = keypoints(grey, sampling)
    dim = 128 * (1 if descriptor == "sift" else 3)
    if not kps:
        return np.zeros((0, dim), np.float32), np.zeros((0, 2), np.float32)
    sift = cv2.SIFT_create()
    parts = []
    for channel in _channels(rgb, descriptor):
        kept, desc = sift.compute(channel, kps)  # same keypoints for every channel (none dropped: fixed size)
        if desc is None or len(kept) != len(kps):
            raise DataError(f"SIFT dropped keypoints of a {rgb.shape[1]} x {rgb.shape[0]} image")
        parts.append(desc)
    positions = np.array([kp.pt for kp in kps], dtype=np.float32)
    return np.concatenate(parts, axis=1).astype(np.float32), positions


def pyramid_counts(words: np.ndarray, positions: np.ndarray, shape: tuple[int, int], n_words: int) -> np.ndarray:
    """(5 * n_words,) word counts: the whole image, then the 2 x 2 cells (top-left, top-right, bottom-left, bottom-right)."""
    h, w = shape
    out = np.zeros((PYRAMID_CELLS, n_words), dtype=np.float64)
    out[0] = np.bincount(words, minlength=n_words)
    if len(words):
        cell = 1 + (positions[:, 1] >= h / 2).astype(int) * 2 + (positions[:, 0] >= w / 2).astype(int)
        np.add.at(out, (cell, words), 1.0)
    return out.ravel()


def tfidf(counts: np.ndarray, document_frequency: np.ndarray, n_documents: int) -> np.ndarray:
    """TF-IDF of (n, 5 * W) pyramid counts: per cell, count / words in the cell, times the word's
    ``log((1 + N) / (1 + df)) + 1`` (df: training images holding the word; scikit-learn's smooth idf,
    so a word in every image keeps weight 1 rather than vanishing)."""
    n, total = counts.shape
    c = counts.reshape(n, PYRAMID_CELLS, -1)
    tf = c / np.maximum(c.sum(axis=2, keepdims=True), 1.0)
    idf = np.log((1.0 + n_documents) / (1.0 + np.asarray(document_frequency, dtype=np.float64))) + 1.0
    return (tf * idf).reshape(n, total).astype(np.float32)


def _read(path: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def _descriptors_of(args: tuple[str, str, str]) -> np.ndarray:
    path, descriptor, sampling = args
    return describe(_read(path), descriptor, sampling)[0]


_CODEBOOK: np.ndarray | None = None  # the worker processes' codebook (set by their initializer)


def _set_codebook(centroids: np.ndarray) -> None:
    global _CODEBOOK
    _CODEBOOK = centroids


def nearest_words(desc: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (squared Euclidean) of every descriptor."""
    if len(desc) == 0:
        return np.zeros(0, dtype=np.int64)
    d = (desc.astype(np.float64) ** 2).sum(axis=1)[:, None] - 2 * desc @ centroids.T.astype(np.float64) \
        + (centroids.astype(np.float64) ** 2).sum(axis=1)[None, :]  # fmt: skip
    return np.argmin(d, axis=1)


def _counts_of(args: tuple[str, str, str]) -> np.ndarray:
    path, descriptor, sampling = args
    assert _CODEBOOK is not None
    rgb = _read(path)
    desc, pos = describe(rgb, descriptor, sampling)
    return pyramid_counts(nearest_words(desc, _CODEBOOK), pos, rgb.shape[:2], len(_CODEBOOK))


def fit_codebook(paths: tuple[str, ...], layer: str, seed: int = 0, workers: int = 1) -> np.ndarray:
    """(k, dim) k-means centroids of descriptors of the training images ``paths`` (k = WORDS, or fewer
    when the images give fewer descriptors); at most CODEBOOK_SAMPLE descriptors, spread evenly over images."""
    from sklearn.cluster import MiniBatchKMeans

    from harness.progress import progress

    descriptor, sampling = parse(layer)
    jobs = [(str(p), descriptor, sampling) for p in paths]
    per_image = max(1, CODEBOOK_SAMPLE // max(len(jobs), 1))
    rng = np.random.default_rng(seed)
    sample = []
    with _pool(workers, len(jobs)) as pool:
        rows = pool.map(_descriptors_of, jobs, chunksize=16) if pool else map(_descriptors_of, jobs)
        for desc in progress(rows, desc=f"codebook descriptors {layer}", total=len(jobs)):
            if len(desc) > per_image:
                desc = desc[np.sort(rng.choice(len(desc), per_image, replace=False))]
            sample.append(desc)
    data = np.concatenate(sample) if sample else np.zeros((0, 1), np.float32)
    if len(data) < 2:
        raise DataError(f"{layer}: the training images give {len(data)} descriptors; a codebook needs more")
    k = min(WORDS, len(data))
    km = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=4096, n_init=3, max_iter=100)
    return km.fit(data).cluster_centers_.astype(np.float32)


def encode(paths: tuple[str, ...], layer: str, centroids: np.ndarray, workers: int = 1) -> np.ndarray:
    """(n, 5 * k) pyramid word counts of the images ``paths``."""
    from harness.progress import progress

    descriptor, sampling = parse(layer)
    jobs = [(str(p), descriptor, sampling) for p in paths]
    with _pool(workers, len(jobs), centroids) as pool:
        if pool is None:
            _set_codebook(centroids)
            rows = map(_counts_of, jobs)
        else:
            rows = pool.map(_counts_of, jobs, chunksize=16)
        out = list(progress(rows, desc=f"features handcrafted.{layer}", total=len(jobs)))
    return np.stack(out) if out else np.zeros((0, PYRAMID_CELLS * len(centroids)))


class _pool:
    """A process pool for many images (``None`` in process for few), with the codebook in each worker."""

    def __init__(self, workers: int, n: int, centroids: np.ndarray | None = None) -> None:
        self.parallel = workers > 1 and n >= 64
        self.workers, self.centroids = workers, centroids
        self.executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> ProcessPoolExecutor | None:
        if self.parallel:
            init = (_set_codebook, (self.centroids,)) if self.centroids is not None else (None, ())
            self.executor = ProcessPoolExecutor(max_workers=self.workers, initializer=init[0], initargs=init[1])
        return self.executor

    def __exit__(self, *exc: Any) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)


def bovw_source(dataset: Any, split_name: str, split: Any, layer: str, cache: Any, workers: int) -> np.ndarray:
    """TF-IDF pyramid BoVW features of ``split``; codebook and document frequencies from ``dataset.train``."""
    from harness.cache import cache_key

    train = dataset.train
    if train.paths is None or split.paths is None:
        raise DataError(f"{layer} reads image files, and {dataset.name} has none in its training split or {split_name!r}")

    def digest(ids: Any) -> str:
        return hashlib.sha256("\n".join(map(str, ids)).encode("utf-8")).hexdigest()

    book_parts = {"manifest": dataset.manifest_hash, "train_items": digest(train.ids), "layer": layer, "words": WORDS,
                  **READINGS}  # fmt: skip
    centroids = cache.get_arrays("codebooks", cache_key(**book_parts),
                                 lambda: {"centroids": fit_codebook(train.paths, layer, workers=workers)},
                                 {**book_parts, "dataset": dataset.name, "n_train": len(train)})["centroids"]  # fmt: skip
    book = cache_key(**book_parts)

    def counts(name: str, part: Any) -> np.ndarray:
        parts = {"manifest": dataset.manifest_hash, "split": name, "items": digest(part.ids), "codebook": book,
                 "layer": f"{layer}#counts", **READINGS}  # fmt: skip
        return cache.get_arrays("features", cache_key(**parts), lambda: {"counts": encode(part.paths, layer, centroids, workers)},
                                {**parts, "dataset": dataset.name, "n": len(part)})["counts"]  # fmt: skip

    train_counts = counts("train", train)
    k = len(centroids)
    document_frequency = (train_counts[:, :k] > 0).sum(axis=0)  # images of the training split holding each word
    target = train_counts if split_name == "train" and len(split) == len(train) and \
        list(map(str, split.ids)) == list(map(str, train.ids)) else counts(split_name, split)  # fmt: skip
    return tfidf(target, document_frequency, len(train))
