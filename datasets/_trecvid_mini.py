"""Synthetic keyframes for the TRECVID miniatures, drawn from the source domain's primitives.

A keyframe shows a *scene* (two background textures split at a horizon, e.g. sky over sand =
beach) with 1-5 coloured *objects* (shapes of :data:`harness.synthetic_source.SHAPES` in four exact
colours) and grey/off-colour distractor shapes. Concepts are

* 12 scene concepts, functions of the latent scene type (``outdoor`` covers 7 of 10 scenes,
  ``beach`` one), and
* 48 object concepts = 12 shapes x {red, yellow, green, blue}.

Correlations come from the latent structure: videos have a dominant scene (70 % of their shots),
each scene prefers a few objects (Dirichlet weights), and each object has a companion object that
joins it in 30 % of the keyframes. Object concepts are ~5 % positive (about 17:1 negatives).
A shot of several frames (:func:`draw_shot_frames`, the AVS miniature) keeps its content from frame
to frame while the shapes drift and turn and the camera pans; :func:`draw_shot` (one keyframe, the
SIN miniature) is its first frame without the motion draws, bit for bit what it was before frames.
Private to the ``datasets`` package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.synthetic_source import SHAPES, draw_shape, hsv_to_rgb, texture

SIZE = 64
# (scene, top texture, bottom texture); "wall"/"wall" = a plain studio.
SCENES = (
    ("beach", "sky", "sand"),
    ("sea", "sky", "water"),
    ("field", "sky", "grass"),
    ("snowfield", "sky", "snow"),
    ("city", "sky", "urban"),
    ("night_city", "night", "urban"),
    ("night_field", "night", "grass"),
    ("office", "wall", "checker"),
    ("studio", "wall", "wall"),
    ("forest", "foliage", "grass"),
)
SCENE_CONCEPTS = {
    "outdoor": ("beach", "sea", "field", "snowfield", "city", "night_field", "forest"),
    "indoor": ("office", "studio"),
    "nighttime": ("night_city", "night_field"),
    "sky": ("beach", "sea", "field", "snowfield", "city"),
    "beach": ("beach",),
    "waterscape": ("sea",),
    "fields": ("field", "night_field"),
    "snow": ("snowfield",),
    "urban": ("city", "night_city"),
    "office": ("office",),
    "studio": ("studio",),
    "forest": ("forest",),
}
COLOURS = {"red": 0.0, "yellow": 55.0, "green": 120.0, "blue": 225.0}  # hue in degrees
DISTRACTOR_HUES = (28.0, 180.0, 290.0)  # orange, cyan, purple (never a concept)
OBJECTS = tuple(f"{c}_{s}" for c in COLOURS for s in SHAPES)
CONCEPT_NAMES = tuple(f"scene_{c}" for c in SCENE_CONCEPTS) + tuple(f"obj_{o}" for o in OBJECTS)


@dataclass(frozen=True)
class World:
    """The latent structure shared by every shot of one miniature (drawn once from the seed)."""

    scene_objects: np.ndarray  # (n_scenes, n_objects) object preference per scene
    companion: np.ndarray  # (n_objects,) index of each object's companion

    @staticmethod
    def make(gen: np.random.Generator) -> World:
        n_obj = len(OBJECTS)
        pref = gen.dirichlet(np.full(n_obj, 0.25), size=len(SCENES))
        pref = 0.75 * pref + 0.25 / n_obj  # every object can occur anywhere, but rarely
        companion = (np.arange(n_obj) + gen.integers(1, n_obj, n_obj)) % n_obj
        return World(pref, companion)


def scene_labels(scene: int) -> np.ndarray:
    name = SCENES[scene][0]
    return np.array([name in members for members in SCENE_CONCEPTS.values()], dtype=np.int8)


@dataclass(frozen=True)
class Sprite:
    """One shape of a keyframe (in drawing order: distractors first, concept objects on top)."""

    shape: str
    cx: float
    cy: float
    r: float
    angle: float
    colour: tuple[int, int, int]


@dataclass(frozen=True)
class ShotLayout:
    """What a shot shows: its background and shapes (drawn by :func:`render`) and its 60 labels."""

    background: np.ndarray  # (SIZE, SIZE, 3) uint8
    sprites: tuple[Sprite, ...]
    labels: np.ndarray  # (60,) int8 0/1


def layout_shot(world: World, scene: int, gen: np.random.Generator) -> ShotLayout:
    """Draw the content of one shot of ``scene`` (the random draws of :func:`draw_shot`, in order)."""
    _, top, bottom = SCENES[scene]
    horizon = int(gen.uniform(0.3, 0.6) * SIZE)
    bg = texture(bottom, SIZE, SIZE, gen)
    bg[:horizon] = texture(top, horizon, SIZE, gen)
    n_obj = len(OBJECTS)
    count = 1 + int(gen.binomial(3, 0.4))
    chosen = set(gen.choice(n_obj, size=count, replace=False, p=world.scene_objects[scene]).tolist())
    for o in list(chosen):
        if gen.random() < 0.3:
            chosen.add(int(world.companion[o]))
    sprites = []
    # Distractors first, so that concept objects are drawn on top and stay visible.
    for _ in range(int(gen.integers(0, 3))):
        grey = gen.random() < 0.5
        colour = (hsv_to_rgb(0, 0, gen.uniform(0.2, 0.9)) if grey else
                  hsv_to_rgb(gen.choice(DISTRACTOR_HUES), gen.uniform(0.6, 1), gen.uniform(0.6, 1)))  # fmt: skip
        r = gen.uniform(5, 10)
        shape = SHAPES[int(gen.integers(len(SHAPES)))]
        cx, cy = gen.uniform(r, SIZE - r, 2)
        sprites.append(Sprite(shape, float(cx), float(cy), float(r), float(gen.uniform(-0.5, 0.5)), colour))
    for o in sorted(chosen):
        colour_name, shape = OBJECTS[o].split("_", 1)
        hue = COLOURS[colour_name] + gen.uniform(-8, 8)
        r = gen.uniform(6, 12)
        cx, cy = gen.uniform(r, SIZE - r, 2)
        angle = float(gen.uniform(-0.5, 0.5))
        colour = hsv_to_rgb(hue, gen.uniform(0.75, 1), gen.uniform(0.7, 1))
        sprites.append(Sprite(shape, float(cx), float(cy), float(r), angle, colour))
    obj_labels = np.zeros(n_obj, dtype=np.int8)
    obj_labels[sorted(chosen)] = 1
    return ShotLayout(bg, tuple(sprites), np.concatenate([scene_labels(scene), obj_labels]))


def render(layout: ShotLayout, sprites: Sequence[Sprite] | None = None, pan: int = 0) -> np.ndarray:
    """The (SIZE, SIZE, 3) uint8 image of a layout (``sprites`` replaces its shapes; ``pan`` shifts
    the background horizontally by that many pixels, a camera pan)."""
    from PIL import Image, ImageDraw

    bg = layout.background if pan == 0 else np.roll(layout.background, pan, axis=1)
    img = Image.fromarray(bg)
    draw = ImageDraw.Draw(img)
    for sp in layout.sprites if sprites is None else sprites:
        draw_shape(draw, sp.shape, sp.cx, sp.cy, sp.r, sp.angle, sp.colour)
    return np.asarray(img)


def draw_shot(world: World, scene: int, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One keyframe (SIZE, SIZE, 3) uint8 of ``scene`` and its 60 labels (0/1)."""
    layout = layout_shot(world, scene, gen)
    return render(layout), layout.labels


