"""cifar10-sim and cifar100-sim: procedural 32x32 colour images WRITTEN in the CIFAR python layout.

CIFAR cannot be downloaded at run time; these stand-ins are written exactly as the python
release is laid out (spec kws_fl.md §6, §7.1) and read back by :class:`perloc.datasets.cifar.
Cifar10` / :class:`~perloc.datasets.cifar.Cifar100`::

    <out>/cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch, batches.meta
    <out>/cifar-100-python/train, test, meta
    <out>/.perloc-cifar10-sim.json (.perloc-cifar100-sim.json)     marker, written last

Each file is a Python 2 style protocol-2 pickle of a dict with bytes keys (``data`` uint8
N x 3072 in R, G, B planes, ``labels`` or ``fine_labels`` / ``coarse_labels``, ``filenames``,
``batch_label``), written by :func:`perloc.datasets.cifar_pickle.dump_batch`; the meta files
carry the real label names (and ``num_cases_per_batch`` / ``num_vis`` for CIFAR-10). The test
split holds the same number of images of every class; the training split too, shuffled over
its files (single files are not balanced), as in the release.

**Images** (:func:`render`, vectorised over a batch with :mod:`perloc.datasets.synth.shapes`):
a gradient background of random hue with soft colour blobs; 0-3 distractor objects (random
shape, texture and colour, smaller than the object); the class object, whose shape, texture
set and mean hue the class fixes and whose position, size, rotation, colour (hue jitter, the
neighbouring classes' hues overlap), texture frequency and contrast vary; sometimes an
occluding bar; then a global brightness / contrast change and Gaussian pixel noise of random
strength. Small, faint, occluded or noisy objects make a share of the images hard to tell, so
a small CNN learns the classes without reaching 100 %.

* **cifar10-sim**: class k draws shape k of :data:`~perloc.datasets.synth.shapes.SHAPES`
  with two class textures and a class hue.
* **cifar100-sim**: the real fine -> coarse grouping of CIFAR-100; the coarse class fixes the
  shape (coarse % 10) and whether the object comes as one or as a pair (coarse // 10), the
  fine class within its group of five fixes the texture and the hue, so fine classes of one
  superclass look alike, as in the real data. Its nuisances are milder (:data:`NUISANCE`).

Measured once (spec §5.7's LeNet, 2 conv + 3 fc; SGD lr 0.01, momentum 0.9, batch 64,
horizontal flips, one CPU thread; not a unit test): on the default cifar10-sim, 58 % test
accuracy after 5 epochs and 72 % after 10 (train 78 %, about 17 s an epoch); on the default
cifar100-sim, 17 % after 5 epochs and rising. Writing the default sizes takes about 4 s
(cifar10-sim) and 7 s (cifar100-sim) on 2 busy cores.

Deterministic for a seed; written atomically through
:func:`perloc.datasets.synth.staging.write_folder` (a no-op when up to date).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from perloc.bench.core.datasets import DatasetEntry, SynthRequest, register_dataset
from perloc.datasets.cifar import CIFAR10, CIFAR100, Cifar10, Cifar100, CifarLayout
from perloc.datasets.cifar_names import (
    CIFAR10_NAMES,
    CIFAR100_COARSE,
    CIFAR100_COARSE_OF,
    CIFAR100_FINE,
)
from perloc.datasets.cifar_pickle import dump_batch
from perloc.datasets.synth.shapes import SHAPES, TEXTURES, Layer, background, draw, hsv_to_rgb
from perloc.datasets.synth.staging import write_folder

GENERATOR_VERSION = 1
SIDE = 32
CHUNK = 2000  # images rendered at once


@dataclass(frozen=True)
class SimSize:
    name: str
    n_train: int
    n_test: int


SIZES = {
    "cifar10": {"smoke": SimSize("smoke", 500, 200), "default": SimSize("default", 10_000, 2000),
                "paper": SimSize("paper", 50_000, 10_000)},
    "cifar100": {"smoke": SimSize("smoke", 1000, 500),
                 "default": SimSize("default", 20_000, 4000),
                 "paper": SimSize("paper", 50_000, 10_000)},
}


@dataclass(frozen=True)
class Nuisance:
    """The ranges the nuisance variables are drawn from (uniform unless said)."""

    scale: tuple[float, float] = (0.3, 0.7)  # object radius, image half-widths
    offset: float = 0.4  # centre within +-offset
    rotation: float = 0.6  # radians, +-
    hue_jitter: float = 0.05  # normal sd, turns (class hues are 0.1 apart)
    contrast: tuple[float, float] = (0.3, 1.0)  # object opacity over the background
    distractors: int = 2  # at most
    distractor_scale: tuple[float, float] = (0.12, 0.35)
    occlusion: float = 0.2  # share of images with an occluding bar
    noise: tuple[float, float] = (0.01, 0.07)  # pixel noise sd


# CIFAR-100's classes are finer (five per shape and layout), so its nuisances are milder
NUISANCE = {"cifar10": Nuisance(),
            "cifar100": Nuisance(hue_jitter=0.04, contrast=(0.5, 1.0), distractors=1,
                                 occlusion=0.1, noise=(0.01, 0.05))}


@dataclass(frozen=True)
class Styles:
    """Per class: shape, two textures, hue (turns) and layout (0: one object, 1: a pair)."""

    shape: np.ndarray
    textures: np.ndarray  # [C, 2]
    hue: np.ndarray
    pair: np.ndarray


def cifar10_styles() -> Styles:
    k = np.arange(10)
    hue = np.array([0, 3, 6, 9, 2, 5, 8, 1, 4, 7]) / 10  # neighbouring hues on other shapes
    return Styles(k, np.stack([k % 10, (k * 3 + 1) % 10], axis=1), hue, np.zeros(10, dtype=int))


def cifar100_styles() -> Styles:
    coarse = np.array(CIFAR100_COARSE_OF)
    member = np.array([np.sum(coarse[:f] == coarse[f]) for f in range(100)])  # 0..4
    textures = np.stack([(2 * member + coarse) % 10, (2 * member + coarse + 5) % 10], axis=1)
    return Styles(coarse % 10, textures, (coarse * 0.13 + member * 0.2) % 1.0, coarse // 10)


def _object(labels: np.ndarray, styles: Styles, rng: np.random.Generator,
            nuisance: Nuisance) -> Layer:
    n = len(labels)
    hue = styles.hue[labels] + rng.normal(0, nuisance.hue_jitter, n)
    colour = hsv_to_rgb(hue, rng.uniform(0.45, 1, n), rng.uniform(0.45, 1, n))
    colour2 = hsv_to_rgb(hue + rng.uniform(0.3, 0.7, n), rng.uniform(0.2, 1, n),
                         rng.uniform(0.1, 0.9, n))
    texture = styles.textures[labels, rng.integers(0, 2, n)]
    scale = rng.uniform(*nuisance.scale, n)
    return Layer(styles.shape[labels], texture, colour, colour2,
                 rng.uniform(-nuisance.offset, nuisance.offset, n),
                 rng.uniform(-nuisance.offset, nuisance.offset, n), scale,
                 rng.uniform(-nuisance.rotation, nuisance.rotation, n),
                 rng.uniform(4.0, 9.0, n), rng.uniform(*nuisance.contrast, n))


def _random_layer(n: int, rng: np.random.Generator, scale: tuple[float, float],
                  shapes: np.ndarray, alpha: np.ndarray) -> Layer:
    colour = hsv_to_rgb(rng.random(n), rng.uniform(0, 1, n), rng.uniform(0.1, 1, n))
    colour2 = hsv_to_rgb(rng.random(n), rng.uniform(0, 1, n), rng.uniform(0.1, 1, n))
    return Layer(shapes, rng.integers(0, len(TEXTURES), n), colour, colour2,
                 rng.uniform(-0.85, 0.85, n), rng.uniform(-0.85, 0.85, n),
                 rng.uniform(*scale, n), rng.uniform(0, 2 * np.pi, n), rng.uniform(4.0, 9.0, n),
                 alpha)


def _pair(main: Layer, shift: np.ndarray) -> tuple[Layer, Layer]:
    """The object as two copies at 60 % size, side by side along a random direction."""
    scale = main.scale * 0.6
    dx, dy = np.cos(shift) * scale * 1.05, np.sin(shift) * scale * 1.05
    cx, cy = np.clip(main.cx, -0.35, 0.35), np.clip(main.cy, -0.35, 0.35)
    return (replace(main, cx=cx - dx, cy=cy - dy, scale=scale),
            replace(main, cx=cx + dx, cy=cy + dy, scale=scale))


def _select(single: Layer, double: Layer, pair: np.ndarray) -> Layer:
    """Per image: ``double``'s values where ``pair``, else ``single``'s."""
    out = {}
    for field in fields(Layer):
        a, b = getattr(single, field.name), getattr(double, field.name)
        out[field.name] = np.where(pair.reshape(-1, *[1] * (a.ndim - 1)), b, a)
    return Layer(**out)


def render(labels: np.ndarray, styles: Styles, rng: np.random.Generator,
           nuisance: Nuisance = Nuisance()) -> np.ndarray:
    """uint8 [N, 3072] CIFAR rows (R, G, B planes of 32 x 32) of images of ``labels``."""
    n = len(labels)
    canvas = background(n, SIDE, rng, rng.random(n))
    count = rng.integers(0, nuisance.distractors + 1, n)
    for slot in range(nuisance.distractors):
        draw(canvas, _random_layer(n, rng, nuisance.distractor_scale,
                                   rng.integers(0, len(SHAPES), n),
                                   (slot < count) * rng.uniform(0.4, 1.0, n)), rng)
    main = _object(labels, styles, rng, nuisance)
    pair = styles.pair[labels].astype(bool)
    first, second = _pair(main, rng.uniform(0, np.pi, n))
    draw(canvas, _select(main, first, pair), rng)
    draw(canvas, replace(second, alpha=second.alpha * pair), rng)
    occluded = rng.random(n) < nuisance.occlusion
    draw(canvas, _random_layer(n, rng, (0.35, 0.6), np.full(n, SHAPES.index("bar")),
                               occluded * rng.uniform(0.7, 1.0, n)), rng)
    gain = rng.uniform(0.7, 1.2, (n, 1, 1, 1)).astype(np.float32)
    canvas = (canvas - 0.5) * gain + (0.5 + rng.normal(0, 0.08, (n, 1, 1, 1))).astype(np.float32)
    sd = rng.uniform(*nuisance.noise, (n, 1, 1, 1)).astype(np.float32)
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * sd
    pixels = np.clip(np.rint(canvas * 255), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels.transpose(0, 3, 1, 2)).reshape(n, 3 * SIDE * SIDE)


# ------------------------------------------------------------------------------------ files


def _styles(layout: CifarLayout) -> Styles:
    return cifar10_styles() if layout is CIFAR10 else cifar100_styles()


def balanced_labels(n: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` labels, every class equally often (up to one), in random order."""
    return rng.permutation(np.arange(n) % n_classes)


