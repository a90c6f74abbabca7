"""3DMatch preprocessing: voxel means by hand, the LRF of a paraboloid by hand, LRF patches
unchanged by a rigid motion of the cloud and by a reordering of its points (claimed in the
module doc), and the training view's correspondences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from perloc.datasets.matching_data import (
    MatchingTraining,
    lrf_frames,
    lrf_patches,
    voxel_downsample,
)


def _surface(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-1, 1, (n, 2))
    return np.c_[xy, 0.3 * np.sin(3 * xy[:, 0]) * np.cos(2 * xy[:, 1]) + 0.1 * xy[:, 1] ** 2]


def _rigid(seed=1):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_voxel_downsample_averages_each_cell():
    pts = np.array([[0.001, 0.002, 0.0], [0.009, 0.004, 0.006], [0.015, 0.0, 0.0],
                    [-0.001, 0.0, 0.0]])
    out = voxel_downsample(pts, 0.01)
    # cells: (-1,0,0) holds the last point; (0,0,0) the first two; (1,0,0) the third
    np.testing.assert_allclose(out, [[-0.001, 0, 0], [0.005, 0.003, 0.003], [0.015, 0, 0]])


def test_lrf_of_a_paraboloid_by_hand():
    """z = x^2 + 2 y^2 around the origin: the smallest-variance axis is e_z; the offsets have
    d . e_z > 0, so the sign rule sum(-d) . z >= 0 turns z to -e_z. The weighted projection
    favours far points with large height: along y (curvature 2) over x, so x = +-e_y, and the
    sum of (r - |d|)^2 (d . z)^2 d_xy is 0 by symmetry, so x comes from the plain sum: also 0
    by symmetry -> any unit x orthogonal to z. Only z is pinned down here."""
    g = np.linspace(-0.3, 0.3, 31)
    xy = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    d = np.c_[xy, xy[:, 0] ** 2 + 2 * xy[:, 1] ** 2]
    frames = lrf_frames(d, np.zeros(len(d), np.int64), np.array([len(d)]), 0.5)
    np.testing.assert_allclose(frames[0, 2], [0, 0, -1], atol=1e-9)
    np.testing.assert_allclose(frames[0] @ frames[0].T, np.eye(3), atol=1e-9)
    assert np.linalg.det(frames[0]) == pytest.approx(1.0)


def test_patches_are_unchanged_by_a_rigid_motion():
    pts = _surface()
    R, t = _rigid(), np.array([3.0, -1.0, 0.5])
    moved = pts @ R.T + t
    a = lrf_patches(pts, cKDTree(pts), pts[:40], np.random.default_rng(5), radius=0.4)
    b = lrf_patches(moved, cKDTree(moved), moved[:40], np.random.default_rng(5), radius=0.4)
    assert (np.abs(a).sum(-1) > 0).sum(1).min() > 50  # real neighbourhoods, not padding
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_patches_do_not_depend_on_point_order_when_all_neighbours_fit():
    pts = _surface(800)
    order = np.random.default_rng(2).permutation(len(pts))
    a = lrf_patches(pts, cKDTree(pts), pts[:10], np.random.default_rng(0), radius=0.3)
    b = lrf_patches(pts[order], cKDTree(pts[order]), pts[:10], np.random.default_rng(0),
                    radius=0.3)
    for pa, pb in zip(a, b, strict=True):   # < 256 neighbours: every one is kept, zero-padded
        assert (np.abs(pa).sum(-1) > 0).sum() < 256
        np.testing.assert_allclose(np.unique(pa.round(6), axis=0), np.unique(pb.round(6), axis=0))


def test_training_pairs_correspond_through_the_ground_truth(tmp_path):
    from perloc.datasets.synth.threedmatch_sim import write_threedmatch_train_sim
    from perloc.datasets.threedmatch_train import ThreeDMatchTrain

    root = write_threedmatch_train_sim(tmp_path / "t", "smoke", seed=3)
    training = MatchingTraining(ThreeDMatchTrain(root), pairs_per_step=16)
    step = training.patch_pairs(0, np.arange(16))
    assert step.anchor.shape == step.positive.shape == (16, 256, 3)
    np.testing.assert_array_equal(step.anchor, training.patch_pairs(0, np.arange(16)).anchor)
    scene, pair = training.pairs[0]
    a, b = training.correspondences(0)
    np.testing.assert_array_equal(training.anchor_points(0), training._cloud(scene, pair.i)[0][a])
    cloud_i, _ = training._cloud(scene, pair.i)
    cloud_j, _ = training._cloud(scene, pair.j)
    gap = np.linalg.norm(cloud_i[a] - (cloud_j[b] @ pair.T[:3, :3].T + pair.T[:3, 3]), axis=1)
    assert len(a) > 16 and gap.max() < 0.2
