"""Hand-crafted image features of MMDL-EG (``backbone=handcrafted``): dimensions, range, determinism,
known values on synthetic images, and the cached feature source on image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness import api
from harness.cache import Cache
from methods._image_features import (
    LAYERS,
    compute,
    edge_direction_histogram,
    handcrafted_source,
    hsv_histogram,
    wavelet_texture,
)
from methods.mmdl_eg import MMDLEG


def test_pure_colour_hsv_histogram() -> None:
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255  # HSV (0, 255, 255): hue bin 0, saturation bin 3, value bin 3 -> bin 0 * 16 + 3 * 4 + 3
    h = hsv_histogram(red)
    assert h.shape == (128,) and h[15] == 1.0 and h.sum() == pytest.approx(1.0)
    black = hsv_histogram(np.zeros((4, 4, 3), np.uint8))
    assert black[0] == 1.0  # hue 0, saturation 0, value 0
    half = np.zeros((8, 8, 3), np.uint8)
    half[:, :4] = (255, 0, 0)
    half[:, 4:] = (0, 0, 255)  # blue: hue 170/256 -> bin 5, fully saturated and bright
    hh = hsv_histogram(half)
    assert hh[15] == hh[5 * 16 + 15] == 0.5


def test_step_edge_direction_histogram() -> None:
    step = np.zeros((10, 10, 3), np.uint8)
    step[:, 5:] = 255  # dark -> bright to the right: gradient direction 0 degrees, two edge columns
    e = edge_direction_histogram(step)
    assert e.shape == (37,) and e.sum() == pytest.approx(1.0)
    assert e[0] == pytest.approx(20 / 100) and e[36] == pytest.approx(80 / 100) and not e[1:36].any()
    up = np.zeros((10, 10, 3), np.uint8)
    up[:5] = 255  # bright above, dark below: the gradient points up, 90 degrees
    assert edge_direction_histogram(up)[9] == pytest.approx(0.2)
    assert edge_direction_histogram(np.full((6, 6, 3), 90, np.uint8))[36] == 1.0  # flat: no edge at all


def _images(folder: Path, n: int) -> tuple[str, ...]:
    from PIL import Image

    g = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = folder / f"{i}.png"
        Image.fromarray(g.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return tuple(paths)


def test_source_dimensions_range_determinism_and_cache(tmp_path: Path) -> None:
    paths = _images(tmp_path, 5)
    split = api.Split(ids=np.arange(5).astype(str), groups=np.arange(5).astype(str), labels=None, paths=paths)
    ds = api.Dataset(name="toy", task="multilabel", concepts=("a",), train=split, test=split,
                     protocol=api.Protocol(metric="hamming_loss"), manifest_hash="m", root=tmp_path)  # fmt: skip
    cache = Cache(tmp_path / "cache")
    for layer, (dim, _) in LAYERS.items():
        x = handcrafted_source(ds, "train", split, api.FeatureSpec("handcrafted", layer), cache=cache)
        assert x.shape == (5, dim) and np.isfinite(x).all()
        if layer in ("hsv128", "edh37", "lbp59"):  # histograms: fractions of pixels in [0, 1] summing to 1
            assert x.min() >= 0 and x.max() <= 1
            np.testing.assert_allclose(x.sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(x, compute(layer, paths, workers=1))  # the cache returns the same
        np.testing.assert_array_equal(x, handcrafted_source(ds, "train", split, api.FeatureSpec("handcrafted", layer),
                                                            cache=cache))  # fmt: skip
    assert not any((tmp_path / "cache" / "partial").glob("*")), "finished extractions leave no partial chunks"
    cfg = MMDLEG.Config(backbone="handcrafted", layer="hsv128+edh37")
    assert {k: v.layer for k, v in MMDLEG.feature_specs(cfg).items()} == {"hsv128": "hsv128", "edh37": "edh37"}


def test_an_interrupted_extraction_resumes_from_its_finished_chunks(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import methods._image_features as feats

    paths = _images(tmp_path, 5)
    full = compute("hsv128", paths, workers=1)
    monkeypatch.setattr(feats, "CHUNK", 2)
    real_one, calls = feats._one, []

    def dies_on_the_fourth(args: tuple[str, str]) -> np.ndarray:
        calls.append(args[1])
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_one(args)

    monkeypatch.setattr(feats, "_one", dies_on_the_fourth)
    partial = tmp_path / "partial"
    with pytest.raises(KeyboardInterrupt):
        compute("hsv128", paths, workers=1, resume_dir=partial)
    assert sorted(p.name for p in partial.iterdir()) == ["chunk000000.npy"]  # chunk 1 died half-way: not saved
    (partial / "chunk000001.npy").write_bytes(b"torn")  # a damaged chunk is computed again, not trusted
    calls.clear()
    monkeypatch.setattr(feats, "_one", lambda args: calls.append(args[1]) or real_one(args))
    np.testing.assert_array_equal(compute("hsv128", paths, workers=1, resume_dir=partial), full)
    assert calls == list(paths[2:]), "only the unfinished chunks are computed"


def test_gist_orientation_of_gratings_and_a_flat_image() -> None:
    from methods._gist import DIM, gist

    y, x = np.mgrid[0:128, 0:128]

    def grating(along: np.ndarray) -> np.ndarray:
        v = 127.5 + 100 * np.sin(2 * np.pi * along / 8)  # period 8 px: 0.125 cycles per pixel
        return np.repeat(v[..., None], 3, axis=2).astype(np.uint8)

    def per_filter(g: np.ndarray) -> np.ndarray:
        return g.reshape(3, 20, 16).mean(axis=(0, 2))  # channel, filter (scale, orientation), block

    vertical, horizontal = per_filter(gist(grating(x))), per_filter(gist(grating(y)))
    assert DIM == 960 and gist(grating(x)).shape == (960,)
    # Stripes varying along x answer the 0-degree filters, along y the 90-degree ones (k = N / 2).
    for scale, (start, n) in enumerate(((0, 8), (8, 8), (16, 4))):
        assert np.argmax(vertical[start : start + n]) == 0 and np.argmax(horizontal[start : start + n]) == n // 2, scale
    # 0.125 c/px lies nearest the middle scale's centre frequency (0.3 / 1.85 = 0.162)
    assert np.argmax([vertical[0], vertical[8], vertical[16]]) == 1
    assert np.abs(gist(np.full((90, 150, 3), 90, np.uint8))).max() < 1e-9  # no structure, no response


def test_wavelet_texture_known_images() -> None:
    from harness.errors import DataError

    flat = wavelet_texture(np.full((64, 64, 3), 200, np.uint8))
    assert flat.shape == (36,) and np.all(flat == 0)  # no texture: every detail coefficient is zero
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel vertical stripes: all the energy in the finest vertical subband
    w = wavelet_texture(stripes).reshape(6, 3, 2)  # level (finest first) x (H, V, D) x (mean |c|, std)
    # Haar detail of a 0/1 pair: (0 - 1) / 2 summed over 2 rows x 2 columns / 2 = 1 in magnitude
    assert w[0, 1, 0] == pytest.approx(1.0) and w[0, 1, 1] == pytest.approx(0.0, abs=1e-7)
    assert np.count_nonzero(np.abs(w) > 1e-7) == 1
    checker = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)[..., None].repeat(3, axis=2)
    assert np.argmax(wavelet_texture(checker).reshape(6, 3, 2)[0, :, 0]) == 2  # a checkerboard is diagonal detail
    with pytest.raises(DataError, match="at least 64 x 64"):
        wavelet_texture(np.zeros((32, 80, 3), np.uint8))


def test_lab_moments_and_lbp_known_values() -> None:
    from methods._image_features import lab_moments, lbp_histogram, srgb_to_lab

    np.testing.assert_allclose(srgb_to_lab(np.full((1, 1, 3), 255, np.uint8))[0, 0], [100.0, 0.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(srgb_to_lab(np.array([[[255, 0, 0]]], np.uint8))[0, 0], [53.24, 80.09, 67.20], atol=0.02)
    m = lab_moments(np.full((10, 10, 3), 255, np.uint8)).reshape(25, 3, 3)  # block, channel, moment
    assert m.shape == (25, 3, 3) and np.allclose(m[:, 0, 0], 100.0, atol=1e-3) and np.allclose(m[:, :, 1:], 0.0, atol=1e-4)
    half = np.zeros((10, 10, 3), np.uint8)
    half[:5] = 255  # the top row of blocks is white, the bottom rows black
    hm = lab_moments(half).reshape(5, 5, 3, 3)
    assert np.allclose(hm[:2, :, 0, 0], 100.0, atol=1e-3) and np.allclose(hm[3:, :, 0, 0], 0.0, atol=1e-3)
    flat = lbp_histogram(np.full((6, 6, 3), 50, np.uint8))
    assert flat.shape == (59,) and flat.max() == 1.0  # every neighbour >= centre: code 255, one uniform bin
    noise = lbp_histogram(np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8))
    assert noise.sum() == pytest.approx(1.0) and noise[58] > 0  # random texture has non-uniform patterns


def test_the_runner_accepts_a_registered_feature_source() -> None:
    from harness.errors import InvalidParameterError
    from harness.runner import _check_feature_specs

    _check_feature_specs(MMDLEG, MMDLEG.Config(backbone="handcrafted", layer="hsv128+edh37"))  # no error
    with pytest.raises(InvalidParameterError, match="Unknown backbone"):
        _check_feature_specs(MMDLEG, MMDLEG.Config(backbone="handcraftd", layer="hsv128"))
