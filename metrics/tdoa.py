"""TDOA metrics: integer delay estimates against the real-valued true delay, in centimetres.

A delay error of e samples is e * c / fs metres of path difference; at 16 kHz and
c = 343 m/s one sample is 2.14375 cm. All metrics compare the prediction with the
real-valued truth (not its rounding), as the reference evaluation of Paper V does.
"""

from __future__ import annotations

import numpy as np

from perloc.bench.core.cards import MetricCard, mean_metric, root_mean_square_metric

SPEED_OF_SOUND = 343.0
SAMPLE_RATE = 16_000
ACC_THRESHOLDS_CM = (2, 4, 6, 8, 10)


def cm_per_sample(fs: float = SAMPLE_RATE, c: float = SPEED_OF_SOUND) -> float:
    """Path difference per sample of delay: 100 * c / fs  (2.14375 cm at 16 kHz, 343 m/s)."""
    return 100.0 * c / fs


def abs_error_cm(pred, true, fs: float = SAMPLE_RATE, c: float = SPEED_OF_SOUND) -> np.ndarray:
    """Per-example |tau_hat - tau| * 100 c / fs, in cm.

    >>> abs_error_cm(np.array([3]), np.array([2.5])).round(6).tolist()
    [1.071875]
    """
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    return np.abs(pred - true) * cm_per_sample(fs, c)


def hit_percent(pred, true, threshold_cm: float, fs: float = SAMPLE_RATE,
                c: float = SPEED_OF_SOUND) -> np.ndarray:
    """Per-example 100 * [ |tau_hat - tau| * 100 c / fs < threshold ]  (strict inequality).

    Averaged, this is acc@threshold in percent.

    >>> hit_percent(np.array([0, 5]), np.array([0.0, 0.0]), 10.0).tolist()
    [100.0, 0.0]
    """
    return 100.0 * (abs_error_cm(pred, true, fs, c) < threshold_cm)


def _acc_card(threshold: int) -> MetricCard:
    return mean_metric(
        f"acc_{threshold}cm", "%", True, lambda p, t, th=threshold: hit_percent(p, t, th),
        f"acc@{threshold}cm = 100/n sum_i [|tau_hat_i - tau_i| c/fs < {threshold} cm]")


MAE_CM = mean_metric("mae_cm", "cm", False, abs_error_cm,
                     "MAE = 1/n sum_i |tau_hat_i - tau_i| * 100 c / fs")
RMSE_CM = root_mean_square_metric(
    "rmse_cm", "cm", abs_error_cm,
    "RMSE = sqrt(1/n sum_i (|tau_hat_i - tau_i| * 100 c / fs)^2), pooled")
TDOA_METRICS: tuple[MetricCard, ...] = (
    MAE_CM,
    RMSE_CM,
    *(_acc_card(t) for t in sorted(ACC_THRESHOLDS_CM, reverse=True)),
)
