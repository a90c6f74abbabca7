"""Paper II's metrics: shape classification (ScanObjectNN) and feature matching (3DMatch).

Classification, per object i with true class y_i and prediction ŷ_i:

* overall accuracy  OA = 100/N sum_i [ŷ_i = y_i];
* mean class accuracy  mAcc = 100/|C'| sum_{c in C'} (sum_{i: y_i = c} [ŷ_i = c]) / N_c over
  the classes C' present in the truth (a class never predicted has recall 0; one absent from
  the truth is left out). Summable state per object: the one-hot of its class, and of its
  class when correct, so slices and bootstrap resamples add up.

Feature matching (spec dold_pointtnt.md §6.4, gotcha 23), per fragment pair (i, j) with
keypoints P_i, P_j, descriptors F_i, F_j and the ground truth T mapping j into i:

* correspondences: mutual nearest neighbours in descriptor space (a -> b is b's nearest and
  b -> a is a's nearest);
* inlier ratio  r = |{(a, b) mutual : ||p_a - T p_b|| < tau_1}| / |mutual|   (strict <,
  tau_1 = 0.10 m);
* the pair succeeds when r > tau_2 (strict >, tau_2 = 0.05);
* FMR of a scene = the share of its pairs that succeed; FMR = the mean over scenes, with the
  population std over scenes (not over pairs).

As summable state (:func:`matching_cards`), each pair gives one row: for each of S scene slots
[succeeded, counted] (one-hot in its scene's slot), then [r, 1]; so
FMR = 100/|S'| sum_{s in S'} succeeded_s / counted_s over the scenes S' present,
std = 100 sqrt(1/|S'| sum_s (FMR_s - FMR)^2), mean inlier ratio = 100 sum r / sum 1.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from perloc.bench.core.cards import MetricCard, SharedRows

TAU1_M = 0.10
TAU2 = 0.05


def class_hits(pred, true, n_classes: int) -> np.ndarray:
    """Rows [N, 2C]: one-hot of the true class, then the same where the prediction is right."""
    pred = np.asarray(pred, dtype=np.int64).reshape(-1)
    true = np.asarray(true, dtype=np.int64).reshape(-1)
    if true.size and (true.min() < 0 or true.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    seen = np.eye(n_classes)[true]
    return np.concatenate([seen, seen * (pred == true)[:, None]], axis=1)


def mean_recall(stats: np.ndarray) -> np.ndarray:
    """compute of mAcc over summed rows [..., 2C]: 100 x mean over present classes of hits/seen.

    >>> mean_recall(np.array([2.0, 1.0, 0.0, 2.0, 0.0, 0.0])).round(4).tolist()
    50.0
    """
    stats = np.asarray(stats, dtype=np.float64)
    c = stats.shape[-1] // 2
    seen, hits = stats[..., :c], stats[..., c:]
    present = seen > 0
    recall = np.where(present, hits / np.maximum(seen, 1), 0.0)
    count = present.sum(axis=-1)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, 100.0 * recall.sum(axis=-1) / np.maximum(count, 1), np.nan)


def mean_class_accuracy(n_classes: int) -> MetricCard:
    """The mAcc card of a ``n_classes`` problem (see the module doc)."""
    return MetricCard("mean_class_accuracy", "%", True,
                      update=lambda p, t: class_hits(p, t, n_classes), compute=mean_recall,
                      stats=tuple(f"seen_{k}" for k in range(n_classes)) +
                      tuple(f"hit_{k}" for k in range(n_classes)),
                      description="mean class accuracy: 100/|C| sum_c hits_c / N_c over the "
                                  "classes present")


def mutual_matches(desc_a: np.ndarray, desc_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (a, b) of the mutual nearest neighbours between two descriptor sets."""
    a_to_b = cKDTree(desc_b).query(desc_a)[1]
    b_to_a = cKDTree(desc_a).query(desc_b)[1]
    a = np.flatnonzero(b_to_a[a_to_b] == np.arange(len(desc_a)))
    return a, a_to_b[a]


