"""Paper I's three datasets as one task's data: label spaces, training batches, test batches.

Each adapter (:mod:`~perloc.datasets.utkface`, :mod:`~perloc.datasets.biwi`,
:mod:`~perloc.datasets.hci`) gives rows, ``images(rows, side)`` (uint8 RGB) and
``targets(rows)`` (float [N, D]); this module adds what the methods share:

* :data:`LABEL_SPACES`: per dataset the label dimensions, their unit, RvC's base classes per
  dimension (UTK: the 40 ages 21..60; BIWI: 151 one-degree classes -75..75 per angle; HCI:
  the 5 decades 0..4) and whether the target is ``continuous`` (decoded by expected values)
  or ``ordinal`` (decoded by MAP over the base classes);
* :class:`OrdinalTraining`: the training rows at the profile's input side (BIWI doubled once
  with mirrored copies whose yaw and roll are negated, spec §1.8), per-channel statistics,
  augmented batches and the test rows for the per-epoch monitoring curve (the paper monitors
  on the test set; nothing is selected with it: the last epoch is evaluated);
* :class:`OrdinalTest`: the test rows as harness batches: ``image`` float32 (normalised with
  the training statistics), target ``target`` float64 [B, D] and ``target_class`` (the decade
  index for HCI, -1 elsewhere), meta ``file``.

Augmentation (spec §1.8 and gotcha 10; one random affine warp per image, batched with
``affine_grid``/``grid_sample``, zero fill): isotropic scale U[0.7, 1.4], translation
U[-20, 20] source pixels (as a fraction of the source side: 20/200 for UTK, 20/64 for BIWI,
20/256 for HCI, whose photos vary), horizontal flip (UTK, HCI; not BIWI), rotation
U[-15, 15] degrees (HCI).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from perloc.bench.core import device
from perloc.bench.core.batch import Batch

ORDINAL_DATA_VERSION = 1


@dataclass(frozen=True)
class LabelSpace:
    """What a dataset's targets are (see the module doc)."""

    name: str
    dims: tuple[str, ...]
    unit: str
    base: tuple[np.ndarray, ...]
    kind: str  # "continuous" | "ordinal"
    shift: float  # translation range as a fraction of the side (20 source pixels)
    flip: bool
    rotate: float  # degrees
    mirror_negates: tuple[int, ...] = ()  # dims negated by a mirrored copy (BIWI yaw, roll)


LABEL_SPACES = {
    "utkface": LabelSpace("utkface", ("age",), "years", (np.arange(21, 61),), "continuous",
                          20 / 200, True, 0.0),
    "biwi": LabelSpace("biwi", ("yaw", "pitch", "roll"), "degrees",
                       (np.arange(-75, 76),) * 3, "continuous", 20 / 64, False, 0.0,
                       mirror_negates=(0, 2)),
    "hci": LabelSpace("hci", ("decade",), "decades", (np.arange(5),), "ordinal", 20 / 256,
                      True, 15.0),
}


def label_space(name: str) -> LabelSpace:
    return LABEL_SPACES[name]


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 [N, 3, H, W] images scaled to [0, 1]."""
    x = images.astype(np.float64) / 255.0
    return x.mean(axis=(0, 2, 3)), np.maximum(x.std(axis=(0, 2, 3)), 1e-6)


def normalise(images: np.ndarray, stats: tuple[np.ndarray, np.ndarray]) -> Tensor:
    """uint8 [N, 3, H, W] -> float32 ``(x / 255 - mean) / std``, a host (CPU) tensor."""
    mean, std = (device.host_tensor(v, dtype=torch.float32).reshape(1, 3, 1, 1) for v in stats)
    return (device.host_tensor(images).float() / 255.0 - mean) / std


def random_affine(x: Tensor, space: LabelSpace, generator: torch.Generator) -> Tensor:
    """One random scale / translation / flip / rotation per image of ``x`` [B, 3, H, W]
    (``generator`` on ``x``'s device)."""
    b = len(x)

    def uniform(lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=generator, device=x.device)

    zoom = uniform(0.7, 1.4)
    angle = uniform(-space.rotate, space.rotate) * (math.pi / 180.0)
    flip = (torch.where(torch.rand(b, generator=generator, device=x.device) < 0.5, -1.0, 1.0)
            if space.flip else torch.ones(b, device=x.device))
    shift = torch.stack([uniform(-space.shift, space.shift),
                         uniform(-space.shift, space.shift)], dim=1) * 2.0
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos * flip, -sin, -shift[:, 0]], dim=1),
                         torch.stack([sin * flip, cos, -shift[:, 1]], dim=1)], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _mirror(images: np.ndarray, targets: np.ndarray, space: LabelSpace):
    if not space.mirror_negates:
        return images, targets
    flipped = targets.copy()
    flipped[:, list(space.mirror_negates)] *= -1.0
    return (np.concatenate([images, images[..., ::-1]]), np.concatenate([targets, flipped]))


