"""Vectorised drawing of small procedural images: shapes, textures, colours, clutter.

Everything works on a stack of N images at once (float arrays [N, H, W, 3] in [0, 1]); one
call draws one object into each image, each with its own shape, texture, colours, centre,
scale and rotation. Shapes are signed-distance-like functions of the object's local
coordinates (radius about 1, negative inside) turned into anti-aliased coverage; textures mix
the object's two colours inside it. Used by :mod:`perloc.datasets.synth.cifar_sim`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES = ("disc", "square", "triangle", "ring", "cross", "diamond", "star", "bar", "crescent",
          "dumbbell")
TEXTURES = ("solid", "stripes", "checker", "dots", "radial", "rings", "hstripes", "diagonal",
            "speckle", "gradient")


def _disc(u, v):
    return np.hypot(u, v) - 0.95


def _square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) - 0.8


def _triangle(u, v):
    return np.maximum(np.abs(u) * 0.866 + v * 0.5, -v) - 0.5


def _ring(u, v):
    return np.abs(np.hypot(u, v) - 0.72) - 0.26


def _cross(u, v):
    au, av = np.abs(u), np.abs(v)
    return np.minimum(np.maximum(au - 0.3, av - 0.95), np.maximum(au - 0.95, av - 0.3))


def _diamond(u, v):
    return (np.abs(u) + np.abs(v)) * 0.75 - 0.75


def _star(u, v):
    r, theta = np.hypot(u, v), np.arctan2(v, u)
    return r - (0.62 + 0.36 * np.cos(5 * theta))


def _bar(u, v):
    return np.maximum(np.abs(u) - 0.95, np.abs(v) - 0.38)


def _crescent(u, v):
    return np.maximum(np.hypot(u, v) - 0.95, 0.75 - np.hypot(u - 0.45, v))


def _dumbbell(u, v):
    return np.minimum(np.hypot(np.abs(u) - 0.55, v) - 0.42, np.maximum(np.abs(u) - 0.6,
                                                                       np.abs(v) - 0.14))


_SDF = (_disc, _square, _triangle, _ring, _cross, _diamond, _star, _bar, _crescent, _dumbbell)


def _texture(kind: int, u, v, freq, rng: np.random.Generator) -> np.ndarray:
    """Mixing weight in [0, 1] between an object's two colours (``freq``: [n, 1, 1])."""
    r = np.hypot(u, v)
    if kind == 0:
        return np.zeros_like(u)
    if kind == 1:
        return (np.sin(freq * u) > 0).astype(np.float32)
    if kind == 2:
        return (np.sin(freq * u) * np.sin(freq * v) > 0).astype(np.float32)
    if kind == 3:
        return (np.cos(freq * u) * np.cos(freq * v) > 0.45).astype(np.float32)
    if kind == 4:
        return np.clip(r, 0, 1)
    if kind == 5:
        return (np.sin(freq * r) > 0).astype(np.float32)
    if kind == 6:
        return (np.sin(freq * v) > 0).astype(np.float32)
    if kind == 7:
        return (np.sin(freq * (u + v) * 0.7) > 0).astype(np.float32)
    if kind == 8:
        return (rng.random(u.shape) < 0.35).astype(np.float32)
    return np.clip(0.5 + 0.5 * u, 0, 1)


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """[..., 3] RGB in [0, 1] of hue (turns, any real), saturation and value in [0, 1]."""
    h = np.mod(h, 1.0)[..., None]
    k = np.mod(np.array([5.0, 3.0, 1.0]) + h * 6, 6)
    return v[..., None] - v[..., None] * s[..., None] * np.clip(np.minimum(k, 4 - k), 0, 1)


@dataclass(frozen=True)
class Layer:
    """One object per image, [n] arrays (colours [n, 3])."""

    shape: np.ndarray  # index into SHAPES
    texture: np.ndarray  # index into TEXTURES
    colour: np.ndarray
    colour2: np.ndarray
    cx: np.ndarray  # centre, in [-1, 1] image units
    cy: np.ndarray
    scale: np.ndarray  # object radius, image half-widths
    angle: np.ndarray  # radians
    freq: np.ndarray  # texture frequency (radians per local unit)
    alpha: np.ndarray  # opacity


