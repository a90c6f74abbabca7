"""biwi-sim: a rendered 3D head proxy under yaw/pitch/roll, WRITTEN as FSA-Net's BIWI archives.

BIWI cannot be downloaded at run time; this stand-in is written as FSA-Net's protocol-2
files are (spec dold_pointtnt.md §2.2, §7) and read back by :class:`perloc.datasets.biwi.Biwi`::

    <out>/BIWI_train.npz, <out>/BIWI_test.npz    image (N, 64, 64, 3) uint8 BGR,
                                                 pose (N, 3) float64 [yaw, pitch, roll] degrees,
                                                 img_size (64)
    <out>/.perloc-biwi-sim.json                  marker, written last

**Rendering** (:func:`render`, numpy, vectorised over a chunk of images): the head is a
union of ellipsoids in its own frame (x towards the image's right, y up, z towards the camera
at zero pose): the skull, a hair cap set back and up, a nose, two ears, two eyes and a mouth.
Each is rotated by R = Rz(roll) Rx(pitch) Ry(yaw) (yaw about the vertical axis, positive
turning the nose to the image's right; pitch about the horizontal axis, positive lowering the
nose; roll about the viewing axis, positive counter-clockwise), then ray-cast orthographically
per pixel (the nearest surface wins: a z-buffer) and Lambert-shaded, at :data:`SUPER` x the
side averaged down to 64 x 64 (1 by default, for speed). The pose is therefore visible in the
nose direction, the eye positions and foreshortening, and which ear shows.

**Poses** like BIWI's: yaw ~ N(0, 32) within [-75, 75], pitch ~ N(0, 18) within [-60, 60],
roll ~ N(0, 12) within [-50, 50] degrees (truncated normals: denser near 0).
**Nuisances**: head size and proportions, nose length, skin and hair colour, hair extent,
translation (+-8 % of the crop) and scale (0.95-1.2) as a loose face-detector crop gives,
light direction and ambient level, a gradient background with a few blobs, Gaussian pixel
noise and a random brightness.

Measured once (not a unit test; 2 cores shared with another job): writing the default size
(3000 + 800) took 13 s. Test MAEs (yaw / pitch / roll, degrees) on the default set: predicting
the training mean 24.3 / 14.4 / 9.5; ridge regression on 16x16 RGB pixels 18.2 / 12.1 / 6.6;
a 4-block CNN at 64 x 64 (no normalisation, Adam 1e-3, one thread) 17.6 / 12.1 / 8.4 after
8 epochs and still falling: learnable, far from solved at that budget.

Deterministic for a seed; written atomically through
:func:`perloc.datasets.synth.staging.write_folder` (a no-op when up to date).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from perloc.bench.core.datasets import DatasetEntry, SynthRequest, register_dataset
from perloc.datasets.biwi import FILES, IMAGE_SIDE, MARKER, Biwi
from perloc.datasets.synth.staging import write_folder, write_marker

GENERATOR_VERSION = 1
CHUNK = 64  # images rendered at once
SUPER = 1  # rendered at SUPER x the side, then averaged (1: as is)
POSE_SD = (32.0, 18.0, 12.0)  # yaw, pitch, roll (degrees)
POSE_LIMIT = (75.0, 60.0, 50.0)


@dataclass(frozen=True)
class SimSize:
    name: str
    n_train: int
    n_test: int


SIZES = {"smoke": SimSize("smoke", 300, 120), "default": SimSize("default", 3000, 800),
         "paper": SimSize("paper", 10_063, 5_065)}


def draw_poses(n: int, rng: np.random.Generator) -> np.ndarray:
    """float64 [n, 3] yaw, pitch, roll (degrees): truncated normals around 0."""
    out = np.empty((n, 3))
    for k, (sd, limit) in enumerate(zip(POSE_SD, POSE_LIMIT, strict=True)):
        values = rng.normal(0, sd, n)
        while (bad := np.abs(values) > limit).any():
            values[bad] = rng.normal(0, sd, int(bad.sum()))
        out[:, k] = values
    return out


def rotation(pose: np.ndarray) -> np.ndarray:
    """[n, 3, 3] R = Rz(roll) Rx(pitch) Ry(yaw) of pose [n, 3] in degrees (head -> camera)."""
    yaw, pitch, roll = np.radians(pose).T
    one, zero = np.ones_like(yaw), np.zeros_like(yaw)

    def mat(rows):
        return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)

    ry = mat([[np.cos(yaw), zero, np.sin(yaw)], [zero, one, zero],
              [-np.sin(yaw), zero, np.cos(yaw)]])
    rx = mat([[one, zero, zero], [zero, np.cos(pitch), -np.sin(pitch)],
              [zero, np.sin(pitch), np.cos(pitch)]])
    rz = mat([[np.cos(roll), -np.sin(roll), zero], [np.sin(roll), np.cos(roll), zero],
              [zero, zero, one]])
    return rz @ rx @ ry


def _hit(u, v, centre, axes, rot):
    """Front-surface depth t [n, H, W] (-inf: missed) and world normal [n, H, W, 3] of the
    ellipsoid ``centre`` [n, 3] (head frame), semi-axes ``axes`` [n, 3], rotated by ``rot``."""
    world = np.einsum("nij,nj->ni", rot, centre).astype(np.float32)
    m = np.einsum("nij,nj,nkj->nik", rot, 1.0 / axes ** 2, rot).astype(np.float32)  # R D R^T
    du, dv = u - world[:, 0, None, None], v - world[:, 1, None, None]

    def e(i, j):
        return m[:, i, j, None, None]

    a = e(2, 2)
    b = 2 * (e(0, 2) * du + e(1, 2) * dv)
    c = e(0, 0) * du * du + 2 * e(0, 1) * du * dv + e(1, 1) * dv * dv - 1
    disc = b * b - 4 * a * c
    t = (np.sqrt(np.maximum(disc, 0)) - b) / (2 * a)  # the larger root faces the camera
    depth = np.where(disc > 0, t + world[:, 2, None, None], -np.inf)
    normal = np.stack([e(i, 0) * du + e(i, 1) * dv + e(i, 2) * t for i in range(3)], axis=-1)
    normal /= np.sqrt((normal * normal).sum(-1, keepdims=True)) + 1e-6
    return depth, normal


def render(pose: np.ndarray, rng: np.random.Generator, side: int = IMAGE_SIDE) -> np.ndarray:
    """uint8 [N, side, side, 3] RGB images of heads at ``pose`` [N, 3] (degrees)."""
    n, big = len(pose), side * SUPER
    rot = rotation(pose)
    scale = rng.uniform(0.95, 1.2, n)
    grid = ((np.arange(big) + 0.5) / big * 2 - 1).astype(np.float32)
    gv, gu = np.meshgrid(-grid, grid, indexing="ij")
    tx, ty = rng.uniform(-0.08, 0.08, (2, n))
    u = ((gu[None] - tx[:, None, None]) / scale[:, None, None]).astype(np.float32)
    v = ((gv[None] - ty[:, None, None]) / scale[:, None, None]).astype(np.float32)

    def vec(*cols):
        return np.stack([np.broadcast_to(np.asarray(c, float), (n,)) for c in cols], axis=1)

    hw, hh, hd = rng.uniform(0.48, 0.56, n), rng.uniform(0.6, 0.7, n), rng.uniform(0.52, 0.6, n)
    skin = np.clip(rng.choice([[0.85, 0.68, 0.57], [0.62, 0.45, 0.33], [0.42, 0.29, 0.21]],
                              size=n) + rng.normal(0, 0.04, (n, 3)), 0.05, 1)
    hair = np.clip(rng.uniform(0.03, 0.35, (n, 1)) * [1.0, 0.8, 0.65] +
                   (rng.random((n, 1)) < 0.1) * 0.45, 0, 1)
    nose_len = rng.uniform(0.15, 0.22, n)
    cap = rng.uniform(0.0, 0.12, n)  # how far the hair comes forward
    parts = [  # centre (head frame), semi-axes, colour
        (vec(0, 0, 0), vec(hw, hh, hd), skin),
        (vec(0, 0.12 + cap * 0.3, -0.1 + cap), vec(hw * 1.04, hh * 0.9, hd * 0.98), hair),
        (vec(0, -0.05 * hh / 0.65, hd * 0.93), vec(0.075, 0.11, nose_len), skin * [0.95, 0.8, 0.75]),
        (vec(hw * 0.97, -0.02, -0.02), vec(0.07, 0.14, 0.1), skin * 0.7),
        (vec(-hw * 0.97, -0.02, -0.02), vec(0.07, 0.14, 0.1), skin * 0.7),
        (vec(0.19, 0.13, hd * 0.8), vec(0.095, 0.055, 0.07), np.full((n, 3), 0.05)),
        (vec(-0.19, 0.13, hd * 0.8), vec(0.095, 0.055, 0.07), np.full((n, 3), 0.05)),
        (vec(0, -0.33, hd * 0.74), vec(0.14, 0.035, 0.06), skin * [0.75, 0.4, 0.4]),
    ]
    depth = np.full((n, big, big), -np.inf, dtype=np.float32)
    normal = np.zeros((n, big, big, 3), dtype=np.float32)
    colour = np.zeros((n, big, big, 3), dtype=np.float32)
    for centre, axes, rgb in parts:
        d, nrm = _hit(u, v, centre, axes, rot)
        front = d > depth
        depth = np.where(front, d, depth)
        normal = np.where(front[..., None], nrm, normal)
        colour = np.where(front[..., None], rgb[:, None, None, :].astype(np.float32), colour)
    light = rng.normal(0, 1, (n, 3)) * [0.6, 0.6, 0.3] + [0, 0, 1]
    light /= np.linalg.norm(light, axis=1, keepdims=True)
    ambient = rng.uniform(0.25, 0.5, n)
    light = light.astype(np.float32)
    lambert = np.clip((normal * light[:, None, None, :]).sum(-1), 0, 1)
    shade = ambient[:, None, None] + (1 - ambient[:, None, None]) * lambert
    face = colour * shade[..., None]
    bg0, bg1 = rng.uniform(0.05, 0.9, (2, n, 3))
    mix = np.clip((gu + 1) / 2 * rng.uniform(0, 1, (n, 1, 1)) + (gv + 1) / 2
                  * rng.uniform(0, 1, (n, 1, 1)), 0, 1)[..., None]
    back = bg0[:, None, None] + (bg1 - bg0)[:, None, None] * mix
    for _ in range(3):
        cx, cy, r = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n), rng.uniform(0.1, 0.4, n)
        blob = (((gu - cx[:, None, None]) ** 2 + (gv - cy[:, None, None]) ** 2)
                < r[:, None, None] ** 2)[..., None]
        back = np.where(blob, rng.uniform(0, 1, (n, 1, 1, 3)), back)
    image = np.where(np.isfinite(depth)[..., None], face, back)
    image = image.reshape(n, side, SUPER, side, SUPER, 3).mean(axis=(2, 4))
    image = image * rng.uniform(0.75, 1.2, (n, 1, 1, 1))
    image += rng.normal(0, 1, image.shape) * rng.uniform(0.01, 0.05, (n, 1, 1, 1))
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


def write_split(path: Path, split: str, n: int, seed: int) -> None:
    """Render ``n`` images of ``split`` and write FSA-Net's archive (BGR images)."""
    pose = draw_poses(n, np.random.default_rng([seed, 21, 0 if split == "train" else 1]))
    image = np.empty((n, IMAGE_SIDE, IMAGE_SIDE, 3), dtype=np.uint8)
    for k, start in enumerate(range(0, n, CHUNK)):
        rng = np.random.default_rng([seed, 22, 0 if split == "train" else 1, k])
        image[start:start + CHUNK] = render(pose[start:start + CHUNK], rng)[..., ::-1]
    with path.open("wb") as handle:
        np.savez(handle, image=image, pose=pose, img_size=np.array(IMAGE_SIDE))


