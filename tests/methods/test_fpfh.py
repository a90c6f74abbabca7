"""FPFH: pair features of hand-made cases, the plane's histogram by hand, rigid invariance."""

from __future__ import annotations

import numpy as np

from perloc.methods.points.fpfh import BINS, fpfh, pair_features


def test_pair_features_by_hand():
    """p_s at the origin with n_s = e_z, p_t = (1, 0, 0). With n_t = e_x the angles to the
    line are 90 deg (source) and 0 deg (target), so the pair swaps: u = e_x, d = -e_x,
    v = d x u = 0, undefined: zeros. With n_t = (1, 0, 1) / sqrt 2 (45 deg) it swaps too;
    the values follow by hand below."""
    ps, ns = np.zeros((1, 3)), np.array([[0.0, 0.0, 1.0]])
    pt = np.array([[1.0, 0.0, 0.0]])
    assert pair_features(ps, ns, pt, np.array([[1.0, 0.0, 0.0]])).tolist() == [[0, 0, 0]]
    s = 1 / np.sqrt(2)
    theta, alpha, phi = pair_features(ps, ns, pt, np.array([[s, 0.0, s]]))[0]
    # swapped: u = (s, 0, s), d = (-1, 0, 0), target normal e_z
    # phi = -(n_t . d_original / |d|) = -(s * 1) = -s
    # v = d x u = (-1, 0, 0) x (s, 0, s) = (0, s, 0) / s = (0, 1, 0); alpha = v . e_z = 0
    # w = u x v = (s, 0, s) x (0, 1, 0) = (-s, 0, s); theta = atan2(w . e_z, u . e_z) = pi / 4
    assert np.allclose([theta, alpha, phi], [np.pi / 4, 0.0, -s])


def test_plane_puts_every_count_in_the_middle_bins():
    """On a plane all normals agree and lie orthogonal to every pair's line: theta = alpha =
    phi = 0, bin floor(11 / 2) = 5 of each sub-histogram; SPFH (100) + weighted (100)."""
    g = np.stack(np.meshgrid(np.arange(0, 1, 0.02), np.arange(0, 1, 0.02)), -1).reshape(-1, 2)
    plane = np.c_[g, np.zeros(len(g))]
    out = fpfh(plane, plane[::97] + [0.003, 0.001, 0.0], 0.05, 0.1)
    expected = np.zeros(3 * BINS)
    expected[[5, BINS + 5, 2 * BINS + 5]] = 200.0
    np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), atol=1e-9)


def test_fpfh_is_unchanged_by_a_rigid_motion():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-1, 1, (4000, 2))
    pts = np.c_[xy, 0.3 * np.sin(3 * xy[:, 0]) * np.cos(2 * xy[:, 1])]
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    R = q * np.sign(np.diag(r))
    R = R if np.linalg.det(R) > 0 else -R
    a = fpfh(pts, pts[:100], 0.1, 0.25)
    b = fpfh(pts @ R.T + 1.0, pts[:100] @ R.T + 1.0, 0.1, 0.25)
    np.testing.assert_allclose(a, b, atol=1e-8)
    np.testing.assert_allclose(a.reshape(-1, 3, BINS).sum(-1), 200.0)