def grid(side: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [-1, 1], x to the right and y down, [side, side] each."""
    axis = ((np.arange(side) + 0.5) / side * 2 - 1).astype(np.float32)
    return np.meshgrid(axis, axis, indexing="xy")


def _local(layer: Layer, rows: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Local object coordinates (u, v) of every pixel, [len(rows), side, side] float32."""
    x, y = grid(side)
    e = lambda a: a[rows].astype(np.float32)[:, None, None]  # noqa: E731
    dx, dy = (x[None] - e(layer.cx)) / e(layer.scale), (y[None] - e(layer.cy)) / e(layer.scale)
    cos, sin = np.cos(e(layer.angle)), np.sin(e(layer.angle))
    return cos * dx + sin * dy, cos * dy - sin * dx


def _grouped(keys: np.ndarray, like: np.ndarray, make) -> np.ndarray:
    """``make(key, rows)`` evaluated per group of equal ``keys``, gathered into one array
    shaped as ``like``."""
    out = np.empty_like(like)
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        out[rows] = make(int(key), rows)
    return out


def draw(canvas: np.ndarray, layer: Layer, rng: np.random.Generator) -> None:
    """Paint ``layer`` over ``canvas`` [N, S, S, 3] in place (anti-aliased coverage); images
    whose object has zero opacity are left alone."""
    side = canvas.shape[1]
    active = np.flatnonzero(layer.alpha > 0)
    if not len(active):
        return
    u, v = _local(layer, active, side)
    pixels = (layer.scale[active] * side / 2).astype(np.float32)[:, None, None]
    sdf = _grouped(layer.shape[active], u, lambda s, r: _SDF[s](u[r], v[r]))
    cover = np.clip(0.5 - sdf * pixels, 0, 1) * layer.alpha[active].astype(np.float32)[:, None, None]
    freq = layer.freq[active].astype(np.float32)[:, None, None]
    mix = _grouped(layer.texture[active], u,
                   lambda t, r: _texture(t, u[r], v[r], freq[r], rng))[..., None]
    c1 = layer.colour[active].astype(np.float32)[:, None, None]
    c2 = layer.colour2[active].astype(np.float32)[:, None, None]
    part = canvas[active]
    part += cover[..., None] * (c1 + mix * (c2 - c1) - part)
    canvas[active] = part


def background(n: int, side: int, rng: np.random.Generator, hue: np.ndarray,
               blobs: int = 3) -> np.ndarray:
    """[n, side, side, 3] backgrounds: a two-colour linear gradient of hue ``hue`` [n] plus
    ``blobs`` soft low-contrast blobs of random colours (clutter)."""
    x, y = grid(side)
    top = hsv_to_rgb(hue, rng.uniform(0.1, 0.6, n), rng.uniform(0.25, 0.9, n))
    bottom = hsv_to_rgb(hue + rng.normal(0, 0.08, n), rng.uniform(0.1, 0.6, n),
                        rng.uniform(0.25, 0.9, n))
    angle = rng.uniform(0, 2 * np.pi, n).astype(np.float32)[:, None, None]
    t = np.clip(0.5 + 0.5 * (np.cos(angle) * x + np.sin(angle) * y), 0, 1)[..., None]
    top, bottom = top.astype(np.float32)[:, None, None], bottom.astype(np.float32)[:, None, None]
    out = top + t * (bottom - top)
    for _ in range(blobs):
        cx, cy = (rng.uniform(-1, 1, (n, 1, 1)).astype(np.float32) for _ in range(2))
        width = rng.uniform(0.2, 0.7, (n, 1, 1)).astype(np.float32)
        peak = rng.uniform(0.1, 0.4, (n, 1, 1)).astype(np.float32)
        weight = peak * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width ** 2))
        colour = hsv_to_rgb(rng.random(n), rng.uniform(0, 0.8, n), rng.uniform(0, 1, n))
        out += weight[..., None] * (colour[:, None, None].astype(np.float32) - out)
    return out
