"""GIST descriptor (Oliva & Torralba 2001) of an RGB image: 960 values, MMDL-EG's ``gist960``.

The seed names a 960-d GIST without its parameters; 960 is what the usual colour GIST gives (the
parameters of Oliva & Torralba's ``LMgist`` code, as in the LEAR implementation): the image is
resized (bilinear, shorter side) and centre-cropped to :data:`SIZE` x :data:`SIZE`, each RGB channel
is pre-filtered (log intensity, whitening and local contrast normalisation with a Gaussian of
``fc`` = :data:`PREFILTER_FC` cycles), then filtered by a bank of Gabor-like transfer functions in the
frequency domain (:data:`ORIENTATIONS` = 8, 8, 4 orientations at 3 scales: 20 filters, on the image
padded symmetrically by :data:`PADDING` pixels), and the magnitude of each response is averaged over
a :data:`BLOCKS` x :data:`BLOCKS` grid: 3 channels x 20 filters x 16 blocks = 960. Order: channel,
then filter (scale, then orientation), then block (row-major). Written here because no installed
library provides it (scikit-image has Gabor kernels, not the GIST pipeline).
"""

from __future__ import annotations

import functools

import numpy as np

SIZE = 128
ORIENTATIONS = (8, 8, 4)
BLOCKS = 4
PREFILTER_FC = 4.0
PADDING = 32
DIM = 3 * sum(ORIENTATIONS) * BLOCKS * BLOCKS  # 960


def _frequency_grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequency coordinates (fx, fy) of an n x n FFT, laid out as ``fft2`` lays them out."""
    f = np.arange(-n // 2, n // 2)
    fx, fy = np.meshgrid(f, f)
    return np.fft.ifftshift(fx), np.fft.ifftshift(fy)


@functools.lru_cache(maxsize=4)
def gabor_bank(n: int = SIZE + 2 * PADDING, orientations: tuple[int, ...] = ORIENTATIONS) -> np.ndarray:
    """(filters, n, n) transfer functions: per scale i and orientation k, a Gaussian in log-polar
    frequency around radial frequency 0.3 / 1.85^i (cycles per pixel) and angle pi k / N_i."""
    fx, fy = _frequency_grid(n)
    radius = np.hypot(fx, fy) / n
    theta = np.arctan2(fy, fx)
    bank = []
    for i, n_orient in enumerate(orientations):
        centre = 0.3 / 1.85**i
        angular = 16 * n_orient**2 / 32**2
        for k in range(n_orient):
            t = theta + np.pi * k / n_orient
            t = np.where(t < -np.pi, t + 2 * np.pi, np.where(t > np.pi, t - 2 * np.pi, t))
            bank.append(np.exp(-10 * 0.35 * (radius / centre - 1) ** 2 - 2 * angular * np.pi * t**2))
    return np.asarray(bank)


def prefilter(image: np.ndarray, fc: float = PREFILTER_FC) -> np.ndarray:
    """(h, w, c) log intensity, high-passed and divided by its local contrast (``LMgist``'s prefilt)."""
    w = 5
    s1 = fc / np.sqrt(np.log(2))
    img = np.log(np.asarray(image, dtype=np.float64) + 1.0)
    img = np.pad(img, ((w, w), (w, w), (0, 0)), mode="symmetric")
    sn = img.shape[0]
    n = sn + sn % 2
    img = np.pad(img, ((0, n - sn), (0, n - sn), (0, 0)), mode="symmetric")
    fx, fy = _frequency_grid(n)
    gf = np.exp(-(fx**2 + fy**2) / s1**2)[..., None]
    output = img - np.real(np.fft.ifft2(np.fft.fft2(img, axes=(0, 1)) * gf, axes=(0, 1)))
    energy = np.fft.fft2(output.mean(axis=2) ** 2)
    local_std = np.sqrt(np.abs(np.fft.ifft2(energy * gf[..., 0])))
    output = output / (0.2 + local_std[..., None])
    return output[w : sn - w, w : sn - w]


def _resize_crop(rgb: np.ndarray, size: int = SIZE) -> np.ndarray:
    from PIL import Image

    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))
    im = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), "RGB").resize(new, Image.BILINEAR)
    x0, y0 = (new[0] - size) // 2, (new[1] - size) // 2
    return np.asarray(im, dtype=np.float64)[y0 : y0 + size, x0 : x0 + size]


def block_means(x: np.ndarray, blocks: int = BLOCKS) -> np.ndarray:
    """(..., blocks, blocks) means of the last two axes cut into a blocks x blocks grid."""
    rows = np.linspace(0, x.shape[-2], blocks + 1).astype(int)
    cols = np.linspace(0, x.shape[-1], blocks + 1).astype(int)
    return np.stack([np.stack([x[..., rows[i] : rows[i + 1], cols[j] : cols[j + 1]].mean(axis=(-2, -1))
                               for j in range(blocks)], axis=-1) for i in range(blocks)], axis=-2)  # fmt: skip


def gist(rgb: np.ndarray) -> np.ndarray:
    """(960,) float32 colour GIST of an (h, w, 3) uint8 RGB image."""
    img = prefilter(_resize_crop(rgb))
    padded = np.pad(img, ((PADDING, PADDING), (PADDING, PADDING), (0, 0)), mode="symmetric")
    spectrum = np.fft.fft2(padded, axes=(0, 1)).transpose(2, 0, 1)  # (channels, n, n)
    bank = gabor_bank(padded.shape[0])
    responses = np.abs(np.fft.ifft2(spectrum[:, None] * bank[None], axes=(-2, -1)))  # (c, filters, n, n)
    responses = responses[..., PADDING:-PADDING, PADDING:-PADDING]
    return block_means(responses).astype(np.float32).ravel()
