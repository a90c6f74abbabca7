"""Confidence intervals over resampled units of summable statistics: the percentile bootstrap
and the leave-one-unit-out jackknife (the DCASE SELD evaluation's interval)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

Compute = Callable[[np.ndarray], np.ndarray]


def bootstrap_cis(
    stats: Sequence[np.ndarray],
    computes: Sequence[Compute],
    *,
    n_resamples: int = 1000,
    level: float = 0.95,
    rng: np.random.Generator,
    chunk: int = 2_000_000,
) -> list[tuple[float, float]]:
    """Percentile bootstrap CIs of several statistics over the same n resampling units.

    ``stats[j]`` is [n, k_j]: one row of summable sufficient statistics per unit (an example,
    or a cluster of examples such as an utterance). Draw R index vectors idx_r of n units with
    replacement (shared by all statistics, so their intervals come from the same resamples),
    sum the drawn rows, S_r = sum_i stats[idx_r[i]], score s_r = compute(S_r), and return the
    (1-level)/2 and (1+level)/2 quantiles of s_r (NaN scores, where the metric does not
    apply to a resample, are left out). ``compute`` acts on the last axis, so a chunk of
    resamples is scored in one call.

    >>> mean = lambda s: s[..., 0] / s[..., 1]
    >>> bootstrap_cis([np.array([[2.0, 1.0], [2.0, 1.0]])], [mean], rng=np.random.default_rng(0))
    [(2.0, 2.0)]
    """
    stats = [np.asarray(s, dtype=np.float64) for s in stats]
    n = len(stats[0]) if stats else 0
    if n == 0:
        return [(float("nan"), float("nan"))] * len(stats)
    if n_resamples <= 0:
        return [(float(c(s.sum(0))),) * 2 for s, c in zip(stats, computes, strict=True)]
    width = max(s.shape[1] for s in stats)
    per_chunk = max(1, chunk // (n * width))
    scores: list[list[np.ndarray]] = [[] for _ in stats]
    for start in range(0, n_resamples, per_chunk):
        idx = rng.integers(0, n, size=(min(per_chunk, n_resamples - start), n))
        for out, s, compute in zip(scores, stats, computes, strict=True):
            out.append(np.asarray(compute(s[idx].sum(axis=1)), dtype=np.float64))
    tail = (1.0 - level) / 2.0
    return [_quantiles(np.concatenate(s), tail) for s in scores]


def _quantiles(scores: np.ndarray, tail: float) -> tuple[float, float]:
    scores = scores[np.isfinite(scores)]
    if not len(scores):
        return float("nan"), float("nan")
    lo, hi = np.quantile(scores, [tail, 1.0 - tail])
    return float(lo), float(hi)


def cluster_rows(rows: np.ndarray, units: np.ndarray | None) -> np.ndarray:
    """Sum the per-example rows [N, k] of each resampling unit: [U, k] in order of first
    appearance (``units`` None: every example is its own unit).

    >>> cluster_rows(np.array([[1.0], [2.0], [4.0]]), np.array(["b", "a", "b"])).tolist()
    [[5.0], [2.0]]
    """
    if units is None:
        return rows
    _, first, inverse = np.unique(units, return_index=True, return_inverse=True)
    order = np.argsort(first)  # unique() sorts; keep the order units first appear in
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    out = np.zeros((len(first), rows.shape[1]), dtype=np.float64)
    np.add.at(out, rank[inverse.reshape(-1)], rows)
    return out


@dataclass(frozen=True)
class JackknifeInterval:
    """Leave-one-unit-out estimate: the plain value, the bias-corrected estimate, its standard
    error and the 95 % interval around the estimate (NaN where it cannot be formed)."""

    value: float
    estimate: float
    std_err: float
    low: float
    high: float


def jackknife(stats: np.ndarray, compute: Compute, level: float = 0.95) -> JackknifeInterval:
    """The jackknife over the n units (rows of ``stats`` [n, k]) of theta = compute(sum):

        theta_(-i) = compute(total - stats[i]),  bias = (n - 1) (mean_i theta_(-i) - theta),
        estimate = theta - bias,  se = sqrt((n - 1) mean_i (theta_(-i) - mean theta_(-))^2),
        interval = estimate -+ t_{(1 + level) / 2, n - 1} se.

    Leave-one-out values that are NaN (the metric applies to nothing without that unit) are
    dropped; fewer than two left, or n < 2, give NaN.

    >>> iv = jackknife(np.array([[1.0, 1.0], [3.0, 1.0]]), lambda s: s[..., 0] / s[..., 1])
    >>> iv.value, iv.estimate, iv.std_err
    (2.0, 2.0, 1.0)
    """
    stats = np.asarray(stats, dtype=np.float64)
    total = stats.sum(axis=0)
    theta = float(compute(total))
    if len(stats) < 2 or not np.isfinite(theta):
        return JackknifeInterval(theta, np.nan, np.nan, np.nan, np.nan)
    partial = np.asarray(compute(total - stats), dtype=np.float64)
    partial = partial[np.isfinite(partial)]
    if partial.size < 2:
        return JackknifeInterval(theta, np.nan, np.nan, np.nan, np.nan)
    n = len(stats)
    estimate = theta - (n - 1) * (partial.mean() - theta)
    se = float(np.sqrt((n - 1) * np.mean((partial - partial.mean()) ** 2)))
    t = float(scipy_stats.t.ppf((1.0 + level) / 2.0, n - 1))
    return JackknifeInterval(theta, float(estimate), se, float(estimate - t * se),
                             float(estimate + t * se))


def jackknife_cis(stats: Sequence[np.ndarray], computes: Sequence[Compute],
                  level: float = 0.95) -> list[tuple[float, float]]:
    """The jackknife intervals of several statistics over the same units (``bootstrap_cis``'s
    signature, so a task may choose either)."""
    return [(iv.low, iv.high) for iv in (jackknife(s, c, level)
                                         for s, c in zip(stats, computes, strict=True))]
