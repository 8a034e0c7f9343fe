"""The synthetic source domain (the stand-in for ImageNet) and the pretrained ``mini_alexnet``.

The papers transfer an ImageNet-trained CNN to video keyframes. Miniatures cannot ship ImageNet,
so a procedurally generated source domain plays its role: 60 classes of 64x64 images,

* 48 object classes = 12 shapes (:data:`SHAPES`) x 4 colour families (hue bands around red,
  yellow, green and blue), drawn at varied sizes on a random background texture, and
* 12 texture classes (:data:`TEXTURES`: sky, grass, sand, water, night, ...), full frame under
  0-3 small clutter shapes of any hue.

The miniatures (e.g. ``trecvid2013-mini``) build their keyframes from the same primitives (shapes
in four exact colours on scene backgrounds made of two textures), so features learnt here transfer
there (the source has the target's shape x colour categories, as ImageNet has many of TRECVID's
objects). Everything is deterministic given the seed.

``mini_alexnet`` is trained once on this domain and cached (``$HARNESS_HOME/backbones/<key>/``,
a ``torch.save`` state dict loaded with ``weights_only=True``); the held-out source accuracy is
recorded in the entry's ``meta.json`` and logged.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.cache import Cache, cache_key

log = logging.getLogger(__name__)

IMAGE_SIZE = 64
SHAPES = (
    "circle", "square", "triangle", "diamond", "cross", "star",
    "ring", "bar", "hexagon", "semicircle", "arrow", "ell",
)  # fmt: skip
TEXTURES = (
    "sky", "grass", "sand", "water", "night", "urban",
    "wall", "snow", "checker", "foliage", "stripes", "dots",
)  # fmt: skip
# Hue bands in degrees. Four families, not two: the miniatures' object concepts are shape x exact
# colour, and a source that merged red with yellow (v1) taught features that could not separate them.
COLOUR_FAMILIES = {"red": (-20.0, 20.0), "yellow": (40.0, 70.0), "green": (95.0, 145.0), "blue": (200.0, 250.0)}
SOURCE_CLASSES = tuple(f"{s}_{f}" for s in SHAPES for f in COLOUR_FAMILIES) + tuple(
    f"texture_{t}" for t in TEXTURES
)
# Bump when the generator or the training recipe changes: the cached weights are rebuilt.
SOURCE_VERSION = 2
NORM_MEAN = (0.5, 0.5, 0.5)
NORM_STD = (0.25, 0.25, 0.25)


# --------------------------------------------------------------------------------------------
# Primitives shared with the miniatures
# --------------------------------------------------------------------------------------------


def hsv_to_rgb(hue_deg: float, sat: float, val: float) -> tuple[int, int, int]:
    """HSV (hue in degrees) -> 8-bit RGB."""
    h = (hue_deg % 360.0) / 60.0
    c = val * sat
    x = c * (1 - abs(h % 2 - 1))
    m = val - c
    r, g, b = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][int(h) % 6]
    return tuple(int(round(255 * (v + m))) for v in (r, g, b))  # type: ignore[return-value]


def texture(name: str, h: int, w: int, gen: np.random.Generator) -> np.ndarray:
    """A (h, w, 3) uint8 texture patch with random variation (tint, phase, noise)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    noise = gen.normal(0.0, 1.0, (h, w, 1)).astype(np.float32)
    tint = gen.uniform(-12, 12, 3).astype(np.float32)

    def solid(rgb: tuple[float, float, float], amp: float) -> np.ndarray:
        return np.asarray(rgb, np.float32) + tint + amp * noise

    if name == "sky":
        t = (yy / max(h - 1, 1))[..., None]
        img = (1 - t) * np.array([90, 150, 230], np.float32) + t * np.array([200, 225, 250], np.float32)
        img = img + tint + 3 * noise
    elif name == "grass":
        img = solid((60, 150, 50), 22)
    elif name == "sand":
        img = solid((215, 190, 140), 10)
    elif name == "water":
        phase = gen.uniform(0, 2 * np.pi)
        wave = np.sin(yy / 2.0 + phase + np.sin(xx / 6.0))[..., None]
        img = np.array([30, 90, 170], np.float32) + tint + 25 * wave + 5 * noise
    elif name == "night":
        img = solid((15, 15, 40), 4)
        stars = gen.random((h, w)) < 0.02
        img[stars] = (240, 230, 160)
    elif name == "urban":
        img = solid((120, 120, 125), 6)
        gy, gx = int(gen.integers(5, 9)), int(gen.integers(5, 9))
        windows = ((yy.astype(int) % gy) < gy // 2) & ((xx.astype(int) % gx) < gx // 2)
        img[windows] = img[windows] * 0.45
    elif name == "wall":
        img = solid(hsv_to_rgb(gen.uniform(20, 50), 0.25, 0.85), 3)
    elif name == "snow":
        img = solid((240, 242, 248), 7)
    elif name == "checker":
        size = int(gen.integers(4, 8))
        board = ((yy.astype(int) // size + xx.astype(int) // size) % 2)[..., None]
        img = np.where(board == 1, np.float32(140), np.float32(70)) * np.array([1.0, 0.75, 0.5], np.float32) + tint
    elif name == "foliage":
        coarse = gen.normal(0, 1, (h // 8 + 2, w // 8 + 2))
        blotch = np.kron(coarse, np.ones((8, 8)))[:h, :w][..., None].astype(np.float32)
        img = np.array([30, 95, 35], np.float32) + tint + 30 * blotch + 6 * noise
    elif name == "stripes":
        period = gen.uniform(4, 9)
        angle = gen.uniform(0, np.pi)
        band = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) > 0)[..., None]
        c1 = np.asarray(hsv_to_rgb(gen.uniform(0, 360), 0.5, 0.9), np.float32)
        c2 = np.asarray(hsv_to_rgb(gen.uniform(0, 360), 0.5, 0.4), np.float32)
        img = np.where(band, c1, c2)
    elif name == "dots":
        img = solid(hsv_to_rgb(gen.uniform(0, 360), 0.3, 0.8), 3)
        step = int(gen.integers(6, 10))
        dots = ((yy.astype(int) % step - step // 2) ** 2 + (xx.astype(int) % step - step // 2) ** 2) <= 2
        img[dots] = img[dots] * 0.3
    else:
        raise ValueError(f"unknown texture {name!r}; known: {', '.join(TEXTURES)}")
    return np.clip(img, 0, 255).astype(np.uint8)


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    def regular(n: int, start: float = -math.pi / 2) -> list[tuple[float, float]]:
        return [(math.cos(start + 2 * math.pi * k / n), math.sin(start + 2 * math.pi * k / n)) for k in range(n)]

    if shape == "square":
        pts = [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)]
    elif shape == "triangle":
        pts = regular(3)
    elif shape == "diamond":
        pts = [(0, -1), (0.6, 0), (0, 1), (-0.6, 0)]
    elif shape == "cross":
        a = 0.3
        pts = [(-a, -1), (a, -1), (a, -a), (1, -a), (1, a), (a, a), (a, 1), (-a, 1), (-a, a), (-1, a), (-1, -a), (-a, -a)]
    elif shape == "star":
        pts = []
        for k in range(10):
            rad = 1.0 if k % 2 == 0 else 0.42
            th = -math.pi / 2 + math.pi * k / 5
            pts.append((rad * math.cos(th), rad * math.sin(th)))
    elif shape == "bar":
        pts = [(-1, -0.28), (1, -0.28), (1, 0.28), (-1, 0.28)]
    elif shape == "hexagon":
        pts = regular(6, 0.0)
    elif shape == "arrow":
        pts = [(-1, -0.25), (0.2, -0.25), (0.2, -0.65), (1, 0), (0.2, 0.65), (0.2, 0.25), (-1, 0.25)]
    elif shape == "ell":
        pts = [(-0.8, -1), (-0.2, -1), (-0.2, 0.4), (0.8, 0.4), (0.8, 1), (-0.8, 1)]
    elif shape == "semicircle":
        pts = [(math.cos(math.pi * k / 12), -math.sin(math.pi * k / 12) + 0.4) for k in range(13)]
    else:
        raise ValueError(shape)
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + r * (x * ca - y * sa), cy + r * (x * sa + y * ca)) for x, y in pts]


def draw_shape(draw: Any, shape: str, cx: float, cy: float, r: float, angle: float, fill: tuple[int, int, int]) -> None:
    """Draw one filled shape of radius ``r`` centred at (cx, cy) with a Pillow ``ImageDraw``."""
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fill, width=max(2, int(r * 0.35)))
    elif shape in SHAPES:
        draw.polygon(_polygon(shape, cx, cy, r, angle), fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")


# --------------------------------------------------------------------------------------------
# The source domain
# --------------------------------------------------------------------------------------------


def source_image(label: int, gen: np.random.Generator, size: int = IMAGE_SIZE) -> np.ndarray:
    """One (size, size, 3) uint8 image of source class ``label`` (index into SOURCE_CLASSES)."""
    from PIL import Image, ImageDraw

    name = SOURCE_CLASSES[label]
    if name.startswith("texture_"):
        # A texture class shows clutter too (as an ImageNet "seashore" shows people): the net must
        # recognise the background under small objects, so its features keep scene information.
        img = Image.fromarray(texture(name[len("texture_"):], size, size, gen))
        _clutter(ImageDraw.Draw(img), gen, size, int(gen.integers(0, 4)))
        return np.asarray(img)
    shape, family = name.rsplit("_", 1)
    bg = texture(TEXTURES[int(gen.integers(len(TEXTURES)))], size, size, gen)
    if gen.random() < 0.5:  # a second texture below a horizon, as in the miniatures' scenes
        horizon = int(gen.uniform(0.3, 0.7) * size)
        bg[horizon:] = texture(TEXTURES[int(gen.integers(len(TEXTURES)))], size - horizon, size, gen)
    img = Image.fromarray(bg)
    draw = ImageDraw.Draw(img)
    lo, hi = COLOUR_FAMILIES[family]
    colour = hsv_to_rgb(gen.uniform(lo, hi), gen.uniform(0.7, 1.0), gen.uniform(0.75, 1.0))
    r = gen.uniform(0.10, 0.36) * size
    cx, cy = gen.uniform(r, size - r, 2)
    draw_shape(draw, shape, cx, cy, r, gen.uniform(-0.5, 0.5), colour)
    return np.asarray(img)


def _clutter(draw: Any, gen: np.random.Generator, size: int, count: int) -> None:
    """``count`` small shapes of any hue (or grey) at random places."""
    for _ in range(count):
        r = gen.uniform(0.06, 0.14) * size
        hue, sat = gen.uniform(0, 360), (0.0 if gen.random() < 0.3 else gen.uniform(0.6, 1.0))
        cx, cy = gen.uniform(r, size - r, 2)
        colour = hsv_to_rgb(hue, sat, gen.uniform(0.5, 1.0))
        draw_shape(draw, SHAPES[int(gen.integers(len(SHAPES)))], cx, cy, r, gen.uniform(-0.5, 0.5), colour)


def source_dataset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, 64, 64, 3) uint8 with balanced labels (n,), deterministic in ``seed``."""
    gen = np.random.default_rng(seed)
    labels = np.arange(n) % len(SOURCE_CLASSES)
    gen.shuffle(labels)
    images = np.stack([source_image(int(y), gen) for y in labels])
    return images, labels.astype(np.int64)


def to_tensor_batch(images: np.ndarray) -> Any:
    """uint8 (n, h, w, 3) -> normalised float tensor (n, 3, h, w) (the ``mini_alexnet`` preprocessing)."""
    import torch

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(NORM_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(NORM_STD).view(1, 3, 1, 1)
    return (x - mean) / std


# --------------------------------------------------------------------------------------------
# Pretraining (once, cached)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipe:
    """How ``mini_alexnet`` is pretrained (AdamW, one-cycle learning rate, random flips)."""

    n_train: int = 9000
    n_val: int = 1800
    epochs: int = 6
    batch: int = 128
    lr: float = 2e-3
    weight_decay: float = 5e-4


PRETRAIN = Recipe()


def pretrain_mini_alexnet(folder: Path, seed: int = 0, recipe: Recipe = PRETRAIN) -> dict[str, Any]:
    """Train ``mini_alexnet`` on the source domain; write ``folder/mini_alexnet.pt``; return stats."""
    import torch
    from torch import nn

    from harness._nets import build_mini_alexnet
    from harness.progress import bar

    t0 = time.perf_counter()
    x_train, y_train = source_dataset(recipe.n_train, seed)
    x_val, y_val = source_dataset(recipe.n_val, seed + 1)
    t_gen = time.perf_counter() - t0
    xt, yt = to_tensor_batch(x_train), torch.from_numpy(y_train)
    xv, yv = to_tensor_batch(x_val), torch.from_numpy(y_val)
    order_rng = np.random.default_rng(seed + 2)
    # fork_rng: initialisation and dropout draw from torch's global RNG; keep the caller's state intact.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_mini_alexnet(len(SOURCE_CLASSES))
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        steps_per_epoch = math.ceil(len(xt) / recipe.batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch
        )
        loss_fn = nn.CrossEntropyLoss()
        with bar(recipe.epochs * steps_per_epoch, "pretraining mini_alexnet on the source domain") as b:
            for _ in range(recipe.epochs):
                model.train()
                perm = torch.from_numpy(order_rng.permutation(len(xt)))
                for i in range(steps_per_epoch):
                    idx = perm[i * recipe.batch : (i + 1) * recipe.batch]
                    xb = xt[idx]
                    if order_rng.random() < 0.5:  # horizontal flip: every class is flip-invariant
                        xb = xb.flip(3)
                    loss = loss_fn(model(xb), yt[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    b.update(1)
                    b.set_postfix(loss=f"{loss.item():.3f}")
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(xv[i : i + 512]).argmax(1) for i in range(0, len(xv), 512)])
    accuracy = float((pred == yv).float().mean())
    torch.save(model.state_dict(), folder / "mini_alexnet.pt")
    seconds = time.perf_counter() - t0
    log.info(
        "pretrained mini_alexnet on the synthetic source domain: %d classes, %d images, held-out accuracy "
        "%.3f, %.1f s (%.1f s generating images)",
        len(SOURCE_CLASSES), len(xt), accuracy, seconds, t_gen,
    )
    return {"source_val_accuracy": accuracy, "seconds": round(seconds, 2), "generation_seconds": round(t_gen, 2)}


def pretrained_weights(seed: int = 0, cache: Cache | None = None) -> Path:
    """Path of the cached source-pretrained ``mini_alexnet`` state dict (trained on first use)."""
    cache = cache or Cache()
    key = cache_key(backbone="mini_alexnet", source_version=SOURCE_VERSION, seed=seed, recipe=asdict(PRETRAIN))
    folder = cache.build(
        "backbones",
        key,
        lambda d: pretrain_mini_alexnet(d, seed),
        {"backbone": "mini_alexnet", "source_domain": "harness.synthetic_source", "seed": seed,
         "classes": len(SOURCE_CLASSES), "recipe": asdict(PRETRAIN)},
    )
    return folder / "mini_alexnet.pt"
