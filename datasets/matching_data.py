"""3DMatch feature matching as harness data (spec dold_pointtnt.md §6.2-6.4): keypoints, LRF
patches, the test pairs and the training patch pairs.

Preprocessing (DIP's conventions):

* each fragment is voxel-downsampled at ``voxel`` (1 cm): one point per occupied voxel, the
  mean of its points (:func:`voxel_downsample`, Open3D's rule);
* ``keypoints`` points (5,000 in the protocol) are drawn per fragment without replacement, from
  a generator seeded by (seed, scene, fragment), so every method sees the same keypoints;
* the patch of a keypoint p (:func:`lrf_patches`): its neighbours q within r = 0.3 sqrt(3) m,
  d_q = q - p, expressed in p's local reference frame and divided by r. The frame (after
  3DSmoothNet, as DIP re-implements it): z = the eigenvector of the smallest eigenvalue of
  C = 1/n sum_q d_q d_q^T, its sign chosen so that sum_q (-d_q) . z >= 0; x = the normalised
  sum_q w_q (d_q - (d_q . z) z) with w_q = (r - |d_q|)^2 (d_q . z)^2 (the unweighted sum where
  all w vanish, e.g. a plane); y = z x x. Then ``patch_points`` (256) of the neighbours are
  drawn at random, zero-padded when fewer. The neighbours are taken in index order, so the
  patch of a rigidly moved cloud is the same patch (the property test).

Test view (:class:`MatchingTest`): one example per gt.log pair, batches in scene order; the input
column ``fragments`` holds the pair's two :class:`Fragment` objects (downsampled cloud,
keypoints), the target column ``pair`` a :class:`PairTruth` (scene index among the benchmark's
8 test scenes, both keypoint sets, T mapping j into i).

Training view (:class:`MatchingTraining`): the overlapping pairs of the training scenes; per
pair the correspondences (voxel points of i whose nearest point of T·j lies within 2 cm, or
1.5 x the median point spacing of sparser fragments); a method picks ``pairs_per_step`` of
them (256 in DIP, by farthest-point sampling on i's side) and asks for both LRF patches of each
(:meth:`MatchingTraining.patch_pairs`); one optimisation step is one fragment pair.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.spatial import cKDTree

from perloc.bench.core.batch import Batch
from perloc.bench.core.errors import UserError
from perloc.datasets.threedmatch import TEST_SCENES
from perloc.datasets.threedmatch_train import match_radius

__all__ = ["Fragment", "MatchingTest", "MatchingTraining", "PairTruth", "lrf_frames",
           "lrf_patches", "voxel_downsample"]

LRF_RADIUS_M = 0.3 * np.sqrt(3.0)
PATCH_POINTS = 256
CORRESPONDENCE_M = 0.02
LRF_CHUNK = 512


def voxel_downsample(points: np.ndarray, voxel: float) -> np.ndarray:
    """The mean point of every occupied ``voxel``-sized cell, cells in lexicographic order."""
    cells = np.floor(points / voxel).astype(np.int64)
    _, owner, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    owner = owner.reshape(-1)
    sums = np.stack([np.bincount(owner, points[:, c], minlength=len(counts)) for c in range(3)],
                    axis=1)
    return sums / counts[:, None]


def _grouped(tree: cKDTree, cloud: np.ndarray, centres: np.ndarray, radius: float):
    """Flat neighbour offsets d = q - p, the owning centre of each, and counts (index order)."""
    lists = tree.query_ball_point(centres, radius, return_sorted=True)
    counts = np.fromiter((len(n) for n in lists), dtype=np.int64, count=len(lists))
    flat = np.concatenate([np.asarray(n, dtype=np.int64) for n in lists]) if counts.sum() \
        else np.zeros(0, np.int64)
    owner = np.repeat(np.arange(len(centres)), counts)
    return cloud[flat] - centres[owner], owner, counts


def _per_centre(owner: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sums of ``values [m, c]`` per owner -> [n, c]."""
    return np.stack([np.bincount(owner, values[:, c], minlength=n)
                     for c in range(values.shape[1])], axis=1)


