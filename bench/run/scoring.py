"""Scores of a whole run from metric state: every metric overall and per condition slice,
with bootstrap CIs over the task's resampling units.

During prediction each metric's ``update`` turns a batch into per-example rows of summable
statistics (:class:`RunStats` keeps only those rows and the meta columns, never the
predictions). Afterwards every table (overall, each slice) sums the rows of each resampling
unit (an example, or the cluster a meta column names: an utterance, a trajectory segment),
scores the total with ``compute`` and bootstraps the units.

Failed estimates of ``may_fail`` methods are scored by the metric's rule (e.g. the 3 m cap);
but a grid cell where the method failed EVERY example has no score at all: it is N/A, its
failure rate is recorded, and it is left out of every pooled table (overall, one-column
slices), which the record lists in ``excluded_cells``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from itertools import combinations, product

import numpy as np

from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MetricCard
from perloc.bench.core.record import Score
from perloc.metrics.bootstrap import bootstrap_cis, cluster_rows, jackknife_cis

EXAMPLE = "example"
SCORING_VERSION = 2  # metric state, clustered bootstrap, N/A cells: part of every run key


@dataclass
class RunStats:
    """Per-example metric rows, meta columns and failure flags, accumulated batch by batch."""

    metrics: tuple[MetricCard, ...]
    target: str
    rows: dict[str, list[np.ndarray]] = field(default_factory=dict)
    meta: dict[str, list[np.ndarray]] = field(default_factory=dict)
    failed: list[np.ndarray] = field(default_factory=list)

    def update(self, pred: Batch, truth: Batch, failed: np.ndarray) -> None:
        """Add one batch: each metric whose columns are present adds its update rows."""
        for card in self.metrics:
            p_col, t_col = card.columns or (self.target, self.target)
            if p_col in pred and t_col in truth:
                self.rows.setdefault(card.name, []).append(card.rows(pred[p_col], truth[t_col]))
        for column, values in truth.meta.items():
            self.meta.setdefault(column, []).append(np.asarray(values))
        self.failed.append(np.asarray(failed, dtype=bool))

    def arrays(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
        """(metric -> rows [N, k], column -> meta [N], failed [N]); a metric that skipped some
        batches (its columns absent there) keeps rows only if it covered every example."""
        n = sum(len(f) for f in self.failed)
        rows = {name: np.concatenate(parts) for name, parts in self.rows.items()}
        rows = {name: r for name, r in rows.items() if len(r) == n}
        meta = {c: np.concatenate(parts) for c, parts in self.meta.items()}
        failed = np.concatenate(self.failed) if self.failed else np.zeros(0, dtype=bool)
        return rows, meta, failed


@dataclass
class Scored:
    """What scoring a run yields for its record."""

    scores: dict[str, Score]
    slices: dict[str, dict[str, Score]]
    failures: dict[str, float]  # table -> fraction of failed estimates (only where > 0)
    excluded_cells: list[str]  # grid cells with every estimate failed: N/A, not pooled


def _format(value) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value.item() if hasattr(value, "item") else value)


def slice_masks(meta: dict[str, np.ndarray], columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Boolean masks per value of each column and per value combination of every group of
    two or more columns (in ``columns`` order).

    Names look like ``snr=6``, ``t60=0.4`` and ``snr=6|t60=0.4``.
    """
    masks: dict[str, np.ndarray] = {}
    uniques = {c: np.unique(meta[c]) for c in columns}
    for size in range(1, len(columns) + 1):
        for group in combinations(columns, size):
            for combo in product(*(uniques[c] for c in group)):
                mask = np.logical_and.reduce([meta[c] == v
                                              for c, v in zip(group, combo, strict=True)])
                if mask.any():
                    name = "|".join(f"{c}={_format(v)}" for c, v in zip(group, combo, strict=True))
                    masks[name] = mask
    return masks


