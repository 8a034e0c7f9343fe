"""The synthetic source domain (the stand-in for ImageNet) and the pretrained ``mini_alexnet``.

The papers transfer an ImageNet-trained CNN to video keyframes. Miniatures cannot ship ImageNet,
so a procedurally generated, multi-label source domain plays its role (as tagging data sets such
as Open Images do): 64x64 images, each with 60 binary labels,

* 48 object labels = 12 shapes (:data:`SHAPES`) x 4 colour families (hue bands around red,
  yellow, green and blue): 1-3 objects per image (10 % have none), at varied sizes, and
* 12 texture labels (:data:`TEXTURES`: sky, grass, sand, water, night, ...): the background is
  one texture or two split at a horizon,

plus 0-2 unlabelled clutter shapes in grey or in hues between the families (orange, lime, cyan,
purple). The miniatures (e.g. ``trecvid2013-mini``) build their keyframes from the same
primitives (shapes in four exact colours on scenes made of two textures), so features learnt here
transfer there, as ImageNet has many of TRECVID's objects and scenes. Every label is an output of
fc8, so a method reading fc8 sees both objects and backgrounds. Everything is deterministic
given the seed.

``mini_alexnet`` is trained once on this domain (binary cross-entropy over the 60 labels) and
cached (``$HARNESS_HOME/backbones/<key>/``, a ``torch.save`` state dict loaded with
``weights_only=True``). Pretraining inserts batch normalisation after each convolution and folds
it back into the convolution weights at the end, so the cached network keeps AlexNet's plain
shape. The held-out mean AP of the object and texture labels is recorded in the entry's
``meta.json`` and logged.
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
# Hue bands in degrees, with gaps between them: the miniatures' object concepts are shape x exact
# colour (v1 merged red with yellow, and v2's bands touched the clutter hues).
COLOUR_FAMILIES = {"red": (-12.0, 12.0), "yellow": (45.0, 65.0), "green": (105.0, 135.0), "blue": (210.0, 240.0)}
CLUTTER_HUES = ((24.0, 32.0), (78.0, 90.0), (160.0, 185.0), (270.0, 320.0))  # orange, lime, cyan, purple
OBJECT_LABELS = tuple(f"{s}_{f}" for s in SHAPES for f in COLOUR_FAMILIES)
TEXTURE_LABELS = tuple(f"texture_{t}" for t in TEXTURES)
SOURCE_CLASSES = OBJECT_LABELS + TEXTURE_LABELS  # the 60 outputs of mini_alexnet's fc8
# Bump when the generator or the training recipe changes: the cached weights are rebuilt.
SOURCE_VERSION = 3
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


def source_image(gen: np.random.Generator, size: int = IMAGE_SIZE,
                 recipe: Recipe | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One (size, size, 3) uint8 source image and its 60 labels (float32 0/1, order of SOURCE_CLASSES).

    ``recipe`` (default :data:`PRETRAIN`) sets how many objects and textures an image gets.
    """
    from PIL import Image, ImageDraw

    recipe = recipe or PRETRAIN

    labels = np.zeros(len(SOURCE_CLASSES), np.float32)
    n_obj = len(OBJECT_LABELS)
    top = int(gen.integers(len(TEXTURES)))
    bg = texture(TEXTURES[top], size, size, gen)
    labels[n_obj + top] = 1
    if gen.random() < recipe.second_texture_prob:  # a second texture below a horizon
        bottom = int(gen.integers(len(TEXTURES)))
        horizon = int(gen.uniform(0.3, 0.7) * size)
        bg[horizon:] = texture(TEXTURES[bottom], size - horizon, size, gen)
        labels[n_obj + bottom] = 1
    img = Image.fromarray(bg)
    draw = ImageDraw.Draw(img)
    _clutter(draw, gen, size, int(gen.integers(0, 3)))
    count = int(gen.choice(len(recipe.object_count_probs), p=recipe.object_count_probs))
    for k in gen.choice(n_obj, size=count, replace=False):
        shape, family = OBJECT_LABELS[k].rsplit("_", 1)
        lo, hi = COLOUR_FAMILIES[family]
        r = gen.uniform(0.08, 0.30) * size
        cx, cy = gen.uniform(r, size - r, 2)
        colour = hsv_to_rgb(gen.uniform(lo, hi), gen.uniform(0.7, 1.0), gen.uniform(0.7, 1.0))
        draw_shape(draw, shape, cx, cy, r, gen.uniform(-0.5, 0.5), colour)
        labels[k] = 1
    return np.asarray(img), labels


