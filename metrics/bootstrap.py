"""Percentile bootstrap confidence intervals over resampled units."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Reducer = Callable[[np.ndarray], np.ndarray]


def bootstrap_cis(
    values: Sequence[np.ndarray],
    reducers: Sequence[Reducer],
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    rng: np.random.Generator,
    chunk: int = 2_000_000,
) -> list[tuple[float, float]]:
    """Percentile bootstrap CIs of several statistics over the same n units.

    Draw R index vectors idx_r of n units with replacement (shared by all statistics, so
    their intervals come from the same resamples), compute s_r = reduce(values[idx_r]) and
    return the (1-level)/2 and (1+level)/2 quantiles of s_r for each statistic. ``reduce``
    acts along the last axis, so a chunk of resamples is reduced in one call.
    """
    values = [np.asarray(v, dtype=np.float64) for v in values]
    n = len(values[0]) if values else 0
    if n == 0:
        return [(float("nan"), float("nan"))] * len(values)
    if n_resamples <= 0:
        return [(float(r(v)), float(r(v))) for v, r in zip(values, reducers, strict=True)]
    per_chunk = max(1, chunk // n)
    stats: list[list[np.ndarray]] = [[] for _ in values]
    for start in range(0, n_resamples, per_chunk):
        idx = rng.integers(0, n, size=(min(per_chunk, n_resamples - start), n))
        for out, v, reduce in zip(stats, values, reducers, strict=True):
            out.append(np.asarray(reduce(v[idx])))
    tail = (1.0 - level) / 2.0
    return [tuple(float(q) for q in np.quantile(np.concatenate(s), [tail, 1.0 - tail]))
            for s in stats]


def bootstrap_ci(values: np.ndarray, reduce: Reducer, *, n_resamples: int = 1000,
                 level: float = 0.95, rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap CI of ``reduce(values)`` (one statistic; see ``bootstrap_cis``).

    >>> bootstrap_ci(np.ones(10), lambda v: v.mean(-1), rng=np.random.default_rng(0))
    (1.0, 1.0)
    """
    return bootstrap_cis([values], [reduce], n_resamples=n_resamples, level=level, rng=rng)[0]
