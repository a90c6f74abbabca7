"""Scores of a whole run: every metric overall and per condition slice, with bootstrap CIs."""

from __future__ import annotations

import hashlib
from itertools import combinations, product

import numpy as np

from perloc.bench.core.cards import MetricCard
from perloc.bench.core.record import Score
from perloc.metrics.bootstrap import bootstrap_cis


def score_table(metrics: tuple[MetricCard, ...], pred: np.ndarray, true: np.ndarray,
                n_resamples: int, rng: np.random.Generator) -> dict[str, Score]:
    """metric -> Score(value, 95% CI) over the given units (one resample set for all)."""
    values = [card.values(pred, true) for card in metrics]
    cis = bootstrap_cis(values, [card.reduce for card in metrics], n_resamples=n_resamples, rng=rng)
    return {card.name: Score(card.score(v), lo, hi, len(v))
            for card, v, (lo, hi) in zip(metrics, values, cis, strict=True)}


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
    for column in columns:
        for value in uniques[column]:
            masks[f"{column}={_format(value)}"] = meta[column] == value
    for size in range(2, len(columns) + 1):
        for group in combinations(columns, size):
            for combo in product(*(uniques[c] for c in group)):
                mask = np.logical_and.reduce([meta[c] == v
                                              for c, v in zip(group, combo, strict=True)])
                if mask.any():
                    name = "|".join(f"{c}={_format(v)}" for c, v in zip(group, combo, strict=True))
                    masks[name] = mask
    return masks


def _slice_rng(seed: int, name: str) -> np.random.Generator:
    digest = int.from_bytes(hashlib.sha1(name.encode()).digest()[:4], "little")
    return np.random.default_rng([seed, 7, digest])


def score_run(metrics: tuple[MetricCard, ...], pred: np.ndarray, true: np.ndarray,
              meta: dict[str, np.ndarray], slice_by: tuple[str, ...], n_resamples: int,
              seed: int) -> tuple[dict[str, Score], dict[str, dict[str, Score]]]:
    """Overall scores and per-slice scores, each with its own deterministic resamples."""
    overall = score_table(metrics, pred, true, n_resamples, _slice_rng(seed, "overall"))
    slices = {
        name: score_table(metrics, pred[mask], true[mask], n_resamples, _slice_rng(seed, name))
        for name, mask in slice_masks(meta, slice_by).items()
    }
    return overall, slices


def error_percentiles(task, pred: np.ndarray, true: np.ndarray, meta: dict[str, np.ndarray]
                      ) -> dict[str, list[float]]:
    """0th..100th percentiles of the primary metric's per-example values, overall and in the
    task's headline cell (the data of a cumulative error plot, Paper VII Figure 6)."""
    values = task.metric(task.primary).values(pred, true)
    cells = {"overall": np.ones(len(values), dtype=bool)}
    if task.headline_slice:
        mask = slice_masks(meta, task.slice_by).get(task.headline_slice)
        if mask is not None:
            cells[task.headline_slice] = mask
    return {name: np.percentile(values[mask], np.arange(101)).round(4).tolist()
            for name, mask in cells.items() if mask.any()}
