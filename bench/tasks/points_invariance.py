"""``bench invariance`` on point clouds: permutation invariance (judged where a card claims
``perm_invariant``) and rotation sensitivity (reported: no method here claims rotation
invariance; ScanObjectNN's objects stand upright, so only rotations about the vertical z
axis are applied).

On the first ``frames`` test clouds the method's logits are computed once; then the point
order of every cloud is permuted ``trials`` times (the largest change of any logit is the
test's value) and every cloud is rotated about z by 15, 45, 90 and 180 degrees (the value is
the share of clouds whose predicted class changes, in %).
"""

from __future__ import annotations

import numpy as np

from perloc.bench.core.batch import Batch
from perloc.bench.tasks.invariance import CHECKERS, Check

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
    base = method.logits(points).numpy()
    n = points.shape[1]
    perm = max(float(np.abs(method.logits(points[:, rng.permutation(n)]).numpy() - base).max())
               for _ in range(trials))
    checks = [Check(f"permute {n} points ({trials} orders)", perm,
                    "perm_invariant" in method.card.capabilities, TOLERANCE, "logit")]
    label = base.argmax(axis=1)
    for angle in ANGLES:
        moved = method.logits(rotate_z(points, angle)).numpy().argmax(axis=1)
        checks.append(Check(f"rotate {angle} degrees about z", 100.0 * float(np.mean(moved != label)),
                            False, TOLERANCE, "% labels changed"))
    return checks


CHECKERS["points"] = point_checks