def _clutter(draw: Any, gen: np.random.Generator, size: int, count: int) -> None:
    """``count`` small unlabelled shapes, grey or in a hue between the colour families."""
    for _ in range(count):
        r = gen.uniform(0.06, 0.16) * size
        if gen.random() < 0.4:
            colour = hsv_to_rgb(0.0, 0.0, gen.uniform(0.2, 0.9))
        else:
            lo, hi = CLUTTER_HUES[int(gen.integers(len(CLUTTER_HUES)))]
            colour = hsv_to_rgb(gen.uniform(lo, hi), gen.uniform(0.6, 1.0), gen.uniform(0.6, 1.0))
        cx, cy = gen.uniform(r, size - r, 2)
        draw_shape(draw, SHAPES[int(gen.integers(len(SHAPES)))], cx, cy, r, gen.uniform(-0.5, 0.5), colour)


def source_dataset(n: int, seed: int, recipe: Recipe | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, 64, 64, 3) uint8 and their labels (n, 60) float32, deterministic in ``seed``."""
    gen = np.random.default_rng(seed)
    images, labels = zip(*(source_image(gen, recipe=recipe) for _ in range(n)), strict=True)
    return np.stack(images), np.stack(labels)


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
    """How the source domain is drawn and ``mini_alexnet`` pretrained (AdamW, one-cycle, flips, BN folded)."""

    n_train: int = 9000
    n_val: int = 1200
    epochs: int = 12
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 5e-4
    object_count_probs: tuple[float, ...] = (0.10, 0.45, 0.30, 0.15)  # P(0, 1, 2, 3 objects)
    second_texture_prob: float = 0.6


PRETRAIN = Recipe()


def pretrain_mini_alexnet(folder: Path, seed: int = 0, recipe: Recipe = PRETRAIN) -> dict[str, Any]:
    """Train ``mini_alexnet`` on the source domain; write ``folder/mini_alexnet.pt``; return stats."""
    import torch
    from torch import nn

    from harness._nets import build_mini_alexnet, fold_batchnorm, insert_batchnorm
    from harness.progress import bar

    t0 = time.perf_counter()
    x_train, y_train = source_dataset(recipe.n_train, seed, recipe)
    x_val, y_val = source_dataset(recipe.n_val, seed + 1, recipe)
    t_gen = time.perf_counter() - t0
    xt, yt = to_tensor_batch(x_train), torch.from_numpy(y_train)
    xv = to_tensor_batch(x_val)
    order_rng = np.random.default_rng(seed + 2)
    # fork_rng: initialisation and dropout draw from torch's global RNG; keep the caller's state intact.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = insert_batchnorm(build_mini_alexnet(len(SOURCE_CLASSES)))
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        steps_per_epoch = math.ceil(len(xt) / recipe.batch)
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=recipe.lr, total_steps=recipe.epochs * steps_per_epoch
        )
        loss_fn = nn.BCEWithLogitsLoss()
        with bar(recipe.epochs * steps_per_epoch, "pretraining mini_alexnet on the source domain") as b:
            for _ in range(recipe.epochs):
                model.train()
                perm = torch.from_numpy(order_rng.permutation(len(xt)))
                for i in range(steps_per_epoch):
                    idx = perm[i * recipe.batch : (i + 1) * recipe.batch]
                    xb = xt[idx]
                    if order_rng.random() < 0.5:  # horizontal flip: every label is flip-invariant
                        xb = xb.flip(3)
                    loss = loss_fn(model(xb), yt[idx])
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    b.update(1)
                    b.set_postfix(loss=f"{loss.item():.3f}")
        model.eval()
        fold_batchnorm(model)
        with torch.no_grad():
            scores = torch.cat([model(xv[i : i + 512]) for i in range(0, len(xv), 512)]).numpy()
    torch.save(model.state_dict(), folder / "mini_alexnet.pt")
    stats = _held_out_stats(scores, y_val)
    seconds = time.perf_counter() - t0
    log.info(
        "pretrained mini_alexnet on the synthetic source domain: %d labels, %d images, held-out mAP "
        "objects %.3f (chance %.3f), textures %.3f (chance %.3f), %.1f s (%.1f s generating images)",
        len(SOURCE_CLASSES), len(xt), stats["source_val_map_objects"], stats["source_chance_map_objects"],
        stats["source_val_map_textures"], stats["source_chance_map_textures"], seconds, t_gen,
    )  # fmt: skip
    return {**stats, "seconds": round(seconds, 2), "generation_seconds": round(t_gen, 2)}


def _held_out_stats(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean AP of the object and texture labels on held-out images, and chance (= mean prevalence)."""
    from sklearn.metrics import average_precision_score

    n_obj = len(OBJECT_LABELS)
    present = labels.sum(axis=0) > 0
    ap = np.array([average_precision_score(labels[:, j], scores[:, j]) if bool(present[j]) else np.nan
                   for j in range(labels.shape[1])])  # fmt: skip
    prevalence = labels.mean(axis=0)
    return {
        "source_val_map_objects": round(float(np.nanmean(ap[:n_obj])), 4),
        "source_val_map_textures": round(float(np.nanmean(ap[n_obj:])), 4),
        "source_chance_map_objects": round(float(prevalence[:n_obj].mean()), 4),
        "source_chance_map_textures": round(float(prevalence[n_obj:].mean()), 4),
    }


