"""Cards: the declarative description of methods and metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MethodCard:
    """What a method is, as the harness and the leaderboards see it.

    ``params`` is a frozen dataclass type whose defaults are the paper's configuration;
    ``capabilities`` names claimed properties (``shift_equivariant``, ``perm_invariant``,
    ``variable_mics``) that property tests and ``bench invariance`` check, and behaviours the
    runner honours (``may_fail``: NaN marks an estimate the method could not make; it is
    counted in the record and scored by the metric's rule instead of failing the run).
    """

    name: str
    task: str
    kind: str  # "classical" | "learned" (trained here) | "pretrained" (loaded) | "external"
    params: type
    reference: str
    summary: str = ""
    capabilities: frozenset[str] = frozenset()
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("classical", "learned", "pretrained", "external"):
            raise ValueError(f"method {self.name}: kind must be classical, learned, pretrained "
                             "or external")


@dataclass(frozen=True)
class MetricCard:
    """A metric as summable state, split as torchmetrics splits it.

    ``update(pred, truth) -> stats [B, k]`` maps a batch of B examples to one row of k summable
    sufficient statistics per example (named by ``stats``); rows add up over examples and over
    resampling units, so a batch, a slice, a cluster (an utterance, a trajectory segment) or a
    bootstrap resample is scored by ``compute(stats.sum(rows))``. ``compute`` maps
    ``stats [..., k] -> score [...]`` along the last axis, so many resamples are computed at
    once; a score of NaN means the metric does not apply (e.g. no unknown microphone in a
    slice) and is left out. ``pred`` and ``truth`` are the batch columns the metric names
    (``columns``; None: the task target), numpy arrays or object arrays of ragged items
    (event lists, correspondence sets). Percent metrics return percent.
    """

    name: str
    unit: str
    higher_is_better: bool
    update: Callable[[Any, Any], np.ndarray]
    compute: Callable[[np.ndarray], np.ndarray]
    stats: tuple[str, ...] = ("sum", "count")
    description: str = ""
    columns: tuple[str, str] | None = None  # (prediction, truth) columns; None: the task target

    def rows(self, pred: Any, truth: Any) -> np.ndarray:
        """``update`` checked: float64 [B, k] with k = len(stats)."""
        rows = np.asarray(self.update(pred, truth), dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != len(self.stats):
            raise ValueError(f"metric {self.name}: update returned shape {rows.shape}, "
                             f"expected [B, {len(self.stats)}]")
        return rows

    def value(self, summed: np.ndarray) -> float:
        """The score of summed statistics [k]."""
        return float(self.compute(np.asarray(summed, dtype=np.float64)))

    def score(self, pred: Any, truth: Any) -> float:
        """The score of one batch: compute(sum of its update rows)."""
        return self.value(self.rows(pred, truth).sum(axis=0))


class SharedRows:
    """One ``update`` for several cards that read the same per-example statistics: ``rows(pred,
    truth) -> [B, k]`` runs once per batch. The last (pred, truth) pair is held by reference,
    so no later batch can take its place by reusing its memory (as an ``id()`` key could)."""

    def __init__(self, rows: Callable[[Any, Any], np.ndarray]) -> None:
        self._rows = rows
        self._last: tuple[Any, Any, np.ndarray] | None = None

    def __call__(self, pred: Any, truth: Any) -> np.ndarray:
        if self._last is not None and self._last[0] is pred and self._last[1] is truth:
            return self._last[2]
        rows = self._rows(pred, truth)
        self._last = (pred, truth, rows)
        return rows


def sum_and_count(values: np.ndarray) -> np.ndarray:
    """Per-example values -> rows (v, 1); a NaN value (metric does not apply) -> (0, 0)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    applies = np.isfinite(values)
    return np.stack([np.where(applies, values, 0.0), applies.astype(np.float64)], axis=1)


def ratio(stats: np.ndarray) -> np.ndarray:
    """compute of a mean: s_0 / s_1 along the last axis (NaN where nothing applies)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(stats[..., 1] > 0, stats[..., 0] / np.maximum(stats[..., 1], 1e-300),
                        np.nan)


def mean_metric(name: str, unit: str, higher_is_better: bool,
                per_example: Callable[[Any, Any], np.ndarray], description: str = "",
                columns: tuple[str, str] | None = None) -> MetricCard:
    """A mean over examples of ``per_example(pred, truth)`` (NaN: does not apply):
    stats (sum v_i, count), score = sum / count."""
    return MetricCard(name, unit, higher_is_better,
                      update=lambda p, t: sum_and_count(per_example(p, t)), compute=ratio,
                      stats=("sum", "count"), description=description, columns=columns)


def root_mean_square_metric(name: str, unit: str, per_example: Callable[[Any, Any], np.ndarray],
                            description: str = "") -> MetricCard:
    """sqrt(mean of v_i^2) over examples: stats (sum v_i^2, count), lower is better."""
    return MetricCard(name, unit, False,
                      update=lambda p, t: sum_and_count(np.square(per_example(p, t))),
                      compute=lambda s: np.sqrt(ratio(s)), stats=("sum_sq", "count"),
                      description=description)
