"""Paper I's metrics (spec dold_pointtnt.md §3.1), over the columns ``target`` (estimates
ŷ_i [N, D]) and ``target_class`` (the true class of an ordinal target, -1 where the target is
continuous).

* MAE  = (1/N) sum_i (1/D) sum_d |ŷ_id - t_id|: years (UTKFace), the mean of the per-angle
  MAEs in degrees (BIWI's "Average": every image has all three angles, so the mean over
  images of the per-image mean equals the mean of the three MAEs), decades (HCI, on the
  predicted class; Direct on its unrounded output). No angle wrap-around.
* MAE_d = (1/N) sum_i |ŷ_id - t_id| for d = yaw, pitch, roll (BIWI; N/A for D != 3).
* accuracy = 100/N sum_i [clip(round(ŷ_i), 0, K-1) = c_i] (HCI; Direct rounds its output,
  the classifiers already predict a class; N/A where the target is continuous).

The seed aggregation of the boards is the paper's: mean ± sample std (ddof = 1) over runs.
"""

from __future__ import annotations

import numpy as np

from perloc.bench.core.cards import mean_metric

ANGLES = ("yaw", "pitch", "roll")
HCI_CLASSES = 5


def _pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    pred, true = pred.reshape(len(pred), -1), true.reshape(len(true), -1)
    if pred.shape != true.shape:
        raise ValueError(f"estimates {pred.shape} and targets {true.shape} differ in shape")
    return pred, true


def absolute_error(pred, true) -> np.ndarray:
    """Per example (1/D) sum_d |ŷ_d - t_d|.

    >>> absolute_error([[1.0, 2.0, 3.0]], [[0.0, 0.0, 0.0]]).tolist()
    [2.0]
    """
    pred, true = _pair(pred, true)
    return np.abs(pred - true).mean(axis=1)


def angle_error(index: int):
    """Per example |ŷ_d - t_d| of angle ``index``; NaN (does not apply) unless D = 3."""
    def per_example(pred, true) -> np.ndarray:
        pred, true = _pair(pred, true)
        if pred.shape[1] != len(ANGLES):
            return np.full(len(pred), np.nan)
        return np.abs(pred[:, index] - true[:, index])
    return per_example


def class_correct(pred, true_class) -> np.ndarray:
    """Per example 100 * [clip(round(ŷ), 0, K - 1) = c] for an ordinal target; NaN where
    ``true_class`` < 0 (continuous targets).

    >>> class_correct([[1.4], [2.6], [-3.0]], [1, 2, 0]).tolist()
    [100.0, 0.0, 100.0]
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)[:, 0]
    true_class = np.asarray(true_class).reshape(-1)
    guess = np.clip(np.round(pred), 0, HCI_CLASSES - 1)
    return np.where(true_class >= 0, 100.0 * (guess == true_class), np.nan)


MAE = mean_metric("mae", "label unit", False, absolute_error,
                  "mean absolute error: (1/N) sum_i (1/D) sum_d |ŷ_id - t_id| (years, degrees "
                  "averaged over yaw/pitch/roll, or decades)")
ANGLE_MAES = tuple(
    mean_metric(f"mae_{angle}", "degrees", False, angle_error(k),
                f"BIWI {angle} MAE: (1/N) sum_i |ŷ_{angle} - t_{angle}| (N/A without 3 angles)")
    for k, angle in enumerate(ANGLES))
ACCURACY = mean_metric("accuracy", "%", True, class_correct,
                       "HCI decade accuracy: 100/N sum_i [round(ŷ_i) = c_i] (N/A for "
                       "continuous targets)", columns=("target", "target_class"))
ORDINAL_METRICS = (MAE, *ANGLE_MAES, ACCURACY)