def sim_version(size: SimSize, seed: int) -> str:
    blob = json.dumps([GENERATOR_VERSION, asdict(size), seed], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def write_biwi_sim(out_root: Path | str, size: SimSize | str = "default", seed: int = 0) -> Path:
    """Write biwi-sim of ``size`` to ``out_root`` (atomically; a no-op when up to date)."""
    size = SIZES[size] if isinstance(size, str) else size
    version = sim_version(size, seed)

    def generate(tmp: Path) -> None:
        for split, n in (("train", size.n_train), ("test", size.n_test)):
            write_split(tmp / FILES[split], split, n, seed)
        write_marker(tmp, MARKER, version=version, generator_version=GENERATOR_VERSION,
                     seed=seed, size=asdict(size))

    return write_folder(out_root, MARKER, version, generate)


def _synth(request: SynthRequest) -> Path:
    """``bench data synth biwi-sim``."""
    return write_biwi_sim(request.out, request.size, seed=request.seed)


register_dataset(DatasetEntry(
    "biwi-sim", "stand-in", "A rendered ellipsoid head proxy (nose, eyes, ears, hair) under "
    "BIWI-like yaw/pitch/roll, 64x64 BGR, in FSA-Net's npz layout (stands in for biwi)",
    adapter=Biwi, synth=_synth, sizes=tuple(SIZES)))
