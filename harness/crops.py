"""Test-time spatial crops: the standard ten-crop (4 corners + centre, and their horizontal mirrors).

The image's shorter side is first resized to ``round(crop * TEN_CROP_RESIZE_RATIO)`` (bilinear), the
ratio of the usual 256 / 224 evaluation transform (METHODS.md 2.10: "shorter side = 1.143 x crop",
an assumption of the harness), so the five boxes differ even when the frames already have the
network's input size (the miniatures). Views are ordered top-left, top-right, bottom-left,
bottom-right, centre, then the same five boxes mirrored left-right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TEN_CROP_RESIZE_RATIO = 256 / 224
TEN_CROP_VIEWS = 10


def resized_size(width: int, height: int, crop: int, ratio: float = TEN_CROP_RESIZE_RATIO) -> tuple[int, int]:
    """(width, height) after resizing the shorter side to ``round(crop * ratio)`` (never below ``crop``)."""
    short = max(crop, round(crop * ratio))
    scale = short / min(width, height)
    return max(crop, round(width * scale)), max(crop, round(height * scale))


def five_crop_boxes(width: int, height: int, crop: int) -> list[tuple[int, int, int, int]]:
    """PIL boxes (left, top, right, bottom) of the four corners and the centre of a (width, height) image."""
    if width < crop or height < crop:
        raise ValueError(f"a {crop}-pixel crop does not fit a {width}x{height} image")
    right, bottom = width - crop, height - crop
    corners = [(0, 0), (right, 0), (0, bottom), (right, bottom), (right // 2, bottom // 2)]
    return [(x, y, x + crop, y + crop) for x, y in corners]


def ten_crops(image: Any, crop: int, ratio: float = TEN_CROP_RESIZE_RATIO) -> list[Any]:
    """The ten views (PIL images of ``crop`` x ``crop``) of a PIL image, in the module's order."""
    from PIL import Image

    img = image.convert("RGB")
    width, height = img.size
    size = resized_size(width, height, crop, ratio)
    if size != img.size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    views = [img.crop(box) for box in five_crop_boxes(*size, crop)]
    return views + [v.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for v in views]


def ten_crop_preprocess(crop: int, mean: tuple[float, ...], std: tuple[float, ...]) -> Callable[[Any], list[Any]]:
    """PIL image -> ten normalised (3, crop, crop) tensors (scaled to [0, 1], then (x - mean) / std)."""

    def preprocess(image: Any) -> list[Any]:
        import numpy as np
        import torch

        m, s = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
        out = []
        for view in ten_crops(image, crop):
            x = torch.from_numpy(np.asarray(view, dtype=np.float32) / 255.0).permute(2, 0, 1)
            out.append((x - m) / s)
        return out

    return preprocess