def render_split(layout: CifarLayout, labels: np.ndarray, seed: int, split: str) -> np.ndarray:
    """uint8 [N, 3072] rows of ``labels``, rendered in chunks of ``CHUNK`` (each with its
    own generator, so a chunk's images do not depend on the others)."""
    styles, out = _styles(layout), np.empty((len(labels), 3 * SIDE * SIDE), dtype=np.uint8)
    for k, start in enumerate(range(0, len(labels), CHUNK)):
        rng = np.random.default_rng([seed, 0 if split == "train" else 1, k])
        out[start:start + CHUNK] = render(labels[start:start + CHUNK], styles, rng,
                                          NUISANCE[layout.name])
    return out


def _names(layout: CifarLayout) -> tuple[str, ...]:
    return CIFAR10_NAMES if layout is CIFAR10 else CIFAR100_FINE


def _batch(layout: CifarLayout, split: str, k: int, parts: int, rows: np.ndarray,
           labels: np.ndarray, first: int) -> dict:
    """One batch dict in the release's key layout (text as str; written as Python 2 str)."""
    names = _names(layout)
    what = "training" if split == "train" else "testing"
    batch = {"batch_label": f"{what} batch {k + 1} of {parts}",
             layout.label_key: [int(v) for v in labels], "data": rows,
             "filenames": [f"{names[v]}_s_{first + i:06d}.png" for i, v in enumerate(labels)]}
    if layout.coarse_key is not None:
        batch[layout.coarse_key] = [CIFAR100_COARSE_OF[int(v)] for v in labels]
    return batch


