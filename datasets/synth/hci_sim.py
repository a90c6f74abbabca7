"""hci-sim: procedural photos whose colour statistics drift by decade, WRITTEN in HCI's layout.

HCI cannot be downloaded at run time; this stand-in is written as the real data is laid out
(spec dold_pointtnt.md §2.3, §7) and read back by :class:`perloc.datasets.hci.Hci`::

    <out>/decade_database/1930s/<10-digit id>.jpg ... 1970s/*.jpg     JPEGs of various sizes
    <out>/.perloc-hci-sim.json                                       marker, written last

265 photos per decade at the default and paper sizes (the real count), 40 at smoke; widths
and heights drawn independently from 160-320 px.

**Scenes** (the content, independent of the decade): a sky gradient over a ground plane at a
random horizon, then 3-7 soft ellipses and rectangles of random colours, drawn at 96 x 96
(numpy, vectorised over the images) and resized to the photo's size (Pillow bilinear).

**Decade cues** (:func:`style`), each a smooth function of a latent "style date"
z = decade index + N(0, 0.6) shared by the cues of one photo, plus its own noise, so
neighbouring decades overlap strongly and distant ones little (ordinal structure): the share
of monochrome / sepia prints (most in the 1930s, few by the 1970s), colour saturation
(rising), a hue cast that turns through warm yellow-orange, green-cyan and magenta as z
grows, contrast (rising), a faded black level (falling), film grain (falling) and vignetting
(falling). Nuisances: the scene itself, brightness, a random JPEG quality (60-95).

Measured once (not a unit test; 2 cores shared with another job): writing the default size
(1,325 photos) took 10 s. A softmax regression on 17 colour statistics per photo (channel
means and standard deviations, saturation, luminance percentiles, edge energy, centre minus
mean luminance, at 32 x 32) reached 55 % test accuracy on the "first" split (chance 20 %),
MAE 0.49 decades, every error but 13 of 265 one decade off.

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
from perloc.datasets.hci import DECADES, FOLDER, MARKER, Hci
from perloc.datasets.synth.staging import write_folder, write_marker

GENERATOR_VERSION = 1
WORK = 96  # scenes are drawn at WORK x WORK, then resized to the photo's size
SIDE_RANGE = (160, 320)
CHUNK = 64
SEPIA = np.array([1.0, 0.78, 0.55], dtype=np.float32)


@dataclass(frozen=True)
class SimSize:
    name: str
    per_decade: int


SIZES = {"smoke": SimSize("smoke", 40), "default": SimSize("default", 265),
         "paper": SimSize("paper", 265)}


def _col(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    return values.reshape(len(values), 1, 1, *values.shape[1:])


def scenes(n: int, rng: np.random.Generator) -> np.ndarray:
    """float32 [n, WORK, WORK, 3] in [0, 1]: sky, ground and random shapes."""
    grid = (np.arange(WORK, dtype=np.float32) + 0.5) / WORK
    gy, gx = np.meshgrid(grid, grid, indexing="ij")
    horizon = _col(rng.uniform(0.3, 0.75, n)) + _col(rng.uniform(-0.15, 0.15, n)) * (gx - 0.5)
    sky = _col(rng.uniform(0.3, 1, (n, 3))) * (1 - 0.4 * gy[..., None])
    ground = _col(rng.uniform(0.05, 0.7, (n, 3))) * (0.7 + 0.5 * gy[..., None])
    img = np.where((gy < horizon)[..., None], sky, ground)
    count = rng.integers(3, 8, n)
    for k in range(7):
        cx, cy = rng.uniform(0, 1, (2, n))
        rx, ry = rng.uniform(0.04, 0.3, (2, n))
        dx, dy = np.abs(gx - _col(cx)) / _col(rx), np.abs(gy - _col(cy)) / _col(ry)
        box = rng.random(n) < 0.5
        dist = np.where(_col(box), np.maximum(dx, dy), np.sqrt(dx * dx + dy * dy))
        mask = np.clip((1 - dist) * 8, 0, 1) * _col(k < count)
        shade = 0.75 + 0.25 * (1 - np.clip(dy, 0, 1))  # a little relief
        colour = _col(rng.uniform(0, 1, (n, 3))) * shade[..., None]
        img = img * (1 - mask[..., None]) + colour * mask[..., None]
    return img.astype(np.float32)


def style(img: np.ndarray, decade: np.ndarray, rng: np.random.Generator
          ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The decade's colour treatment of ``img`` [n, H, W, 3]; also the per-photo grain and
    vignetting strengths (applied at full size)."""
    n = len(img)
    z = np.clip(decade + rng.normal(0, 0.6, n), -0.7, 4.7)

    def cue(sd):
        return z + rng.normal(0, sd, n)

    lum = (img @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    sat = np.clip(0.3 + 0.14 * cue(0.8), 0.0, 1.2)
    img = lum + (img - lum) * _col(sat)[..., None]
    mono = (rng.random(n) < 1 / (1 + np.exp(1.8 * (cue(0.6) - 0.9)))) * rng.uniform(0.6, 1, n)
    img = img * (1 - _col(mono)[..., None]) + lum * SEPIA * _col(mono)[..., None]
    turn = 2 * np.pi * (0.12 + 0.13 * cue(0.7))
    strength = rng.uniform(0.03, 0.09, n)
    axes = np.array([[1, -0.5, -0.5], [0, 0.866, -0.866]], dtype=np.float32)
    cast = (np.cos(turn)[:, None] * axes[0] + np.sin(turn)[:, None] * axes[1]) * strength[:, None]
    img = img + _col(cast)
    contrast = np.clip(0.65 + 0.11 * cue(0.8), 0.4, 1.3)
    lift = np.clip(0.14 - 0.028 * cue(0.8), 0, 0.25)
    img = (img - 0.5) * _col(contrast)[..., None] + 0.5
    img = lift[:, None, None, None] + (1 - lift[:, None, None, None]) * img
    img = img * _col(rng.uniform(0.85, 1.15, n))[..., None]
    finish = {"grain": np.clip(0.085 - 0.016 * cue(0.8), 0.005, 0.15),
              "vignette": np.clip(0.55 - 0.11 * cue(0.8), 0, 0.9)}
    return np.clip(img, 0, 1), finish


def finish_photo(work: np.ndarray, size: tuple[int, int], grain: float, vignette: float,
                 rng: np.random.Generator) -> np.ndarray:
    """uint8 [h, w, 3]: one styled scene resized to ``size`` (w, h), vignetted and grainy."""
    w, h = size
    image = Image.fromarray(np.rint(work * 255).astype(np.uint8)).resize((w, h), Image.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32) / 255
    yy, xx = np.meshgrid(np.linspace(-1, 1, h, dtype=np.float32),
                         np.linspace(-1, 1, w, dtype=np.float32), indexing="ij")
    pixels = pixels * (1 - vignette * np.clip((xx * xx + yy * yy) / 2, 0, 1) ** 1.5)[..., None]
    grain_field = rng.standard_normal((h, w, 1), dtype=np.float32)  # mostly luminance grain
    pixels = pixels + grain * (grain_field + 0.3 * rng.standard_normal((h, w, 3), np.float32))
    return np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8)


