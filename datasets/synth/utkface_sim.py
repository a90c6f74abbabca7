"""utkface-sim: procedural 200x200 faces WRITTEN in the UTKFace + CORAL-split layout.

UTKFace cannot be downloaded at run time; this stand-in is written as the real data is laid
out (spec dold_pointtnt.md §2.1, §7) and read back by :class:`perloc.datasets.utkface.UTKFace`::

    <out>/UTKFace/<age>_<gender>_<race>_<17-digit datetime>.jpg.chip.jpg     200 x 200 JPEGs
    <out>/utk_train.csv, <out>/utk_test.csv      header ",file,age", age = years - 21
    <out>/.perloc-utkface-sim.json                marker, written last

One training row names its file without the dot before ``jpg.chip.jpg``, as the real CSV
does (the file is written under that malformed name). Ages 21..60 are drawn like the real
set's (most between 25 and 40, a long tail to 60), every age present in both splits; gender
0/1 and race 0..4 with roughly the real shares.

**Age cues** (:func:`render`, numpy vectorised over a chunk of images), each driven by its
own noisy "apparent age" (the true age plus an independent N(0, 7 years) per cue, plus a
shared N(0, 3 years) "looks older or younger" offset, so no cue and not even all of them
together give the age exactly): the number (0-6) and darkness of forehead lines; crow's feet
at the eye corners; nasolabial folds; eye bags; hair grey level (dark to white, sigmoid
around 48 years) and, for men, a receding hairline; a wider jaw; smaller eye opening and
thinner lips; slightly darker, less saturated skin; a few age spots after 40.

**Nuisances**: race-driven skin tone and hair colour, gender-driven jaw, hair length,
eyebrows and beard shadow, per-person face size and feature placement; random translation
(+-7 %), scale (0.88-1.12), rotation (+-12 degrees); a directional lighting gradient, global
brightness, contrast and colour cast; gradient backgrounds and clothes of random colour;
Gaussian pixel noise; JPEG quality 55-95.

Measured once (not a unit test; 2 cores shared with another job): writing the default size
(3000 + 800) took 25 s, smoke 2.8 s. A ridge regression on 16x16 RGB pixels of the default
set gave a test MAE of 5.0 years (predicting the training mean: 8.8 years); a 4-block CNN at
64 x 64 (batch norm, Adam 2e-3, one thread) 6.0 years after 4 epochs.

Deterministic for a seed; written atomically through
:func:`perloc.datasets.synth.staging.write_folder` (a no-op when up to date).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from perloc.bench.core.datasets import DatasetEntry, SynthRequest, register_dataset
from perloc.datasets.synth.staging import write_folder, write_marker
from perloc.datasets.utkface import (
    AGE_OFFSET,
    CHIP_SIDE,
    CSV_FILES,
    IMAGE_FOLDER,
    MARKER,
    N_AGES,
    UTKFace,
)

GENERATOR_VERSION = 1
CHUNK = 48  # images rendered at once
WORK_SIDE = 100  # drawn at this size, then resized to 200 x 200
RACE_SHARE = (0.42, 0.19, 0.15, 0.17, 0.07)  # white, black, asian, indian, others
SKIN = np.array([(0.86, 0.70, 0.60), (0.45, 0.30, 0.22), (0.88, 0.73, 0.57),
                 (0.66, 0.47, 0.35), (0.76, 0.58, 0.45)], dtype=np.float32)
HAIR = np.array([(0.25, 0.17, 0.10), (0.08, 0.07, 0.06), (0.06, 0.05, 0.05),
                 (0.09, 0.07, 0.06), (0.14, 0.10, 0.08)], dtype=np.float32)


@dataclass(frozen=True)
class SimSize:
    name: str
    n_train: int
    n_test: int


SIZES = {"smoke": SimSize("smoke", 300, 120), "default": SimSize("default", 3000, 800),
         "paper": SimSize("paper", 13_147, 3_287)}


def draw_ages(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` ages 21..60 (every age once, the rest like UTKFace's 21-60 range), shuffled."""
    years = np.arange(AGE_OFFSET, AGE_OFFSET + N_AGES)
    weight = (np.exp(-0.5 * ((years - 29) / 6.5) ** 2) + 0.35 * np.exp(-0.5 * ((years - 52)
              / 7.0) ** 2) + 0.08)
    extra = rng.choice(years, size=max(n - N_AGES, 0), p=weight / weight.sum())
    return rng.permutation(np.concatenate([years[:min(n, N_AGES)], extra]))


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def _soft(d, edge):
    """1 inside (d < 1), 0 outside, with a soft edge of width ~1/edge."""
    return np.clip((1.0 - d) * edge, 0.0, 1.0)