class OrdinalTraining:
    """Training rows of one dataset, seed and input side (see the module doc)."""

    def __init__(self, adapter, seed: int, side: int, augment: bool = True) -> None:
        self.adapter, self.seed, self.side, self.augment = adapter, seed, side, augment
        self.space = label_space(adapter.name)
        rows = adapter.split_rows(seed)
        self.train_rows, self.test_rows = rows["train"], rows["test"]

    @cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        images = self.adapter.images(self.train_rows, self.side)
        return _mirror(images, self.adapter.targets(self.train_rows), self.space)

    @cached_property
    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        return channel_stats(self.arrays[0])

    @cached_property
    def monitor(self) -> tuple[Tensor, np.ndarray]:
        """The test rows (normalised images, targets) for the per-epoch curve."""
        images = self.adapter.images(self.test_rows, self.side)
        return normalise(images, self.stats), self.adapter.targets(self.test_rows)

    @property
    def version(self) -> str:
        blob = json.dumps([ORDINAL_DATA_VERSION, self.adapter.version, self.seed, self.side,
                           self.augment, getattr(self.adapter, "split", ""),
                           self.train_rows[:50].tolist(), len(self.train_rows)])
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def __len__(self) -> int:
        return len(self.arrays[1])

    def batch(self, size: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        """A random batch: (normalised, augmented images, targets float [B, D])."""
        images, targets = self.arrays
        rows = rng.integers(0, len(targets), size)
        x = normalise(images[rows], self.stats)
        if self.augment:
            gen = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
            x = random_affine(x, self.space, gen)
        return x, device.host_tensor(targets[rows])

    def describe(self) -> dict:
        return {"dataset": self.adapter.name, "train": len(self.train_rows),
                "train_with_mirrors": len(self), "test": len(self.test_rows), "side": self.side}


class OrdinalTest:
    """The test rows as harness batches (see the module doc)."""

    def __init__(self, training: OrdinalTraining) -> None:
        self.training = training
        self.adapter = training.adapter
        self.space = training.space
        self.name = self.adapter.name

    @property
    def version(self) -> str:
        return self.training.version

    @property
    def provenance(self):
        return self.adapter.provenance

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.adapter.classes)

    @cached_property
    def prepared(self) -> tuple[Tensor, np.ndarray]:
        """Every image decoded now (a bad file fails the command before any cell)."""
        self.training.arrays  # noqa: B018
        return self.training.monitor

    def splits(self) -> dict[str, int]:
        return {"test": len(self.training.test_rows)}

    @property
    def base_version(self) -> str:
        """The seed-independent part of ``version`` (HCI draws its test split per seed; the
        seeds of one run share a leaderboard section through this)."""
        t = self.training
        blob = json.dumps([ORDINAL_DATA_VERSION, self.adapter.version, t.side, t.augment,
                           getattr(self.adapter, "split", "")])
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "base_version": self.base_version,
                "provenance": self.provenance.__dict__, "unit": self.space.unit,
                "targets": list(self.space.dims), **self.training.describe(),
                "source": self.adapter.describe()}

    def batches(self, split: str, batch_size: int, where: dict | None = None):
        images, targets = self.prepared
        rows = self.training.test_rows
        files = self.adapter.meta(rows)["file"]
        classes = (targets[:, 0].astype(np.int64) if self.space.kind == "ordinal"
                   else np.full(len(targets), -1))
        for start in range(0, len(targets), batch_size):
            part = slice(start, start + batch_size)
            yield Batch({"image": device.host(images[part]), "target": targets[part],
                         "target_class": classes[part]}, {"file": np.asarray(files[part])})
