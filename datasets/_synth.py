"""Procedural video content for the video miniatures (``ucf101-mini``, ``coview2019-mini``).

A clip is a shape (from the synthetic source domain, so the pretrained ``mini_alexnet``
recognises it) moving over a textured background along a *motion pattern*. The pattern is what
defines an action class: a single frame shows where the shape is, only the sequence shows where
it goes. Everything is drawn with Pillow from a numpy ``Generator``, so a seed fixes every pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.synthetic_source import SHAPES, TEXTURES, draw_shape, hsv_to_rgb, texture

MOTIONS = (
    "drift_right",  # steady left -> right, small bobbing
    "drift_left",  # steady right -> left
    "rise",  # bottom -> top
    "fall",  # top -> bottom, accelerating
    "bounce",  # vertical oscillation in place
    "sway",  # horizontal oscillation in place
    "orbit",  # circular path
    "pulse",  # in place, size oscillates
    "swing",  # pendulum arc hanging from the top
    "spin",  # in place, rotating
)

__all__ = ["MOTIONS", "SHAPES", "TEXTURES", "Actor", "background", "render", "trajectory"]


@dataclass(frozen=True)
class Actor:
    """The moving object: a source-domain shape with a fixed colour and base radius (pixels)."""

    shape: str
    colour: tuple[int, int, int]
    radius: float


def random_colour(gen: np.random.Generator) -> tuple[int, int, int]:
    """A saturated warm (red to yellow) or cool (green to blue) colour; the action is in the motion, not the colour."""
    hue = gen.uniform(-25.0, 65.0) if gen.random() < 0.5 else gen.uniform(100.0, 250.0)
    return hsv_to_rgb(hue, gen.uniform(0.7, 1.0), gen.uniform(0.75, 1.0))


def background(name: str, size: int, gen: np.random.Generator) -> np.ndarray:
    """A (size, size, 3) uint8 background made of one source-domain texture."""
    return texture(name, size, size, gen)


def trajectory(motion: str, n: int, gen: np.random.Generator, *, speed: float = 1.0) -> np.ndarray:
    """(n, 4) per-frame ``(cx, cy, scale, angle)``; centres in [0, 1] image units.

    ``speed`` scales how far the pattern advances per frame (1.0 = one clip of ~16 frames covers the
    pattern once). Each call randomises start, amplitude and phase within the pattern's range.
    """
    t = np.arange(n, dtype=np.float64) / max(n - 1, 1) * speed
    phase = gen.uniform(0, 2 * math.pi)
    cx = np.full(n, gen.uniform(0.35, 0.65))
    cy = np.full(n, gen.uniform(0.35, 0.65))
    scale = np.ones(n)
    angle = np.full(n, gen.uniform(-0.3, 0.3))
    amp = gen.uniform(0.18, 0.28)
    wobble = 0.03 * np.sin(2 * math.pi * 2 * t + phase)
    if motion == "drift_right":
        cx = gen.uniform(0.12, 0.25) + gen.uniform(0.5, 0.65) * (t % 1.0)
        cy = cy + wobble
    elif motion == "drift_left":
        cx = gen.uniform(0.75, 0.88) - gen.uniform(0.5, 0.65) * (t % 1.0)
        cy = cy + wobble
    elif motion == "rise":
        cy = gen.uniform(0.75, 0.88) - gen.uniform(0.5, 0.65) * (t % 1.0)
        cx = cx + wobble
    elif motion == "fall":
        cy = gen.uniform(0.12, 0.25) + gen.uniform(0.5, 0.65) * (t % 1.0) ** 2
        cx = cx + wobble
    elif motion == "bounce":
        cy = cy + amp * np.sin(2 * math.pi * 2 * t + phase)
    elif motion == "sway":
        cx = cx + amp * np.sin(2 * math.pi * 2 * t + phase)
    elif motion == "orbit":
        direction = 1.0 if gen.random() < 0.5 else -1.0
        cx = 0.5 + amp * np.cos(direction * 2 * math.pi * t + phase)
        cy = 0.5 + amp * np.sin(direction * 2 * math.pi * t + phase)
    elif motion == "pulse":
        scale = 1.0 + 0.45 * np.sin(2 * math.pi * 2 * t + phase)
    elif motion == "swing":
        theta = 0.9 * np.sin(2 * math.pi * 1.5 * t + phase)
        cx = 0.5 + 0.38 * np.sin(theta)
        cy = 0.1 + 0.38 * np.cos(theta)
    elif motion == "spin":
        angle = angle + 2 * math.pi * 1.5 * t * (1 if gen.random() < 0.5 else -1)
    else:
        raise ValueError(f"unknown motion {motion!r}; known: {', '.join(MOTIONS)}")
    return np.stack([np.clip(cx, 0.05, 0.95), np.clip(cy, 0.05, 0.95), scale, angle], axis=1)


def render(bg: np.ndarray, actor: Actor, path: np.ndarray, gen: np.random.Generator, *, noise: float = 4.0) -> np.ndarray:
    """Frames (n, H, W, 3) uint8: ``actor`` drawn along ``path`` over ``bg`` with sensor noise."""
    from PIL import Image, ImageDraw

    h, w = bg.shape[:2]
    frames = np.empty((len(path), h, w, 3), np.uint8)
    for i, (cx, cy, scale, angle) in enumerate(path):
        img = Image.fromarray(bg)
        draw = ImageDraw.Draw(img)
        draw_shape(draw, actor.shape, cx * w, cy * h, actor.radius * scale, angle, actor.colour)
        frames[i] = np.asarray(img)
    if noise:
        # One float32 draw for the whole clip (per-frame float64 draws dominated the generation time).
        noisy = frames.astype(np.float32) + np.float32(noise) * gen.standard_normal(frames.shape, dtype=np.float32)
        frames = np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)
    return frames