def _meta(layout: CifarLayout, per_file: int) -> dict:
    if layout is CIFAR10:
        return {"num_cases_per_batch": per_file, "label_names": list(CIFAR10_NAMES),
                "num_vis": 3 * SIDE * SIDE}
    return {"fine_label_names": list(CIFAR100_FINE), "coarse_label_names": list(CIFAR100_COARSE)}


def write_split(folder: Path, layout: CifarLayout, split: str, n: int, seed: int) -> list[int]:
    """Render and write ``split`` (``n`` balanced images over its files); the file sizes."""
    rng = np.random.default_rng([seed, 7, 0 if split == "train" else 1])
    labels = balanced_labels(n, layout.n_classes, rng)
    rows = render_split(layout, labels, seed, split)
    files = layout.files[split]
    sizes = []
    for k, (name, index) in enumerate(zip(files, np.array_split(np.arange(n), len(files)),
                                          strict=True)):
        first = int(index[0]) if len(index) else 0
        dump_batch(_batch(layout, split, k, len(files), rows[index], labels[index], first),
                   folder / name)
        sizes.append(len(index))
    return sizes


def sim_version(layout: CifarLayout, size: SimSize, seed: int) -> str:
    blob = json.dumps([GENERATOR_VERSION, layout.name, asdict(size),
                       asdict(NUISANCE[layout.name]), seed], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def write_cifar_sim(out_root: Path | str, variant: str = "cifar10",
                    size: SimSize | str = "default", seed: int = 0) -> Path:
    """Write ``<variant>-sim`` of ``size`` to ``out_root`` (atomically; a no-op when up to date).
    ``variant``: ``cifar10`` or ``cifar100``."""
    layout = {"cifar10": CIFAR10, "cifar100": CIFAR100}[variant]
    size = SIZES[variant][size] if isinstance(size, str) else size
    version = sim_version(layout, size, seed)

    def generate(tmp: Path) -> None:
        folder = tmp / layout.folder
        folder.mkdir()
        counts = {split: write_split(folder, layout, split, n, seed)
                  for split, n in (("train", size.n_train), ("test", size.n_test))}
        dump_batch(_meta(layout, max(counts["train"])), folder / layout.meta)
        marker = {"version": version, "generator_version": GENERATOR_VERSION, "seed": seed,
                  "size": asdict(size), "nuisance": asdict(NUISANCE[layout.name]),
                  "images": counts}
        (tmp / layout.marker).write_text(json.dumps(marker, indent=2) + "\n")

    return write_folder(out_root, layout.marker, version, generate)


def _synth(variant: str):
    def synth(request: SynthRequest) -> Path:
        """``bench data synth <variant>-sim``."""
        return write_cifar_sim(request.out, variant, request.size, seed=request.seed)

    return synth


register_dataset(DatasetEntry(
    "cifar10-sim", "stand-in", "Procedural 32x32 shapes, 10 classes, in the CIFAR-10 python "
    "layout (stands in for cifar10)", adapter=Cifar10, synth=_synth("cifar10"),
    sizes=tuple(SIZES["cifar10"])))
register_dataset(DatasetEntry(
    "cifar100-sim", "stand-in", "Procedural 32x32 shapes, 100 classes in 20 superclasses, in "
    "the CIFAR-100 python layout (stands in for cifar100)", adapter=Cifar100,
    synth=_synth("cifar100"), sizes=tuple(SIZES["cifar100"])))
