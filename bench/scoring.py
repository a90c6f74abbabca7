"""Scores of a whole run: every metric overall and per condition slice, with bootstrap CIs."""

from __future__ import annotations

import hashlib
from itertools import combinations, product

import numpy as np

from perloc.bench.core.cards import MetricCard
from perloc.bench.core.record import Score
from perloc.metrics.bootstrap import bootstrap_cis

TARGET = "__target__"
Columns = dict[str, np.ndarray]


def _as_columns(data) -> Columns:
    return data if isinstance(data, dict) else {TARGET: np.asarray(data)}


def metric_values(card: MetricCard, pred: Columns, true: Columns) -> np.ndarray | None:
    """Per-unit values of ``card`` from its columns (the target unless it names others); None
    when a column is missing (e.g. a method that does not estimate microphone positions)."""
    p_col, t_col = card.columns or (TARGET, TARGET)
    if p_col not in pred or t_col not in true:
        return None
    return card.values(pred[p_col], true[t_col])


def score_table(metrics: tuple[MetricCard, ...], pred, true, n_resamples: int,
                rng: np.random.Generator) -> dict[str, Score]:
    """metric -> Score(value, 95% CI) over the given units.

    Metrics defined on every unit share one set of resamples; a metric that leaves units out
    (NaN values) is bootstrapped over its own units, and skipped when none is left.
    """
    pred, true = _as_columns(pred), _as_columns(true)
    full, partial = [], []
    for card in metrics:
        values = metric_values(card, pred, true)
        if values is None or not np.isfinite(values).any():
            continue
        (full if np.isfinite(values).all() else partial).append((card, values))
    out = _bootstrapped(full, n_resamples, rng)
    for card, values in partial:
        out.update(_bootstrapped([(card, values[np.isfinite(values)])], n_resamples, rng))
    return {card.name: out[card.name] for card in metrics if card.name in out}


def _bootstrapped(items: list[tuple[MetricCard, np.ndarray]], n_resamples: int,
                  rng: np.random.Generator) -> dict[str, Score]:
    if not items:
        return {}
    cis = bootstrap_cis([v for _, v in items], [card.reduce for card, _ in items],
                        n_resamples=n_resamples, rng=rng)
    return {card.name: Score(card.score(v), lo, hi, len(v))
            for (card, v), (lo, hi) in zip(items, cis, strict=True)}


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


def _rows(columns: Columns, mask: np.ndarray) -> Columns:
    return {k: v[mask] for k, v in columns.items()}


def score_run(metrics: tuple[MetricCard, ...], pred, true, meta: dict[str, np.ndarray],
              slice_by: tuple[str, ...], n_resamples: int,
              seed: int) -> tuple[dict[str, Score], dict[str, dict[str, Score]]]:
    """Overall scores and per-slice scores, each with its own deterministic resamples.

    ``pred`` / ``true`` are the target arrays, or dicts of columns for metrics that name theirs.
    """
    pred, true = _as_columns(pred), _as_columns(true)
    overall = score_table(metrics, pred, true, n_resamples, _slice_rng(seed, "overall"))
    slices = {
        name: score_table(metrics, _rows(pred, mask), _rows(true, mask), n_resamples,
                          _slice_rng(seed, name))
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
        cells[task.headline_slice] = cell_mask(meta, task.headline_slice)
    return {name: np.percentile(values[mask], np.arange(101)).round(4).tolist()
            for name, mask in cells.items() if mask.any()}