def lrf_frames(d: np.ndarray, owner: np.ndarray, counts: np.ndarray, radius: float
               ) -> np.ndarray:
    """Rows x, y, z of each centre's local reference frame [n, 3, 3] (module doc)."""
    n = len(counts)
    outer = (d[:, :, None] * d[:, None, :]).reshape(-1, 9)
    cov = _per_centre(owner, outer, n).reshape(n, 3, 3) / np.maximum(counts, 1)[:, None, None]
    z = np.linalg.eigh(cov)[1][:, :, 0]
    flip = np.bincount(owner, -(d * z[owner]).sum(axis=1), minlength=n) < 0
    z[flip] *= -1
    along = (d * z[owner]).sum(axis=1)
    flat = d - along[:, None] * z[owner]
    weight = (radius - np.linalg.norm(d, axis=1)) ** 2 * along ** 2
    x = _per_centre(owner, weight[:, None] * flat, n)
    plain = _per_centre(owner, flat, n)
    weak = np.linalg.norm(x, axis=1) < 1e-12
    x[weak] = plain[weak]
    still = np.linalg.norm(x, axis=1) < 1e-12      # a symmetric patch: any x orthogonal to z
    helper = np.where(np.abs(z[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]])
    x[still] = np.cross(z[still], helper[still])
    x -= (x * z).sum(axis=1, keepdims=True) * z
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.stack([x, np.cross(z, x), z], axis=1)


def lrf_patches(cloud: np.ndarray, tree: cKDTree, centres: np.ndarray,
                rng: np.random.Generator, radius: float = LRF_RADIUS_M,
                points: int = PATCH_POINTS) -> np.ndarray:
    """float32 [n, points, 3]: each centre's neighbourhood in its LRF, divided by ``radius``,
    ``points`` neighbours drawn at random (zero-padded); computed in chunks of centres."""
    out = np.zeros((len(centres), points, 3), dtype=np.float32)
    for start in range(0, len(centres), LRF_CHUNK):
        part = centres[start:start + LRF_CHUNK]
        d, owner, counts = _grouped(tree, cloud, part, radius)
        frames = lrf_frames(d, owner, counts, radius)
        local = np.einsum("nij,nj->ni", frames[owner], d) / radius
        keys = rng.random(len(owner))
        order = np.lexsort((keys, owner))
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.arange(len(owner)) - first[owner[order]]
        keep = order[rank < points]
        out[start + owner[keep], rank[rank < points]] = local[keep]
    return out


@dataclass(eq=False)
class Fragment:
    """One downsampled fragment and its keypoints; ``key`` names it for descriptor memos."""

    key: str
    scene: str
    index: int
    cloud: np.ndarray       # [N, 3] voxel-downsampled
    keypoints: np.ndarray   # [K, 3], points of ``cloud``

    @cached_property
    def tree(self) -> cKDTree:
        return cKDTree(self.cloud)

    def patches(self, seed: int, radius: float = LRF_RADIUS_M,
                points: int = PATCH_POINTS) -> np.ndarray:
        """The keypoints' LRF patches [K, points, 3] (the draw seeded by ``seed`` and the key)."""
        rng = np.random.default_rng([seed, int(self.key[:8], 16)])
        return lrf_patches(self.cloud, self.tree, self.keypoints, rng, radius, points)


@dataclass(frozen=True, eq=False)
class PairTruth:
    """What a pair is scored against: keypoints of i and j, T (j into i), the scene's slot."""

    scene: int
    points_i: np.ndarray
    points_j: np.ndarray
    T: np.ndarray


