"""Metrics of the test-only plug-in task ``toy-tags`` (see ``perloc_toy_task``), over ragged
event lists (multisets of class indices) per clip:

* ``macro_f1``: per class c, TP_c = sum_i min(p_ic, t_ic), FP_c = sum_i p_ic - TP_c,
  FN_c = sum_i t_ic - TP_c (p, t: per-clip counts); F_c = 2 TP_c / (2 TP_c + FP_c + FN_c);
  the mean of F_c over classes with 2 TP_c + FP_c + FN_c > 0, in percent.
* ``class_acc``: mean over classes of (true events of c that were predicted) / (true events
  of c): the mean class accuracy of single-label data, in percent.
* ``clip_recall``: the fraction of clips with at least one event whose recall
  sum_c min(p_c, t_c) / sum_c t_c reaches 0.5 (a fraction per group, like 3DMatch's feature-
  match recall per fragment pair), in percent.
"""

from __future__ import annotations

import numpy as np

from perloc.bench.core.cards import MetricCard, ratio, sum_and_count

CLASSES = ("dog", "car", "bell", "rain")
K = len(CLASSES)


def counts(events) -> np.ndarray:
    """Ragged event lists [B] -> per-class counts [B, K]."""
    return np.stack([np.bincount(np.asarray(e, dtype=np.int64), minlength=K)[:K]
                     for e in events])


def _tp_fp_fn(pred, truth) -> np.ndarray:
    p, t = counts(pred), counts(truth)
    tp = np.minimum(p, t)
    return np.concatenate([tp, p - tp, t - tp], axis=1)


def _macro_f1(stats: np.ndarray) -> np.ndarray:
    tp, fp, fn = stats[..., :K], stats[..., K:2 * K], stats[..., 2 * K:]
    support = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(support > 0, 2 * tp / np.maximum(support, 1e-300), np.nan)
    return 100 * np.nanmean(f, axis=-1)


def _hits_and_counts(pred, truth) -> np.ndarray:
    p, t = counts(pred), counts(truth)
    return np.concatenate([np.minimum(p, t), t], axis=1)


def _class_acc(stats: np.ndarray) -> np.ndarray:
    hits, total = stats[..., :K], stats[..., K:]
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(total > 0, hits / np.maximum(total, 1e-300), np.nan)
    return 100 * np.nanmean(acc, axis=-1)


def _clip_recalled(pred, truth) -> np.ndarray:
    p, t = counts(pred), counts(truth)
    total = t.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.minimum(p, t).sum(axis=1) / total
    return np.where(total > 0, 100.0 * (recall >= 0.5), np.nan)


METRICS = (
    MetricCard("macro_f1", "%", True, update=_tp_fp_fn, compute=_macro_f1,
               stats=tuple(f"{s}_{c}" for s in ("tp", "fp", "fn") for c in CLASSES),
               description="per-class F over ragged event lists, macro mean"),
    MetricCard("class_acc", "%", True, update=_hits_and_counts, compute=_class_acc,
               stats=tuple(f"{s}_{c}" for s in ("hit", "n") for c in CLASSES),
               description="mean over classes of the fraction of true events predicted"),
    MetricCard("clip_recall", "%", True, update=lambda p, t: sum_and_count(_clip_recalled(p, t)),
               compute=ratio, description="clips whose event recall reaches 0.5"),
)
