"""Cards: the declarative description of methods and metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
    kind: str  # "classical" | "learned" (trained by the harness) | "pretrained" (loaded)
    params: type
    reference: str
    summary: str = ""
    capabilities: frozenset[str] = frozenset()
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("classical", "learned", "pretrained"):
            raise ValueError(f"method {self.name}: kind must be classical, learned or pretrained")


def _mean(values: np.ndarray) -> np.ndarray:
    return np.mean(values, axis=-1)


@dataclass(frozen=True)
class MetricCard:
    """A metric as per-unit values plus a reduction.

    ``per_unit(pred, target, **conf)`` returns one value per unit (example); ``reduce`` maps
    ``values[..., n]`` to a score along the last axis, so the bootstrap can reduce many
    resamples at once. Percent metrics return values in percent.
    """

    name: str
    unit: str
    higher_is_better: bool
    per_unit: Callable[..., np.ndarray]
    reduce: Callable[[np.ndarray], Any] = _mean
    unit_of_resampling: str = "example"
    description: str = ""
    conf: dict = field(default_factory=dict)
    columns: tuple[str, str] | None = None  # (prediction, truth) columns; None: the task target

    def values(self, pred: Any, target: Any) -> np.ndarray:
        """Per-unit values; NaN marks a unit the metric does not apply to (left out)."""
        return np.asarray(self.per_unit(pred, target, **self.conf), dtype=np.float64)

    def score(self, values: np.ndarray) -> float:
        return float(self.reduce(np.asarray(values, dtype=np.float64)))
