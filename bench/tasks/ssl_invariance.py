"""``bench invariance`` on microphone arrays: does a localizer's estimate survive reordering
or dropping microphones?

On one fixed batch (the first ``frames`` frames of setup 1_a with the most microphones) the
method predicts once; then the microphone axis is permuted ``trials`` times (signals and
coordinates together) and, where the card claims ``variable_mics``, 1 to 3 microphones are
dropped. The largest change of the source estimate (cm) is reported per test. A permutation
must change nothing (up to ``TOLERANCE_CM``) for methods whose card claims ``perm_invariant``;
for the others, and for drops (less input is a different problem), the change is reported,
not judged.
"""

from __future__ import annotations

import numpy as np

from perloc.bench.core.batch import Batch
from perloc.bench.core.errors import UserError
from perloc.bench.tasks.invariance import CHECKERS, Check

MIC_AXIS_COLUMNS = ("signals", "mic_pos", "mic_true", "mic_unknown")
TOLERANCE_CM = 1e-3


def reorder_mics(batch: Batch, index: np.ndarray) -> Batch:
    """The batch with its microphone axis taken at ``index`` (a permutation or a subset)."""
    data = dict(batch.data)
    for name in MIC_AXIS_COLUMNS:
        if name in data:
            data[name] = np.ascontiguousarray(np.asarray(data[name])[:, index])
    meta = dict(batch.meta)
    if "mics" in meta:
        meta["mics"] = np.full(len(batch), len(index))
    return Batch(data, meta)


def fixed_batch(dataset, frames: int) -> Batch:
    """The first ``frames`` frames of setup 1_a with the largest microphone count."""
    best = None
    for batch in dataset.batches("test", max(frames, 1)):
        if str(batch.meta["setup"][0]) != "1_a":
            continue
        if best is None or batch["signals"].shape[1] > best["signals"].shape[1]:
            best = batch
    if best is None:
        raise UserError("invariance: the selection holds no setup 1_a frames")
    return best.take(np.arange(min(frames, len(best))))


def _change_cm(a: np.ndarray, b: np.ndarray) -> float:
    both = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    if (np.isfinite(a).all(1) != np.isfinite(b).all(1)).any():
        return float("inf")  # a frame that fails in one order but not the other
    return float(100 * np.abs(a[both] - b[both]).max()) if both.any() else 0.0


def run_checks(method, batch: Batch, trials: int, seed: int, tolerance_cm: float) -> list[Check]:
    """Permutations (judged when claimed) and drops (reported) of the microphone axis."""
    rng = np.random.default_rng([seed, 99])
    base = np.asarray(method.predict(batch)["position"], dtype=np.float64)
    m = batch["signals"].shape[1]
    caps = method.card.capabilities
    perm = max(_change_cm(base, method.predict(reorder_mics(batch, rng.permutation(m)))["position"])
               for _ in range(trials))
    checks = [Check(f"permute {m} mics ({trials} orders)", perm, "perm_invariant" in caps,
                    tolerance_cm, "cm")]
    if "variable_mics" in caps:
        for drop in (1, 2, 3):
            if m - drop < 5:
                break
            keep = np.sort(rng.choice(m, m - drop, replace=False))
            change = _change_cm(base, method.predict(reorder_mics(batch, keep))["position"])
            checks.append(Check(f"drop {drop} of {m} mics", change, False, tolerance_cm, "cm"))
    return checks


def mic_checks(method, dataset, frames: int, trials: int, seed: int) -> list[Check]:
    """The checks on the first ``frames`` frames of setup 1_a (see the module doc)."""
    return run_checks(method, fixed_batch(dataset, frames), trials, seed, TOLERANCE_CM)


for _task in ("ssl", "ssl-sim"):
    CHECKERS[_task] = mic_checks
