"""ScanObjectNN clouds for Paper II's classifiers: training batches with the paper's
augmentation and RSMix, and the test split as harness batches.

Training (spec dold_pointtnt.md §5.3; train only): the first ``n_points`` of each cloud (the
official loader's rule), then per sample an anisotropic scale U[2/3, 3/2] per axis and a
shift U[-0.2, 0.2] per axis; then, with probability ``rsmix_p`` per batch, RSMix (Lee et al.
2021): the batch is paired with a random permutation of itself, a radius r ~ Beta(beta, beta)
is drawn, and for each pair (A, B) a random query point q_A of A and q_B of B; the points of A
within r of q_A (at most ``nsample``, nearest first) are replaced by as many of B's points
within r of q_B, translated by q_A - q_B (the count matched: the smaller ball decides). The
mixing ratio lambda = inserted / n_points weighs the two labels: the loss of a sample is
(1 - lambda) CE(y_A) + lambda CE(y_B). Rotation, jitter, point dropping: off, as the paper.

Test batches: ``points`` float32 [B, n, 3], target ``label`` int64 [B], meta ``class``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np

POINTS_DATA_VERSION = 1


@dataclass(frozen=True)
class MixedBatch:
    """A training batch: clouds [B, n, 3], labels of A and B, and lambda per sample."""

    points: np.ndarray
    label_a: np.ndarray
    label_b: np.ndarray
    lam: np.ndarray


def scale_shift(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per sample: x * s + t with s ~ U[2/3, 3/2]^3 and t ~ U[-0.2, 0.2]^3."""
    b = len(points)
    scale = rng.uniform(2 / 3, 3 / 2, size=(b, 1, 3))
    shift = rng.uniform(-0.2, 0.2, size=(b, 1, 3))
    return (points * scale + shift).astype(np.float32)


def _ball(cloud: np.ndarray, centre: np.ndarray, radius: float, nsample: int) -> np.ndarray:
    """Indices of the points within ``radius`` of ``centre``, nearest first, at most nsample."""
    d = np.linalg.norm(cloud - centre, axis=1)
    inside = np.flatnonzero(d <= radius)
    return inside[np.argsort(d[inside], kind="stable")][:nsample]


def rsmix(points: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *,
          beta: float = 1.0, nsample: int = 512) -> MixedBatch:
    """RSMix of a batch with a permutation of itself (see the module doc)."""
    b, n, _ = points.shape
    partner = rng.permutation(b)
    radius = float(rng.beta(beta, beta))
    mixed, lam = points.copy(), np.zeros(b)
    for i, j in enumerate(partner):
        qa, qb = points[i, rng.integers(n)], points[j, rng.integers(n)]
        out, into = _ball(points[i], qa, radius, nsample), _ball(points[j], qb, radius, nsample)
        m = min(len(out), len(into))
        mixed[i, out[:m]] = points[j, into[:m]] + (qa - qb)
        lam[i] = m / n
    return MixedBatch(mixed, labels, labels[partner], lam)


class PointTraining:
    """The training split of a ScanObjectNN adapter at ``n_points`` per cloud."""

    def __init__(self, adapter, n_points: int, *, rsmix_p: float = 0.5, nsample: int = 512,
                 augment: bool = True) -> None:
        self.adapter, self.n_points = adapter, n_points
        self.rsmix_p, self.nsample, self.augment = rsmix_p, nsample, augment
        self.classes = tuple(adapter.classes)

    @cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.adapter.points("train", self.n_points), self.adapter.labels("train")

    @property
    def version(self) -> str:
        blob = json.dumps([POINTS_DATA_VERSION, self.adapter.version, self.n_points,
                           self.rsmix_p, self.nsample, self.augment])
        return hashlib.sha1(blob.encode()).hexdigest()[:12]

    def __len__(self) -> int:
        return len(self.arrays[1])

    def batch(self, size: int, rng: np.random.Generator) -> MixedBatch:
        points, labels = self.arrays
        rows = rng.choice(len(labels), size=size, replace=len(labels) < size)
        x, y = points[rows], labels[rows]
        if not self.augment:
            return MixedBatch(x, y, y, np.zeros(size))
        x = scale_shift(x, rng)
        if rng.random() < self.rsmix_p:
            return rsmix(x, y, rng, nsample=min(self.nsample, self.n_points))
        return MixedBatch(x, y, y, np.zeros(size))

    def test_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.adapter.points("test", self.n_points), self.adapter.labels("test")


class PointTest:
    """The test split as harness batches (see the module doc)."""

    def __init__(self, adapter, n_points: int) -> None:
        self.adapter, self.n_points = adapter, n_points
        self.name = adapter.name

    @property
    def version(self) -> str:
        return hashlib.sha1(json.dumps([self.adapter.version, self.n_points]).encode()
                            ).hexdigest()[:12]

    @property
    def provenance(self):
        return self.adapter.provenance

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.adapter.classes)

    @cached_property
    def prepared(self) -> np.ndarray:
        return self.adapter.points("test", self.n_points)

    def splits(self) -> dict[str, int]:
        return {"test": len(self.prepared)}

    def describe(self) -> dict:
        return {**self.adapter.describe(), "version": self.version, "n_points": self.n_points}

    def batches(self, split: str, batch_size: int, where: dict | None = None):
        return self.adapter.batches("test", batch_size, n_points=self.n_points, where=where)