def cell_mask(meta: dict[str, np.ndarray], name: str) -> np.ndarray:
    """Rows of the slice ``name`` (``setup=1_a|mics=11``), matched as slice_masks names them."""
    mask = np.ones(len(next(iter(meta.values()))), dtype=bool)
    for part in name.split("|"):
        column, _, value = part.partition("=")
        mask &= np.array([_format(v) == value for v in meta[column]]) if column in meta else False
    return mask


def _slice_rng(seed: int, name: str) -> np.random.Generator:
    digest = int.from_bytes(hashlib.sha1(name.encode()).digest()[:4], "little")
    return np.random.default_rng([seed, 7, digest])


def score_table(metrics: tuple[MetricCard, ...], rows: dict[str, np.ndarray],
                units: np.ndarray | None, n_resamples: int,
                rng: np.random.Generator, interval: str = "bootstrap") -> dict[str, Score]:
    """metric -> Score(value, 95% CI, n examples, units) over the given example rows.

    Rows are summed per resampling unit; all metrics share one set of unit resamples (the
    percentile bootstrap) or leave each unit out in turn (``interval="jackknife"``). A
    metric whose total scores NaN (it applies to no example here) is left out.
    """
    present = [card for card in metrics if card.name in rows]
    if not present:
        return {}
    n = len(rows[present[0].name])
    clustered = {c.name: cluster_rows(rows[c.name], units) for c in present}
    values = {c.name: c.value(rows[c.name].sum(axis=0)) for c in present}
    applies = [c for c in present if np.isfinite(values[c.name])]
    stats, computes = [clustered[c.name] for c in applies], [c.compute for c in applies]
    if interval == "jackknife":
        cis = jackknife_cis(stats, computes)
    elif interval == "bootstrap":
        cis = bootstrap_cis(stats, computes, n_resamples=n_resamples, rng=rng)
    else:
        raise ValueError(f"interval must be bootstrap or jackknife, got {interval!r}")
    return {c.name: Score(values[c.name], lo, hi, n, len(clustered[c.name]))
            for c, (lo, hi) in zip(applies, cis, strict=True)}


def _excluded(meta: dict[str, np.ndarray], failed: np.ndarray,
              grid: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """(examples in a fully-failed grid cell, the names of those cells)."""
    out = np.zeros(len(failed), dtype=bool)
    if not failed.any():
        return out, []
    columns = tuple(c for c in grid if c in meta)
    cells = slice_masks(meta, columns) if columns else {"all": np.ones(len(failed), bool)}
    names = []
    for name, mask in cells.items():
        if name.count("|") == len(columns) - 1 and failed[mask].all():
            out |= mask
            names.append(name)
    return out, names


def score_run(metrics: tuple[MetricCard, ...], rows: dict[str, np.ndarray],
              meta: dict[str, np.ndarray], *, slice_by: tuple[str, ...], unit: str,
              n_resamples: int, seed: int, failed: np.ndarray | None = None,
              grid: tuple[str, ...] = (), interval: str = "bootstrap") -> Scored:
    """Overall and per-slice scores, each with its own deterministic resamples.

    ``unit`` is ``"example"`` or the meta column whose values are the resampling units;
    ``grid`` names the condition columns whose cells can be excluded as fully failed.
    """
    n = len(next(iter(rows.values()))) if rows else 0
    failed = np.zeros(n, dtype=bool) if failed is None else failed
    units = None if unit == EXAMPLE else np.asarray(meta[unit])
    excluded, excluded_cells = _excluded(meta, failed, grid)
    tables = {"overall": np.ones(n, dtype=bool), **slice_masks(meta, slice_by)}
    scores, failures = {}, {}
    for name, mask in tables.items():
        if failed[mask].any():
            failures[name] = round(float(failed[mask].mean()), 6)
        kept = mask & ~excluded
        if not kept.any():
            continue
        scores[name] = score_table(metrics, {k: v[kept] for k, v in rows.items()},
                                   None if units is None else units[kept], n_resamples,
                                   _slice_rng(seed, name), interval)
    overall = scores.pop("overall", {})
    return Scored(overall, scores, failures, excluded_cells)