def transform(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    """T (4 x 4 rigid) applied to points [N, 3]."""
    return points @ T[:3, :3].T + T[:3, 3]


def inlier_ratio(points_i, desc_i, points_j, desc_j, T_ji, tau1: float = TAU1_M) -> float:
    """Share of the mutual matches (i <-> j) within ``tau1`` (strict) once j is mapped into i's
    frame by ``T_ji``; 0 without matches."""
    a, b = mutual_matches(np.asarray(desc_i), np.asarray(desc_j))
    if not len(a):
        return 0.0
    gap = np.linalg.norm(np.asarray(points_i)[a] - transform(np.asarray(points_j)[b], T_ji),
                         axis=1)
    return float(np.mean(gap < tau1))


def feature_match_recall(ratios, scenes, tau2: float = TAU2) -> dict:
    """Per-scene FMR (share of pairs with ratio > tau2, strict), their mean and population
    std; ``ratios`` and ``scenes`` are per pair."""
    ratios = np.asarray(ratios, dtype=np.float64)
    scenes = np.asarray(scenes)
    per_scene = {str(s): float(np.mean(ratios[scenes == s] > tau2)) for s in np.unique(scenes)}
    values = np.array(list(per_scene.values()))
    return {"per_scene": per_scene, "fmr": float(values.mean()) if len(values) else np.nan,
            "std": float(values.std()) if len(values) else np.nan}


def pair_rows(pred, truth, n_scenes: int, tau1: float = TAU1_M, tau2: float = TAU2
              ) -> np.ndarray:
    """Rows [B, 2 S + 2] (module doc) of pairs whose ``pred`` are (F_i, F_j) and whose
    ``truth`` carry ``scene`` (slot), ``points_i``, ``points_j`` and ``T`` (j into i)."""
    rows = np.zeros((len(pred), 2 * n_scenes + 2))
    for r, ((desc_i, desc_j), t) in enumerate(zip(pred, truth, strict=True)):
        ratio = inlier_ratio(t.points_i, desc_i, t.points_j, desc_j, t.T, tau1)
        rows[r, 2 * t.scene:2 * t.scene + 2] = [ratio > tau2, 1.0]
        rows[r, -2:] = [ratio, 1.0]
    return rows


def _scene_recalls(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    per = stats[..., :-2].reshape(*stats.shape[:-1], -1, 2)
    present = per[..., 1] > 0
    return np.where(present, per[..., 0] / np.maximum(per[..., 1], 1), 0.0), present


def fmr_of(stats: np.ndarray) -> np.ndarray:
    """100 x the mean over present scenes of the per-scene FMR."""
    recall, present = _scene_recalls(np.asarray(stats, dtype=np.float64))
    n = present.sum(axis=-1)
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, 100.0 * recall.sum(axis=-1) / np.maximum(n, 1), np.nan)


def fmr_std_of(stats: np.ndarray) -> np.ndarray:
    """100 x the population std over present scenes of the per-scene FMR."""
    recall, present = _scene_recalls(np.asarray(stats, dtype=np.float64))
    n = np.maximum(present.sum(axis=-1), 1)
    mean = (recall * present).sum(axis=-1) / n
    var = (((recall - mean[..., None]) ** 2) * present).sum(axis=-1) / n
    return np.where(present.any(axis=-1), 100.0 * np.sqrt(var), np.nan)


def matching_cards(n_scenes: int, tau1: float = TAU1_M, tau2: float = TAU2
                   ) -> tuple[MetricCard, ...]:
    """``fmr``, ``fmr_std`` and ``inlier_ratio`` (percent) of a task whose target column holds
    the pair's truth and whose prediction of it is (F_i, F_j); one matching pass per batch."""
    update = SharedRows(lambda p, t: pair_rows(p, t, n_scenes, tau1, tau2))
    stats = tuple(f"{w}_{s}" for s in range(n_scenes) for w in ("succeeded", "counted")) + \
        ("ratio_sum", "pairs")
    return (
        MetricCard("fmr", "%", True, update, fmr_of, stats,
                   f"feature-match recall: mean over scenes of the share of pairs whose "
                   f"mutual-NN inlier ratio (< {tau1} m) exceeds {tau2}"),
        MetricCard("fmr_std", "%", False, update, fmr_std_of, stats,
                   "population std of the per-scene FMR (Table 5's ±)"),
        MetricCard("inlier_ratio", "%", True, update, lambda s: 100.0 * s[..., -2] /
                   np.where(s[..., -1] > 0, s[..., -1], np.nan), stats,
                   "mean over pairs of the mutual-NN inlier ratio"))
