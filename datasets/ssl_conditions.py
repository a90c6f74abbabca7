"""Paper VII test conditions built from full-array frames: setup x number of microphones M.

* 1_a / 1_b: M microphones with audio AND coordinates (a seeded random subset per frame when
  M is below the array size); the source signal s_0 is hidden (1_a) or given (1_b).
* 2_a / 2_b: audio of ALL microphones, coordinates of only M of them (the others are NaN in
  ``mic_pos`` and must be estimated); s_0 hidden (2_a) or given (2_b).

The subset for (setup family, M, frame) does not depend on the method, so every method sees
the same microphones. Which subsets the paper used is not stated; see spec section 11.
"""

from __future__ import annotations

import hashlib

import numpy as np

from perloc.bench.core.batch import Batch
from perloc.datasets.ssl_schema import SETUPS


def _rng(seed: int, setup: str, m: int) -> np.random.Generator:
    family = int(setup[0])  # 1_a and 1_b share subsets, as do 2_a and 2_b
    return np.random.default_rng([seed, 17, family, m])


def random_subsets(n_frames: int, n_mics: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted index sets [n_frames, m] drawn uniformly without replacement per frame."""
    if not 1 <= m <= n_mics:
        raise ValueError(f"cannot choose {m} of {n_mics} microphones")
    order = np.argsort(rng.random((n_frames, n_mics)), axis=1)[:, :m]
    return np.sort(order, axis=1)


def condition_batch(signals: np.ndarray, source: np.ndarray, mic_pos: np.ndarray,
                    position: np.ndarray, meta: dict[str, np.ndarray], setup: str, m: int,
                    seed: int) -> Batch:
    """The frames under one (setup, M) condition, in the layout of ``datasets/ssl_schema.py``."""
    if setup not in SETUPS:
        raise ValueError(f"setup must be one of {SETUPS}, got {setup!r}")
    n, total = signals.shape[:2]
    subset = random_subsets(n, total, m, _rng(seed, setup, m))
    rows = np.arange(n)[:, None]
    mic_pos = mic_pos.astype(np.float32)
    if setup.startswith("1"):
        signals, mic_true = signals[rows, subset], mic_pos[rows, subset]
        known = mic_true.copy()
    else:
        mic_true = mic_pos
        known = np.full_like(mic_pos, np.nan)
        known[rows, subset] = mic_pos[rows, subset]
    unknown = np.where(np.isfinite(known), np.nan, mic_true).astype(np.float32)
    data = {"signals": np.ascontiguousarray(signals, dtype=np.float32), "mic_pos": known,
            "mic_true": mic_true, "mic_unknown": unknown, "source_signal": source.astype(np.float32),
            "source_known": np.full(n, setup.endswith("b")),
            "position": position.astype(np.float32)}
    return Batch(data, {**meta, "setup": np.full(n, setup), "mics": np.full(n, m)})


def condition_version(grid: dict[str, tuple], seed: int | None) -> str:
    blob = repr((sorted((k, tuple(v)) for k, v in grid.items()), seed, "conditions-1"))
    return hashlib.sha1(blob.encode()).hexdigest()[:12]