SHIPPED_DIR = Path(__file__).resolve().parent / "data"
SHIPPED_WEIGHTS = SHIPPED_DIR / f"mini_alexnet_source_v{SOURCE_VERSION}.pt"
SHIPPED_MANIFEST = SHIPPED_WEIGHTS.with_suffix(".json")
REBUILD_COMMAND = "harness cache rebuild-source"


def _recipe_record(seed: int, recipe: Recipe) -> dict[str, Any]:
    """What identifies a pretrained network: generator version, seed and recipe (JSON-ready)."""
    return {"backbone": "mini_alexnet", "source_version": SOURCE_VERSION, "seed": seed,
            "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(recipe).items()}}


def shipped_manifest() -> dict[str, Any] | None:
    """The manifest shipped beside the package's pretrained weights (sha256, recipe, source mAP), if any."""
    import json

    if not SHIPPED_MANIFEST.is_file():
        return None
    return dict(json.loads(SHIPPED_MANIFEST.read_text()))


def shipped_weights(seed: int = 0, recipe: Recipe = PRETRAIN) -> Path | None:
    """The package's pretrained ``mini_alexnet`` when it was made by this seed and recipe, else None.

    Raises:
        HarnessError: the shipped file does not match its recorded SHA-256 (a damaged install).
    """
    from harness.cache import sha256_file
    from harness.errors import HarnessError

    manifest = shipped_manifest()
    if manifest is None or not SHIPPED_WEIGHTS.is_file():
        return None
    if {k: manifest.get(k) for k in ("backbone", "source_version", "seed", "recipe")} != _recipe_record(seed, recipe):
        return None
    key = (str(SHIPPED_WEIGHTS), SHIPPED_WEIGHTS.stat().st_size, SHIPPED_WEIGHTS.stat().st_mtime_ns)
    if _VERIFIED.get(key) is None:
        _VERIFIED[key] = sha256_file(SHIPPED_WEIGHTS)
    if _VERIFIED[key] != manifest["sha256"]:
        raise HarnessError(
            f"The shipped source network {SHIPPED_WEIGHTS} does not match its manifest (SHA-256 "
            f"{_VERIFIED[key][:12]}... instead of {manifest['sha256'][:12]}...): the installation is damaged. "
            f"Reinstall the package (pip install -e .), or restore the file with git checkout."
        )
    return SHIPPED_WEIGHTS


_VERIFIED: dict[tuple[str, int, int], str] = {}


def pretrained_weights(seed: int = 0, cache: Cache | None = None) -> Path:
    """Path of the source-pretrained ``mini_alexnet`` state dict.

    The package ships the network made by the default seed and recipe (``harness/data/``, with its
    SHA-256 and recipe), so every machine starts from identical bits and nothing is pretrained on
    first use. Another seed or recipe is pretrained once and cached under ``$HARNESS_HOME/backbones``.
    """
    shipped = shipped_weights(seed)
    if shipped is not None:
        return shipped
    log.info("no shipped source network for seed %d and this recipe: pretraining it (cached)", seed)
    return pretrain_cached(seed, cache)


def pretrain_cached(seed: int = 0, cache: Cache | None = None, recipe: Recipe = PRETRAIN) -> Path:
    """Pretrain ``mini_alexnet`` on this machine once and cache it (what ``rebuild-source`` compares)."""
    cache = cache or Cache()
    key = cache_key(backbone="mini_alexnet", source_version=SOURCE_VERSION, seed=seed, recipe=asdict(recipe))
    folder = cache.build(
        "backbones",
        key,
        lambda d: pretrain_mini_alexnet(d, seed, recipe),
        {"backbone": "mini_alexnet", "source_domain": "harness.synthetic_source", "seed": seed,
         "labels": len(SOURCE_CLASSES), "multi_label": True, "recipe": asdict(recipe)},
    )
    return folder / "mini_alexnet.pt"


def write_manifest(weights: Path, stats: dict[str, Any], seed: int = 0, recipe: Recipe = PRETRAIN) -> dict[str, Any]:
    """Copy ``weights`` to the package data with a manifest (sha256, recipe, source mAP, machine)."""
    import json
    import shutil

    from harness import environment
    from harness.cache import atomic_write_text, sha256_file

    SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights, SHIPPED_WEIGHTS)
    fp = environment.hardware_fingerprint("cpu")
    manifest = {
        **_recipe_record(seed, recipe),
        "file": SHIPPED_WEIGHTS.name, "sha256": sha256_file(SHIPPED_WEIGHTS), "bytes": SHIPPED_WEIGHTS.stat().st_size,
        "stats": {k: v for k, v in stats.items() if k.startswith(("source_val_", "source_chance_"))},
        "pretrain_seconds": stats.get("seconds"),
        "made_with": {"command": f"{REBUILD_COMMAND} --write", "git_commit": environment.git_commit(),
                      "fingerprint": environment.fingerprint_hash(fp), "hw": fp},
    }
    atomic_write_text(SHIPPED_MANIFEST, json.dumps(manifest, indent=1) + "\n")
    _VERIFIED.clear()
    return manifest


