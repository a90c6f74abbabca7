"""Classification metrics (Paper III): top-1 accuracy, per-class accuracy, confusion counts.

Per clip i with true class y_i and predicted class y_hat_i (the argmax of the logits):

* top-1 accuracy  A = 100 / N * sum_i [y_hat_i = y_i]   (percent); its 95 % CI comes from the
  harness's percentile bootstrap over clips;
* per-class accuracy  A_c = 100 * sum_{i: y_i = c} [y_hat_i = c] / |{i: y_i = c}|   (the
  recall of class c; the harness gets it as the accuracy of the slice ``word=c``);
* confusion counts  C[t, p] = |{i: y_i = t, y_hat_i = p}|   (rows true, columns predicted).
"""

from __future__ import annotations

import numpy as np

from perloc.bench.core.cards import mean_metric


def correct_percent(pred, true) -> np.ndarray:
    """Per clip 100 * [y_hat = y]; its mean is top-1 accuracy in percent.

    >>> correct_percent(np.array([1, 2, 3]), np.array([1, 0, 3])).tolist()
    [100.0, 0.0, 100.0]
    """
    pred = np.asarray(pred)
    true = np.asarray(true)
    if pred.shape != true.shape:
        raise ValueError(f"labels must share a shape, got {pred.shape} and {true.shape}")
    return 100.0 * (pred.astype(np.int64) == true.astype(np.int64))


def confusion_counts(pred, true, n_classes: int) -> np.ndarray:
    """C[t, p] = number of clips of true class t predicted as p, [n_classes, n_classes].

    >>> confusion_counts(np.array([0, 1, 1]), np.array([0, 0, 1]), 2).tolist()
    [[1, 1], [0, 1]]
    """
    pred = np.asarray(pred, dtype=np.int64)
    true = np.asarray(true, dtype=np.int64)
    if pred.size and (min(pred.min(), true.min()) < 0 or max(pred.max(), true.max()) >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (true, pred), 1)
    return counts


def per_class_accuracy(counts: np.ndarray) -> np.ndarray:
    """A_c = 100 * C[c, c] / sum_p C[c, p]; NaN for a class without clips.

    >>> per_class_accuracy(np.array([[3, 1], [0, 0]])).tolist()
    [75.0, nan]
    """
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, 100.0 * np.diag(counts) / totals, np.nan)


ACCURACY = mean_metric(
    "accuracy", "%", True, correct_percent,
    "top-1 accuracy: 100 * mean [argmax logits = label] (per class: slice word=c)")
KWS_METRICS = (ACCURACY,)
