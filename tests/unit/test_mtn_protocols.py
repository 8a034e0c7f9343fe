"""MTN's test protocols as predict-time settings of one trained model: the ten-crop geometry, the
ten-view split and average, and the fit cache whose key leaves the protocol out."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from harness import api
from harness.crops import five_crop_boxes, resized_size, ten_crops
from harness.errors import DataError
from methods._mtn_data import FrameStore
from methods._mtn_fit_cache import fit_key
from tests.unit.test_mtn_method import _data, _method


def test_five_crop_boxes_of_a_known_image() -> None:
    assert five_crop_boxes(6, 5, 3) == [(0, 0, 3, 3), (3, 0, 6, 3), (0, 2, 3, 5), (3, 2, 6, 5), (1, 1, 4, 4)]
    with pytest.raises(ValueError, match="does not fit"):
        five_crop_boxes(2, 5, 3)


def test_resized_size_scales_the_shorter_side() -> None:
    assert resized_size(64, 64, 64) == (73, 73)  # round(64 * 256 / 224)
    assert resized_size(320, 240, 224) == (341, 256)


def test_ten_crops_pixels_and_mirrors() -> None:
    """On a 8x8 image of distinct pixels whose resize is the identity (ratio 1): exact crops and flips."""
    pixels = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    views = [np.asarray(v) for v in ten_crops(Image.fromarray(pixels), 4, ratio=2.0)]  # shorter side 8: no resize
    assert len(views) == 10
    expected = [pixels[:4, :4], pixels[:4, 4:], pixels[4:, :4], pixels[4:, 4:], pixels[2:6, 2:6]]
    for got, want in zip(views[:5], expected, strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(views[5:], expected, strict=True):
        np.testing.assert_array_equal(got, want[:, ::-1])


def test_frame_store_views_split_interleaved_rows() -> None:
    values = np.arange(2 * 3 * 10, dtype=np.float32).reshape(-1, 1)  # 2 segments of 3 frames x 10 views
    store = FrameStore(values, np.array([0, 20, 60]))
    views = store.views(10)
    assert [len(v) for v in views] == [2] * 10
    np.testing.assert_array_equal(views[3].values[:, 0], values[3::10, 0])
    np.testing.assert_array_equal(views[3].offsets, [0, 2, 6])
    with pytest.raises(DataError, match="multiple of 10"):
        FrameStore(values, np.array([0, 25, 60])).views(10)


def _with_ten_views(data: api.MethodData, noise: float, seed: int = 1) -> api.MethodData:
    g = np.random.default_rng(seed)
    blocks = dict(data.blocks)
    for task in ("scene", "action"):
        seq = data.blocks[task]
        rows = np.repeat(seq.values, 10, axis=0)
        rows = rows + noise * g.normal(size=rows.shape).astype(np.float32)
        blocks[f"{task}_tencrop"] = api.Sequences(rows.astype(np.float32), seq.offsets * 10)
    return dataclasses.replace(data, blocks=blocks)


def test_ten_crop_of_identical_views_equals_the_centre_prediction() -> None:
    train, val = _data()
    centre = _method(aggregator="mtx", max_epochs=2).fit(train, val)
    ten = _method(aggregator="mtx", max_epochs=2, test_crops="ten").fit(train, val)
    assert ten.fit_cache_hit_  # the second run only changes the protocol: the first run's model
    same, noisy = ten.predict(_with_ten_views(val, 0.0)), ten.predict(_with_ten_views(val, 0.5))
    for k, v in centre.predict(val).items():
        np.testing.assert_allclose(same[k], v, rtol=1e-5, atol=1e-6)
    assert not np.allclose(noisy["scene"], same["scene"])  # the views do enter the average


def test_the_fit_cache_key_leaves_out_the_test_protocol_only() -> None:
    train, val = _data()
    blocks = ("scene", "action")
    base = fit_key(_method(), train, val, blocks)
    assert fit_key(_method(test_crops="ten", test_frames=0, eval_batch=7), train, val, blocks) == base
    assert fit_key(_method(frames=2), train, val, blocks) != base
    assert fit_key(_method(aggregator="gap"), train, val, blocks) != base
    assert fit_key(_method(), val, train, blocks) != base
    assert fit_key(_method(), _with_ten_views(train, 1.0), val, blocks) == base  # extra test-view blocks do not enter


def test_a_training_setting_trains_again() -> None:
    train, val = _data()
    _method(max_epochs=2).fit(train, val)
    again = _method(max_epochs=2, test_frames=0).fit(train, val)
    other = _method(max_epochs=2, frames=2).fit(train, val)
    assert again.fit_cache_hit_ and not other.fit_cache_hit_
