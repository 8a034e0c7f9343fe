"""Bag-of-visual-words features (METHODS.md 2.9): descriptors, pyramid counts, TF-IDF by hand, a
codebook fitted on the training split only, and the cached source end to end on tiny images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cv2")

from harness import api  # noqa: E402
from harness.cache import Cache  # noqa: E402
from methods import _bovw  # noqa: E402
from methods._image_features import handcrafted_source  # noqa: E402


def _checker(size: int = 64, square: int = 8, colour: tuple[int, int, int] = (200, 60, 30)) -> np.ndarray:
    board = (np.indices((size, size)) // square).sum(axis=0) % 2
    return (board[..., None] * np.array(colour)).astype(np.uint8)


@pytest.mark.parametrize("descriptor,dim", [("sift", 128), ("rgbsift", 384), ("csift", 384)])
def test_descriptors_dense_grid_and_harris_corners(descriptor: str, dim: int) -> None:
    desc, pos = _bovw.describe(_checker(), descriptor, "dense")
    assert desc.shape == (49, dim) and pos.shape == (49, 2)  # a 7 x 7 grid every 8 px, 8 px from the borders
    assert pos[:, 0].min() == 8 and pos[:, 0].max() == 56
    corners, _ = _bovw.describe(_checker(), descriptor, "harris")
    assert len(corners) > 10 and corners.shape[1] == dim  # a checkerboard is all corners
    assert len(_bovw.describe(np.full((64, 64, 3), 128, np.uint8), descriptor, "harris")[0]) == 0  # none on a flat image


def test_csift_colour_channels_ignore_the_light_intensity() -> None:
    bright = _bovw._channels(_checker(colour=(200, 120, 60)), "csift")
    dim = _bovw._channels(_checker(colour=(100, 60, 30)), "csift")
    assert not np.array_equal(bright[0], dim[0])  # O3 (intensity) halves
    for ratio_bright, ratio_dim in zip(bright[1:], dim[1:], strict=True):  # O1/O3 and O2/O3 do not
        assert np.abs(ratio_bright.astype(int) - ratio_dim.astype(int)).max() <= 1


def test_pyramid_counts_and_tfidf_by_hand() -> None:
    words = np.array([0, 1, 1])
    positions = np.array([[1.0, 1.0], [8.0, 2.0], [9.0, 9.0]])  # top-left, top-right, bottom-right of 10 x 10
    counts = _bovw.pyramid_counts(words, positions, (10, 10), 2).reshape(5, 2)
    np.testing.assert_array_equal(counts, [[1, 2], [1, 0], [0, 1], [0, 0], [0, 1]])
    # 2 training images; word 0 in 1 of them, word 1 in both: idf = log(3/2) + 1, log(3/3) + 1 = 1
    x = _bovw.tfidf(counts.reshape(1, -1), np.array([1, 2]), 2).reshape(5, 2)
    np.testing.assert_allclose(x[0], [1 / 3 * (np.log(1.5) + 1), 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(x[1], [np.log(1.5) + 1, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(x[3], [0, 0])  # an empty cell stays zero


def _images(folder: Path, name: str, n: int, seed: int, noise: bool = False) -> tuple[str, ...]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) if noise else \
            _checker(square=int(rng.integers(4, 12)), colour=tuple(int(v) for v in rng.integers(40, 255, 3)))  # fmt: skip
        path = folder / f"{name}{i}.png"
        Image.fromarray(img).save(path)
        paths.append(str(path))
    return tuple(paths)


def _dataset(root: Path, train: tuple[str, ...], test: tuple[str, ...]) -> api.Dataset:
    def split(paths: tuple[str, ...]) -> api.Split:
        ids = np.array([Path(p).stem for p in paths])
        return api.Split(ids=ids, groups=ids, labels=None, paths=paths)

    return api.Dataset(name="toy", task="multilabel", concepts=("a",), train=split(train), test=split(test),
                       protocol=api.Protocol(metric="hamming_loss"), manifest_hash="m", root=root)  # fmt: skip


def test_codebook_from_the_training_split_only_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_bovw, "WORDS", 8)
    train = _images(tmp_path / "train", "tr", 6, seed=0)
    cache = Cache(tmp_path / "cache")
    spec = api.FeatureSpec("handcrafted", "bow_sift_dense")
    a = _dataset(tmp_path, train, _images(tmp_path / "testa", "a", 3, seed=1))
    b = _dataset(tmp_path, train, _images(tmp_path / "testb", "b", 3, seed=2, noise=True))
    xa = handcrafted_source(a, "test", a.test, spec, cache=cache)
    xb = handcrafted_source(b, "test", b.test, spec, cache=cache)
    xt = handcrafted_source(a, "train", a.train, spec, cache=cache)
    assert xa.shape == (3, 40) and xt.shape == (6, 40) and np.isfinite(xa).all() and (xa >= 0).all()
    assert len(cache.entries("codebooks")) == 1, "other test images must not refit the codebook"
    assert not np.array_equal(xa, xb)
    np.testing.assert_array_equal(xa, handcrafted_source(a, "test", a.test, spec, cache=cache))  # cached, same
    with pytest.raises(Exception, match="BoVW layers are"):
        _bovw.parse("bow_surf_dense")