def compare_weights(a: Path, b: Path) -> dict[str, Any]:
    """Max absolute difference between two state dicts, over all tensors and per tensor."""
    import torch

    sa = torch.load(a, map_location="cpu", weights_only=True)
    sb = torch.load(b, map_location="cpu", weights_only=True)
    if sa.keys() != sb.keys():
        return {"same_keys": False, "max_abs_diff": float("inf"), "per_tensor": {}}
    per = {k: float((sa[k].float() - sb[k].float()).abs().max()) if sa[k].shape == sb[k].shape else float("inf")
           for k in sa}
    return {"same_keys": True, "max_abs_diff": max(per.values()), "per_tensor": per}


def rebuild_source(seed: int = 0, cache: Cache | None = None, *, write: bool = False,
                   recipe: Recipe = PRETRAIN) -> dict[str, Any]:
    """Pretrain the source network again on this machine and say how it differs from the shipped one.

    The rebuilt network is cached (``backbones`` kind); runs keep using the shipped one unless
    ``write`` copies the rebuilt one over it (for a developer who changed the generator or recipe:
    bump :data:`SOURCE_VERSION`, rebuild with ``write``, commit ``harness/data/``).

    Returns:
        ``rebuilt`` (path, sha256, stats, seconds), ``shipped`` (its manifest or None),
        ``identical`` (same bytes), ``stats_diff`` (rebuilt - shipped per source mAP),
        ``max_abs_diff`` / ``per_tensor`` (weights), ``written``.
    """
    import json

    from harness.cache import sha256_file

    cache = cache or Cache()
    key = cache_key(backbone="mini_alexnet", source_version=SOURCE_VERSION, seed=seed, recipe=asdict(recipe))
    folder = cache.entry_dir("backbones", key)
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    path = pretrain_cached(seed, cache, recipe)
    meta = json.loads((path.parent / "meta.json").read_text())["description"]
    stats = {k: v for k, v in meta.items() if k.startswith(("source_val_", "source_chance_"))}
    rebuilt = {"path": str(path), "sha256": sha256_file(path), "stats": stats, "seconds": meta.get("seconds")}
    manifest = shipped_manifest()
    matching = manifest is not None and {k: manifest.get(k) for k in ("backbone", "source_version", "seed", "recipe")} \
        == _recipe_record(seed, recipe)
    report: dict[str, Any] = {"rebuilt": rebuilt, "shipped": manifest, "shipped_matches_recipe": matching,
                              "identical": False, "stats_diff": {}, "max_abs_diff": None, "per_tensor": {}}
    if matching and SHIPPED_WEIGHTS.is_file():
        assert manifest is not None
        report["identical"] = rebuilt["sha256"] == manifest["sha256"]
        report["stats_diff"] = {k: round(float(v) - float(manifest["stats"].get(k, float("nan"))), 4)
                                for k, v in stats.items()}
        report.update({k: v for k, v in compare_weights(SHIPPED_WEIGHTS, path).items() if k != "same_keys"})
    if write:
        report["shipped"] = write_manifest(path, meta, seed, recipe)
    report["written"] = write
    return report