def _key(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def _fragment(adapter, scene: str, i: int, voxel: float, keypoints: int, seed: int) -> Fragment:
    cloud = voxel_downsample(adapter.cloud(scene, i), voxel)
    rng = np.random.default_rng([seed, TEST_SCENES.index(scene) if scene in TEST_SCENES else 99,
                                 i])
    chosen = np.sort(rng.choice(len(cloud), min(keypoints, len(cloud)), replace=False))
    key = _key(adapter.version, scene, i, voxel, keypoints, seed)
    return Fragment(key, scene, i, cloud, cloud[chosen])


class MatchingTest:
    """The test pairs as harness batches (module doc)."""

    def __init__(self, adapter, keypoints: int = 5000, voxel: float = 0.01, seed: int = 0
                 ) -> None:
        self.adapter, self.keypoints, self.voxel, self.seed = adapter, keypoints, voxel, seed
        self.name = adapter.name
        unknown = [s for s in adapter.scenes if s not in TEST_SCENES]
        if unknown:
            raise UserError(f"{adapter.root}: scene {unknown[0]!r} is not one of the 8 3DMatch "
                            "benchmark test scenes (FMR is a mean over those)")
        self._fragments: dict[tuple[str, int], Fragment] = {}

    @property
    def version(self) -> str:
        return _key(self.adapter.version, self.keypoints, self.voxel, self.seed)[:12]

    @property
    def provenance(self):
        return self.adapter.provenance

    def pairs(self) -> list[tuple[str, object]]:
        return [(s, p) for s in self.adapter.scenes for p in self.adapter.pairs(s)]

    def splits(self) -> dict[str, int]:
        return {"test": len(self.pairs())}

    def describe(self) -> dict:
        return {**self.adapter.describe(), "version": self.version, "keypoints": self.keypoints,
                "voxel_m": self.voxel, "pairs": len(self.pairs())}

    def fragment(self, scene: str, i: int) -> Fragment:
        if (scene, i) not in self._fragments:
            self._fragments[(scene, i)] = _fragment(self.adapter, scene, i, self.voxel,
                                                    self.keypoints, self.seed)
        return self._fragments[(scene, i)]

    def batches(self, split: str, batch_size: int, where: dict | None = None):
        if split != "test":
            raise UserError(f"{self.name}: the harness scores the test pairs (asked {split!r})")
        pairs = [(s, p) for s, p in self.pairs()
                 if not where or "scene" not in where or s in map(str, where["scene"])]
        for start in range(0, len(pairs), batch_size):
            rows = pairs[start:start + batch_size]
            scenes = {s for s, _ in rows}
            self._fragments = {k: v for k, v in self._fragments.items() if k[0] in scenes}
            frags = np.empty(len(rows), dtype=object)
            truth = np.empty(len(rows), dtype=object)
            for r, (scene, pair) in enumerate(rows):
                a, b = self.fragment(scene, pair.i), self.fragment(scene, pair.j)
                frags[r] = (a, b)
                truth[r] = PairTruth(TEST_SCENES.index(scene), a.keypoints, b.keypoints, pair.T)
            yield Batch({"fragments": frags, "pair": truth},
                        {"scene": np.array([s for s, _ in rows], dtype=object),
                         "pair_id": np.array([f"{s}:{p.i}-{p.j}" for s, p in rows],
                                             dtype=object)})


@dataclass(frozen=True)
class PatchPairs:
    """One training step: matching LRF patches of fragment i and j, [n, points, 3] each."""

    anchor: np.ndarray
    positive: np.ndarray


class MatchingTraining:
    """Training patch pairs from the overlapping training pairs (module doc)."""

    def __init__(self, adapter, voxel: float = 0.01, pairs_per_step: int = 256,
                 patch_points: int = PATCH_POINTS) -> None:
        self.adapter, self.voxel = adapter, voxel
        self.pairs_per_step, self.patch_points = pairs_per_step, patch_points
        self.pairs = [(s, p) for s in adapter.scenes for p in adapter.overlapping_pairs(s)]
        if not self.pairs:
            raise UserError(f"{adapter.root}: no overlapping training pairs")
        self._clouds: dict[tuple[str, int], tuple[np.ndarray, cKDTree]] = {}
        self._matches: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def version(self) -> str:
        return _key(self.adapter.version, self.voxel, self.pairs_per_step,
                    self.patch_points)[:12]

    def _cloud(self, scene: str, i: int) -> tuple[np.ndarray, cKDTree]:
        if (scene, i) not in self._clouds:
            cloud = voxel_downsample(self.adapter.cloud(scene, i), self.voxel)
            self._clouds[(scene, i)] = (cloud, cKDTree(cloud))
        return self._clouds[(scene, i)]

    def correspondences(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Voxel-point indices (a in i, b in j) with |p_a - T p_b| < 2 cm, b nearest to a."""
        if index not in self._matches:
            scene, pair = self.pairs[index]
            cloud_i, _ = self._cloud(scene, pair.i)
            cloud_j, _ = self._cloud(scene, pair.j)
            moved = cloud_j @ pair.T[:3, :3].T + pair.T[:3, 3]
            radius = match_radius(cloud_i, cloud_j, floor=CORRESPONDENCE_M)
            dist, nearest = cKDTree(moved).query(cloud_i, distance_upper_bound=radius)
            near = np.flatnonzero(dist < radius)
            self._matches[index] = (near, nearest[near])
        return self._matches[index]

    def anchor_points(self, index: int) -> np.ndarray:
        """[n, 3]: fragment i's points of pair ``index`` that have a correspondence in j."""
        scene, pair = self.pairs[index]
        a, _ = self.correspondences(index)
        if len(a) < 2:
            raise UserError(f"{self.adapter.root}: training pair {scene} {pair.i} {pair.j} has "
                            f"{len(a)} point correspondences")
        return self._cloud(scene, pair.i)[0][a]

    def patch_pairs(self, index: int, rows: np.ndarray) -> PatchPairs:
        """The LRF patches of the correspondences ``rows`` (indices into
        :meth:`anchor_points`) in fragment i and in j; the point draw seeded by ``index``."""
        scene, pair = self.pairs[index]
        (cloud_i, tree_i), (cloud_j, tree_j) = self._cloud(scene, pair.i), \
            self._cloud(scene, pair.j)
        a, b = self.correspondences(index)
        rng = np.random.default_rng([index, 7])
        return PatchPairs(
            lrf_patches(cloud_i, tree_i, cloud_i[a[rows]], rng, points=self.patch_points),
            lrf_patches(cloud_j, tree_j, cloud_j[b[rows]], rng, points=self.patch_points))
