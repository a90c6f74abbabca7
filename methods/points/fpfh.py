"""Fast Point Feature Histograms (Rusu, Blodow & Beetz, ICRA 2009), vectorised over points.

Normals: the eigenvector of the smallest eigenvalue of the covariance of the (at most
``normal_nn``) neighbours within ``normal_radius``; oriented towards the cloud's centroid (a
rule a rigid motion does not change; a fragment is seen from inside its room, so this mostly
agrees with "towards the sensor", which a fragment in a random frame does not tell).

Pair features of (p_s, n_s), (p_t, n_t), as PCL and Open3D define them: d = p_t - p_s; source
and target swap (d -> -d) when n_t makes the smaller angle with the line; u = n_s,
v = d x u / |d x u|, w = u x v; then

* theta = atan2(w . n_t, u . n_t)   in [-pi, pi],
* alpha = v . n_t                    in [-1, 1],
* phi   = u . d / |d|                in [-1, 1]  (of the swapped pair: -n_t . d / |d|).

SPFH(p): three 11-bin histograms of theta, alpha, phi over p's neighbours within
``feature_radius`` (at most ``feature_nn``, p itself left out), each summing to 100.
FPFH(p) = SPFH(p) + 100 * W(p) / |W(p)| per sub-histogram, W(p) = sum_k SPFH(k) / |p - k|^2
over the same neighbours (Open3D's weighting: inverse squared distance). 33 numbers per point.

Here the histograms are taken at query points (the keypoints) with the support cloud's points
as neighbours: SPFH of every support point from its support neighbours, SPFH and FPFH of each
query from its support neighbours.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["BINS", "fpfh", "normals", "pair_features", "spfh"]

BINS = 11


def _neighbours(tree: cKDTree, query: np.ndarray, radius: float, k: int,
                others: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat (owner, neighbour, squared distance) of the <= k nearest support points within
    ``radius``; with ``others``, points at distance 0 (the query itself) are left out."""
    dist, idx = tree.query(query, k=min(k + int(others), tree.n), distance_upper_bound=radius)
    dist, idx = dist.reshape(len(query), -1), idx.reshape(len(query), -1)
    ok = np.isfinite(dist)
    if others:
        ok &= dist > 0
        ok &= np.cumsum(ok, axis=1) <= k
    owner = np.nonzero(ok)[0]
    return owner, idx[ok], dist[ok] ** 2


def normals(support: np.ndarray, tree: cKDTree, points: np.ndarray, radius: float, k: int
            ) -> np.ndarray:
    """Unit normals [n, 3] at ``points`` from their support neighbours (module doc)."""
    owner, nbr, _ = _neighbours(tree, points, radius, k, others=False)
    n = len(points)
    counts = np.maximum(np.bincount(owner, minlength=n), 1)
    mean = np.stack([np.bincount(owner, support[nbr, c], minlength=n) for c in range(3)], 1)
    mean /= counts[:, None]
    d = support[nbr] - mean[owner]
    outer = (d[:, :, None] * d[:, None, :]).reshape(-1, 9)
    cov = np.stack([np.bincount(owner, outer[:, c], minlength=n) for c in range(9)], 1)
    normal = np.linalg.eigh(cov.reshape(n, 3, 3))[1][:, :, 0]
    towards = support.mean(axis=0) - points
    normal[(normal * towards).sum(axis=1) < 0] *= -1
    return normal


def pair_features(ps, ns, pt, nt) -> np.ndarray:
    """[m, 3]: theta, alpha, phi of each pair (module doc); zeros where undefined."""
    d = pt - ps
    length = np.linalg.norm(d, axis=1)
    safe = np.maximum(length, 1e-300)
    cos_s, cos_t = (ns * d).sum(1) / safe, (nt * d).sum(1) / safe
    swap = np.arccos(np.clip(np.abs(cos_s), 0, 1)) > np.arccos(np.clip(np.abs(cos_t), 0, 1))
    u = np.where(swap[:, None], nt, ns)
    target = np.where(swap[:, None], ns, nt)
    d = np.where(swap[:, None], -d, d)
    phi = np.where(swap, -cos_t, cos_s)
    v = np.cross(d, u)
    v_norm = np.linalg.norm(v, axis=1)
    v = v / np.maximum(v_norm, 1e-300)[:, None]
    w = np.cross(u, v)
    alpha = (v * target).sum(1)
    theta = np.arctan2((w * target).sum(1), (u * target).sum(1))
    out = np.stack([theta, alpha, phi], axis=1)
    out[(length == 0) | (v_norm == 0)] = 0.0
    return out


def _histograms(owner: np.ndarray, feats: np.ndarray, n: int) -> np.ndarray:
    """[n, 33]: per owner the three 11-bin histograms, each summing to 100."""
    lo = np.array([-np.pi, -1.0, -1.0])
    span = np.array([2 * np.pi, 2.0, 2.0])
    bins = np.clip(np.floor(BINS * (feats - lo) / span).astype(np.int64), 0, BINS - 1)
    counts = np.bincount(owner, minlength=n)
    weight = 100.0 / np.maximum(counts, 1)[owner]
    out = np.zeros((n, 3 * BINS))
    for f in range(3):
        np.add.at(out, (owner, f * BINS + bins[:, f]), weight)
    return out


def spfh(support, support_normals, tree, points, point_normals, radius, k) -> np.ndarray:
    """SPFH [n, 33] of ``points`` over their support neighbours (module doc)."""
    owner, nbr, _ = _neighbours(tree, points, radius, k, others=True)
    feats = pair_features(points[owner], point_normals[owner], support[nbr],
                          support_normals[nbr])
    return _histograms(owner, feats, len(points))


def fpfh(support: np.ndarray, query: np.ndarray, normal_radius: float, feature_radius: float,
         normal_nn: int = 30, feature_nn: int = 100) -> np.ndarray:
    """FPFH [n, 33] of the ``query`` points over the ``support`` cloud (module doc)."""
    tree = cKDTree(support)
    n_support = normals(support, tree, support, normal_radius, normal_nn)
    n_query = normals(support, tree, query, normal_radius, normal_nn)
    own = spfh(support, n_support, tree, query, n_query, feature_radius, feature_nn)
    base = spfh(support, n_support, tree, support, n_support, feature_radius, feature_nn)
    owner, nbr, dist2 = _neighbours(tree, query, feature_radius, feature_nn, others=True)
    weighted = np.zeros_like(own)
    np.add.at(weighted, owner, base[nbr] / dist2[:, None])
    for f in range(3):
        part = weighted[:, f * BINS:(f + 1) * BINS]
        total = part.sum(axis=1, keepdims=True)
        part *= np.where(total > 0, 100.0 / np.where(total > 0, total, 1), 0)
    return own + weighted