def _paint(canvas, mask, colour):
    m = mask[..., None]
    canvas *= 1.0 - m
    canvas += m * colour


def render(age: np.ndarray, gender: np.ndarray, race: np.ndarray,
           rng: np.random.Generator, side: int = CHIP_SIDE, work: int = WORK_SIDE) -> np.ndarray:
    """uint8 [N, side, side, 3] RGB faces of ``age`` (years), ``gender`` (0 male), ``race``:
    drawn at ``work`` x ``work`` pixels, resized (bilinear), then pixel noise added."""
    n = len(age)
    f32 = np.float32

    def col(values):
        return np.asarray(values, dtype=f32).reshape(n, 1, 1, *np.shape(values)[1:])

    shared = rng.normal(0, 3.0, n)
    cue = {k: np.clip((age + shared + rng.normal(0, 7.0, n) - 21) / 39, -0.2, 1.2)
           for k in ("lines", "crow", "fold", "bags", "grey", "jaw", "eyes", "skin", "spots")}
    male = gender == 0
    grid = (np.arange(work, dtype=f32) + 0.5) / work * 2 - 1
    gy, gx = np.meshgrid(grid, grid, indexing="ij")
    theta = rng.uniform(-0.21, 0.21, n)
    scale = rng.uniform(0.88, 1.12, n)
    tx, ty = rng.uniform(-0.07, 0.07, (2, n))
    c, s = col(np.cos(theta)), col(np.sin(theta))
    x0, y0 = (gx - col(tx)) / col(scale), (gy - col(ty)) / col(scale)
    x, y = c * x0 + s * y0, -s * x0 + c * y0

    # background: a gradient between two random colours, and clothes at the bottom
    bg1, bg2 = rng.uniform(0.1, 0.95, (2, n, 3))
    mix = col(rng.uniform(0, 1, n)) * (gx + 1) / 2 + col(rng.uniform(0, 1, n)) * (gy + 1) / 2
    canvas = col(bg1) + (col(bg2) - col(bg1)) * np.clip(mix, 0, 1)[..., None]
    canvas = canvas.astype(f32)
    _paint(canvas, _soft(((x / 1.1) ** 2 + ((y - 1.45) / 0.62) ** 2), 20),
           col(rng.uniform(0.05, 0.9, (n, 3))))

    skin = SKIN[race] + rng.normal(0, 0.035, (n, 3)).astype(f32)
    aged = 0.10 * cue["skin"][:, None]
    skin = skin * (1 - aged) + aged * skin.mean(1, keepdims=True)
    skin = np.clip(skin, 0.05, 1)
    grey = _sig((cue["grey"] * 39 + 21 - 48) / 4.5)
    hair = HAIR[race] * rng.uniform(0.7, 1.6, (n, 1)) + (rng.random(n) < 0.12)[:, None] * 0.35
    hair = np.clip(hair * (1 - grey[:, None]) + grey[:, None] * rng.uniform(0.62, 0.85, (n, 1)),
                   0, 1).astype(f32)

    fw = rng.uniform(0.50, 0.60, n) * np.where(male, 1.04, 0.97)
    fh = rng.uniform(0.66, 0.76, n)
    fy = rng.uniform(-0.02, 0.08, n)
    jaw = np.clip(0.80 + 0.16 * cue["jaw"] + np.where(male, 0.06, 0) + rng.normal(0, 0.02, n),
                  0.7, 1.15)
    # neck, hair behind the head (long for most women), then the face
    _paint(canvas, _soft(((x / (col(fw) * 0.55)) ** 2 + ((y - col(fy) - 0.85) / 0.45) ** 2), 25),
           col(skin * 0.85))
    long_hair = (~male) & (rng.random(n) < 0.8)
    back = ((x / (col(fw) * 1.25)) ** 2 + ((y - col(fy) + np.where(col(long_hair), -0.3, 0.12))
            / (col(fh) * np.where(col(long_hair), 1.55, 1.05))) ** 2)
    _paint(canvas, _soft(back, 30) * np.where(col(long_hair), 1.0, (y < col(fy)).astype(f32)),
           col(hair))
    fx = x / (col(fw) * np.where(y > col(fy), col(jaw), 1.0))
    fyy = (y - col(fy)) / col(fh)
    face = _soft(fx ** 2 + fyy ** 2, 40)
    _paint(canvas, face, col(skin))
    shade = 1 - 0.18 * np.clip(fx ** 2 + fyy ** 2, 0, 1) ** 2  # rounder look
    canvas *= np.where(face[..., None] > 0, shade[..., None], 1.0)

    def darken(mask, amount):
        canvas[...] *= 1 - (mask * amount)[..., None]

    ey = col(fy) - 0.12 * col(fh) / 0.7
    ex = 0.21 * col(fw) / 0.55
    # forehead lines: count and darkness from the age
    n_lines = np.clip(np.round(cue["lines"] * 6 + rng.normal(0, 0.5, n)), 0, 6)
    strength = np.clip(0.1 + 0.35 * cue["lines"], 0.05, 0.5)
    wave = 0.012 * np.sin(x * col(rng.uniform(6, 12, n)) + col(rng.uniform(0, 6, n)))
    for j in range(6):
        yj = ey - 0.17 - 0.045 * j
        line = np.exp(-(((y - yj - wave) / 0.012) ** 2)) * (np.abs(x) < 0.30 * col(fw) / 0.55)
        darken(line * face, col(strength * (j < n_lines)))
    # crow's feet, eye bags and nasolabial folds
    crow = np.clip(0.4 * cue["crow"] - 0.08, 0, 0.45)
    bags = np.clip(0.35 * cue["bags"] - 0.05, 0, 0.35)
    fold = np.clip(0.45 * cue["fold"] - 0.05, 0, 0.45)
    for sign in (-1.0, 1.0):
        cx = sign * ex
        for angle in (-0.35, 0.0, 0.35):
            u, v = (sign * (x - cx) - 0.085), (y - ey)
            dist = np.abs(-np.sin(angle) * u + np.cos(angle) * v)
            along = np.cos(angle) * u + np.sin(angle) * v
            darken(np.exp(-((dist / 0.011) ** 2)) * ((along > 0) & (along < 0.08)) * face,
                   col(crow))
        arc = ((x - cx) / 0.08) ** 2 + ((y - ey - 0.035) / 0.035) ** 2
        darken(np.exp(-(((arc - 1) / 0.25) ** 2)) * (y > ey + 0.035) * face, col(bags))
        t = (y - ey - 0.17) / 0.22
        curve = sign * (x - sign * (0.08 + 0.07 * t) * col(fw) / 0.55)
        darken(np.exp(-((curve / 0.013) ** 2)) * ((t > 0) & (t < 1)) * face, col(fold))
    # age spots
    n_spots = np.clip(np.round((cue["spots"] - 0.45) * 10 + rng.normal(0, 1, n)), 0, 5)
    for k in range(5):
        sx, sy = rng.uniform(-0.3, 0.3, n), rng.uniform(-0.3, 0.25, n)
        spot = _soft(((x - col(sx * fw)) ** 2 + (y - col(fy + sy * fh)) ** 2) / 0.018 ** 2, 3)
        darken(spot * face, col(0.25 * (k < n_spots)))
    # hairline (recedes with age for men), eyebrows, eyes, nose, mouth, beard shadow
    recede = np.where(male, np.clip(0.25 * cue["grey"] + rng.normal(0, 0.05, n) - 0.05, 0, 0.3),
                      0) * rng.uniform(0.5, 1.2, n)
    hairline = col(fy - 0.62 * fh + recede) + 0.35 * x ** 2
    _paint(canvas, face * _soft(1 + (y - hairline) / 0.015, 1) * (y < hairline), col(hair))
    brow_w = np.where(male, 0.022, 0.013) * rng.uniform(0.8, 1.2, n)
    eye_open = np.clip(0.042 * (1.1 - 0.35 * cue["eyes"]) * rng.uniform(0.85, 1.15, n), 0.015,
                       0.06)
    for sign in (-1.0, 1.0):
        cx = sign * ex
        brow = (((x - cx) / 0.1) ** 2 + ((y - ey + 0.085 + 0.03 * ((x - cx) / 0.1) ** 2)
                                         / col(brow_w)) ** 2)
        _paint(canvas, _soft(brow, 4), col(hair * 0.8))
        eye = ((x - cx) / 0.075) ** 2 + ((y - ey) / col(eye_open)) ** 2
        _paint(canvas, _soft(eye, 6), col(np.full((n, 3), 0.93, f32)))
        iris = ((x - cx - col(rng.normal(0, 0.01, n))) ** 2 + (y - ey) ** 2) / 0.03 ** 2
        _paint(canvas, _soft(iris, 6) * _soft(eye, 6), col(HAIR[race] * 1.5))
    nose = (x / 0.05) ** 2 + ((y - ey - 0.2) / 0.03) ** 2
    darken(_soft(nose, 3), 0.25)
    my = ey + 0.34 * col(fh) / 0.7
    lips = np.clip(0.035 * (1.1 - 0.4 * cue["eyes"]) * rng.uniform(0.8, 1.2, n), 0.012, 0.05)
    lip_colour = skin * np.array([0.85, 0.55, 0.55], f32) * np.where(male, 1.0, 0.9)[:, None]
    _paint(canvas, _soft((x / 0.14) ** 2 + ((y - my) / col(lips)) ** 2, 5), col(lip_colour))
    beard = male & (rng.random(n) < 0.35)
    chin = _soft((x / (col(fw) * col(jaw) * 0.95)) ** 2 + ((y - my - 0.06) / 0.25) ** 2, 8)
    _paint(canvas, chin * face * (y > my - 0.06) * col(beard * 0.45), col(hair))

    # lighting, colour cast, noise
    angle = rng.uniform(0, 2 * np.pi, n)
    light = 1 + col(rng.uniform(0, 0.35, n)) * (col(np.cos(angle)) * gx + col(np.sin(angle)) * gy)
    canvas *= light[..., None] * col(rng.uniform(0.8, 1.15, n))[..., None]
    canvas *= col(1 + rng.normal(0, 0.04, (n, 3)))
    mean = canvas.mean(axis=(1, 2, 3), keepdims=True)
    canvas = (canvas - mean) * col(rng.uniform(0.8, 1.2, n))[..., None] + mean
    pixels = np.clip(np.rint(canvas * 255), 0, 255).astype(np.uint8)
    if work != side:
        pixels = np.stack([np.asarray(Image.fromarray(p).resize((side, side), Image.BILINEAR))
                           for p in pixels])
    noise = rng.standard_normal(pixels.shape, dtype=f32) * (255 * col(rng.uniform(0.005, 0.03, n)))[
        ..., None]
    return np.clip(np.rint(pixels + noise), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------ files


def _people(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (draw_ages(n, rng), rng.integers(0, 2, n),
            rng.choice(5, size=n, p=np.array(RACE_SHARE) / sum(RACE_SHARE)))


def write_split(tmp: Path, split: str, n: int, seed: int, first: int,
                malformed: bool) -> list[str]:
    """Render and write ``n`` images of ``split``; the CSV lines (without the header)."""
    rng = np.random.default_rng([seed, 11, 0 if split == "train" else 1])
    age, gender, race = _people(n, rng)
    stamps = 20170109000000000 + (first + np.arange(n)) * 1_000_003 + rng.integers(0, 999_999, n)
    qualities = rng.integers(55, 96, n)
    names = [f"{a}_{g}_{r}_{t}.jpg.chip.jpg" for a, g, r, t in zip(age, gender, race, stamps,
                                                                  strict=True)]
    if malformed:
        names[0] = names[0].replace(".jpg.chip.jpg", "jpg.chip.jpg")
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        chunk_rng = np.random.default_rng([seed, 12, 0 if split == "train" else 1, start])
        pixels = render(age[start:stop], gender[start:stop], race[start:stop], chunk_rng)
        for k in range(stop - start):
            Image.fromarray(pixels[k]).save(tmp / IMAGE_FOLDER / names[start + k], "JPEG",
                                            quality=int(qualities[start + k]))
    original = rng.permutation(n) + first  # the real CSVs keep the full table's row index
    return [f"{o},{name},{a - AGE_OFFSET}" for o, name, a in zip(original, names, age,
                                                                  strict=True)]


def sim_version(size: SimSize, seed: int) -> str:
    blob = json.dumps([GENERATOR_VERSION, asdict(size), seed], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def write_utkface_sim(out_root: Path | str, size: SimSize | str = "default",
                      seed: int = 0) -> Path:
    """Write utkface-sim of ``size`` to ``out_root`` (atomically; a no-op when up to date)."""
    size = SIZES[size] if isinstance(size, str) else size
    version = sim_version(size, seed)

    def generate(tmp: Path) -> None:
        (tmp / IMAGE_FOLDER).mkdir()
        first = 0
        for split, n in (("train", size.n_train), ("test", size.n_test)):
            lines = write_split(tmp, split, n, seed, first, malformed=split == "train")
            (tmp / CSV_FILES[split]).write_text(",file,age\n" + "\n".join(lines) + "\n")
            first += n
        write_marker(tmp, MARKER, version=version, generator_version=GENERATOR_VERSION,
                     seed=seed, size=asdict(size))

    return write_folder(out_root, MARKER, version, generate)


def _synth(request: SynthRequest) -> Path:
    """``bench data synth utkface-sim``."""
    return write_utkface_sim(request.out, request.size, seed=request.seed)


register_dataset(DatasetEntry(
    "utkface-sim", "stand-in", "Procedural 200x200 faces whose wrinkles, hair, skin and shape "
    "change with age 21-60, in the UTKFace + CORAL CSV layout (stands in for utkface)",
    adapter=UTKFace, synth=_synth, sizes=tuple(SIZES)))