def write_decade(folder: Path, label: int, n: int, seed: int) -> None:
    """Render and write the ``n`` photos of decade ``label`` under ``folder``."""
    rng = np.random.default_rng([seed, 31, label])
    ids = rng.choice(9 * 10 ** 9, size=n, replace=False) + 10 ** 9
    sizes = rng.integers(SIDE_RANGE[0], SIDE_RANGE[1] + 1, (n, 2))
    quality = rng.integers(60, 96, n)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        chunk = np.random.default_rng([seed, 32, label, start])
        styled, finish = style(scenes(stop - start, chunk), np.full(stop - start, label), chunk)
        for k in range(stop - start):
            pixels = finish_photo(styled[k], tuple(sizes[start + k]), finish["grain"][k],
                                  finish["vignette"][k], chunk)
            Image.fromarray(pixels).save(folder / f"{ids[start + k]}.jpg", "JPEG",
                                         quality=int(quality[start + k]))


def sim_version(size: SimSize, seed: int) -> str:
    blob = json.dumps([GENERATOR_VERSION, asdict(size), seed], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def write_hci_sim(out_root: Path | str, size: SimSize | str = "default", seed: int = 0) -> Path:
    """Write hci-sim of ``size`` to ``out_root`` (atomically; a no-op when up to date)."""
    size = SIZES[size] if isinstance(size, str) else size
    version = sim_version(size, seed)

    def generate(tmp: Path) -> None:
        for label, decade in enumerate(DECADES):
            folder = tmp / FOLDER / decade
            folder.mkdir(parents=True)
            write_decade(folder, label, size.per_decade, seed)
        write_marker(tmp, MARKER, version=version, generator_version=GENERATOR_VERSION,
                     seed=seed, size=asdict(size))

    return write_folder(out_root, MARKER, version, generate)


def _synth(request: SynthRequest) -> Path:
    """``bench data synth hci-sim``."""
    return write_hci_sim(request.out, request.size, seed=request.seed)


register_dataset(DatasetEntry(
    "hci-sim", "stand-in", "Procedural photos of various sizes whose colour statistics "
    "(sepia share, saturation, cast, contrast, grain, vignetting) drift over five decades, in "
    "HCI's decade_database layout (stands in for hci)", adapter=Hci, synth=_synth,
    sizes=tuple(SIZES)))
