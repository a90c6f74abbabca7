"""``bench invariance`` on point clouds: permutation invariance (judged where a card claims
``perm_invariant``) and rotation sensitivity (reported: no method here claims rotation
invariance; ScanObjectNN's objects stand upright, so only rotations about the vertical z
axis are applied).

On the first ``frames`` test clouds the method's logits are computed once; then the point
order of every cloud is permuted ``trials`` times (the largest change of any logit is the
test's value) and every cloud is rotated about z by 15, 45, 90 and 180 degrees (the value is
the share of clouds whose predicted class changes, in %).

On 3DMatch (``points-3dmatch``) the descriptors of the first test pair's first fragment are
computed once; then (judged where claimed) its raw cloud is re-read in ``trials`` random point
orders and preprocessed again (voxel grid, keypoints, patches: the largest change of any
descriptor entry is the value), and (reported) the preprocessed fragment is moved rigidly (a
random rotation and a 1 m shift of cloud and keypoints together): the value is the share of
keypoints whose moved descriptor's nearest original descriptor is not its own, in %. An LRF
descriptor should keep that near 0; FPFH's 5 cm support grid moves with the frame.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.tasks.invariance import CHECKERS, Check
from perloc.datasets.matching_data import Fragment, voxel_downsample
from perloc.datasets.synth.threedmatch_sim import random_rotation

TOLERANCE = 1e-4  # logits
ANGLES = (15, 45, 90, 180)


def rotate_z(points: np.ndarray, degrees: float) -> np.ndarray:
    """Clouds [B, N, 3] rotated about the z axis."""
    t = np.deg2rad(degrees)
    r = np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])
    return (points @ r.T).astype(np.float32)


def first_clouds(dataset, frames: int) -> Batch:
    batch = next(iter(dataset.batches("test", frames)))
    return batch.take(np.arange(min(frames, len(batch))))


def point_checks(method, dataset, frames: int, trials: int, seed: int) -> list[Check]:
    rng = np.random.default_rng([seed, 98])
    points = np.asarray(first_clouds(dataset, frames)["points"], dtype=np.float32)
    base = device.host(method.logits(points))
    n = points.shape[1]
    perm = max(float(np.abs(device.host(method.logits(points[:, rng.permutation(n)])) - base).max())
               for _ in range(trials))
    checks = [Check(f"permute {n} points ({trials} orders)", perm,
                    "perm_invariant" in method.card.capabilities, TOLERANCE, "logit")]
    label = base.argmax(axis=1)
    for angle in ANGLES:
        moved = device.host(method.logits(rotate_z(points, angle))).argmax(axis=1)
        checks.append(Check(f"rotate {angle} degrees about z", 100.0 * float(np.mean(moved != label)),
                            False, TOLERANCE, "% labels changed"))
    return checks


CHECKERS["points"] = point_checks


def _reordered(fragment: Fragment, raw: np.ndarray, order: np.ndarray, voxel: float
               ) -> Fragment:
    """The fragment preprocessed again from its raw cloud read in ``order`` (the keypoints:
    the same voxel rows)."""
    cloud = voxel_downsample(raw[order], voxel)
    rows = cKDTree(fragment.cloud).query(fragment.keypoints)[1]
    return Fragment(fragment.key + "-perm", fragment.scene, fragment.index, cloud, cloud[rows])


def matching_checks(method, dataset, frames: int, trials: int, seed: int) -> list[Check]:
    rng = np.random.default_rng([seed, 99])
    fragment = next(iter(dataset.batches("test", 1)))["fragments"][0][0]
    raw = dataset.adapter.cloud(fragment.scene, fragment.index)
    base = method.describe(fragment)
    change = max(float(np.abs(method.describe(_reordered(
        fragment, raw, rng.permutation(len(raw)), dataset.voxel)) - base).max())
        for _ in range(trials))
    checks = [Check(f"permute the {len(raw)} raw points ({trials} orders)", change,
                    "perm_invariant" in method.card.capabilities, TOLERANCE,
                    "descriptor entry")]
    R, shift = random_rotation(rng), np.array([1.0, 0.0, 0.0])
    moved = Fragment(fragment.key + "-moved", fragment.scene, fragment.index,
                     fragment.cloud @ R.T + shift, fragment.keypoints @ R.T + shift)
    other = method.describe(moved)
    nearest = np.argmin(((other[:, None] - base[None]) ** 2).sum(-1), axis=1)
    checks.append(Check("rotate and shift the fragment (random rotation, 1 m)",
                        100.0 * float(np.mean(nearest != np.arange(len(base)))), False,
                        TOLERANCE, "% keypoints mismatched"))
    return checks


CHECKERS["points-3dmatch"] = matching_checks