def draw_shot_frames(
    world: World, scene: int, gen: np.random.Generator, n_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n_frames`` frames (n, SIZE, SIZE, 3) uint8 of one shot, one every 30 video frames, and its
    60 labels: the same content throughout, shapes drifting and turning (a few pixels and up to
    0.3 rad per frame, bouncing off the borders) while the camera pans slowly."""
    layout = layout_shot(world, scene, gen)
    velocity = gen.uniform(-4.0, 4.0, (len(layout.sprites), 2))
    spin = gen.uniform(-0.3, 0.3, len(layout.sprites))
    pan = float(gen.uniform(-2.0, 2.0))
    frames = []
    for t in range(n_frames):
        moved = [
            Sprite(sp.shape, _bounce(sp.cx + t * v[0], sp.r), _bounce(sp.cy + t * v[1], sp.r), sp.r,
                   sp.angle + t * w, sp.colour)
            for sp, v, w in zip(layout.sprites, velocity, spin, strict=True)
        ]  # fmt: skip
        frames.append(render(layout, moved, round(t * pan)))
    return np.stack(frames), layout.labels


def _bounce(x: float, r: float) -> float:
    """``x`` reflected into [r, SIZE - r] (a shape moving on stays inside the frame)."""
    lo, width = r, SIZE - 2 * r
    u = (x - lo) % (2 * width)
    return float(lo + (u if u <= width else 2 * width - u))


def video_scenes(n_shots: int, gen: np.random.Generator, dominant_share: float = 0.7) -> list[int]:
    """Scene type of each shot of one video: a dominant scene, other scenes now and then."""
    dominant = int(gen.integers(len(SCENES)))
    return [dominant if gen.random() < dominant_share else int(gen.integers(len(SCENES))) for _ in range(n_shots)]


def shot_counts(n_videos: int, total: int, gen: np.random.Generator) -> list[int]:
    """Shots per video summing to ``total`` (at least 3 each)."""
    w = gen.gamma(4.0, 1.0, n_videos)
    counts = np.maximum(3, np.floor(w / w.sum() * total)).astype(int)
    counts[np.argmax(counts)] += total - counts.sum()
    return counts.tolist()


def pooled_strata(
    truth: np.ndarray, gen: np.random.Generator, strata: Sequence[tuple[int, float]]
) -> list[tuple[int, int, int]]:
    """Simulate NIST's pooling and stratified sampling for one concept.

    Items are ranked by a noisy copy of the truth (the pooled participants' runs); consecutive
    rank ranges form strata ``(depth, sampling rate)``; sampled items get their true judgment,
    pooled but unsampled ones -1, and items beyond the pool are absent.

    Returns:
        ``(item index, stratum number, judgment)`` triples.
    """
    noisy = truth + gen.normal(0.0, 0.7, len(truth))
    order = np.argsort(-noisy, kind="stable")
    out = []
    start = 0
    for stratum, (depth, rate) in enumerate(strata, start=1):
        for i in order[start : start + depth]:
            judged = rate >= 1.0 or gen.random() < rate
            out.append((int(i), stratum, int(truth[i]) if judged else -1))
        start += depth
    return out