def format_rebuild_report(report: dict[str, Any]) -> str:
    """The terminal text of :func:`rebuild_source`."""
    rebuilt, shipped = report["rebuilt"], report["shipped"]
    lines = [f"rebuilt source network: {rebuilt['path']}", f"  sha256 {rebuilt['sha256']}  ({rebuilt['seconds']} s)"]
    lines += [f"  {k} {v}" for k, v in rebuilt["stats"].items()]
    if not report["shipped_matches_recipe"]:
        lines.append("no shipped network for this generator version, seed and recipe: nothing to compare with")
    else:
        same = "identical to" if report["identical"] else "DIFFERS from"
        lines.append(f"{same} the shipped network {SHIPPED_WEIGHTS.name} (sha256 {shipped['sha256']})")
        lines += [f"  {k}: shipped {shipped['stats'].get(k)}, rebuilt {rebuilt['stats'][k]} ({d:+.4f})"
                  for k, d in report["stats_diff"].items()]
        worst = sorted(report["per_tensor"].items(), key=lambda kv: -kv[1])[:3]
        lines.append(f"  max |weight difference| {report['max_abs_diff']:.3g} (largest: "
                     + ", ".join(f"{k} {v:.3g}" for k, v in worst) + ")")
    if report["written"]:
        lines.append(f"wrote {SHIPPED_WEIGHTS} and {SHIPPED_MANIFEST.name}: commit harness/data/")
    else:
        lines.append("runs keep using the shipped network; --write replaces it (after a change of the recipe)")
    return "\n".join(lines)
