"""Source-localization metrics (Paper VII): Euclidean error truncated at 3 m, in centimetres.

The per-frame error is e = min(||p_hat - p||_2, 3 m) (3-D Euclidean distance, not per-axis
L1). A frame whose estimate failed (NaN or Inf, e.g. a multilateration that did not converge)
counts as the cap, 3 m: the paper truncates every method's errors there and does not say more.
"""

from __future__ import annotations

import numpy as np

from perloc.bench.core.cards import MetricCard, mean_metric

ERROR_CAP_M = 3.0


def euclidean_error_cm(pred, true, cap_m: float = ERROR_CAP_M) -> np.ndarray:
    """Per-frame 100 * min(||p_hat - p||_2, cap) in cm; non-finite estimates count as the cap.

    >>> euclidean_error_cm(np.array([[3.0, 4.0, 0.0], [np.nan, 0, 0]]), np.zeros((2, 3))).tolist()
    [300.0, 300.0]
    >>> euclidean_error_cm(np.array([[0.3, 0.4, 0.0]]), np.zeros((1, 3))).round(6).tolist()
    [50.0]
    """
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape or pred.shape[-1] not in (2, 3):
        raise ValueError(f"positions must share a (..., 2|3) shape, got {pred.shape} and {true.shape}")
    distance = np.linalg.norm(pred - true, axis=-1)
    distance = np.where(np.isfinite(distance), distance, np.inf)
    return 100.0 * np.minimum(distance, cap_m)


def within_percent(pred, true, threshold_cm: float = 30.0) -> np.ndarray:
    """Per-frame 100 * [e < threshold] (strict); averaged, acc@30cm in percent.

    >>> within_percent(np.array([[0.29, 0, 0], [0.3, 0, 0]]), np.zeros((2, 3))).tolist()
    [100.0, 0.0]
    """
    return 100.0 * (euclidean_error_cm(pred, true) < threshold_cm)


def mic_error_cm(pred, true, cap_m: float = ERROR_CAP_M) -> np.ndarray:
    """Per frame, the mean over its UNKNOWN microphones of 100 * min(||r_hat - r||_2, cap) in cm.

    ``true [B, M, 3]`` holds the positions of the microphones whose coordinates were hidden
    and NaN elsewhere; a frame without any is NaN (the metric does not apply). A missing or
    non-finite estimate of an unknown microphone counts as the cap.

    >>> true = np.array([[[0.0, 0, 0], [np.nan] * 3], [[np.nan] * 3, [np.nan] * 3]])
    >>> mic_error_cm(np.array([[[0.3, 0.4, 0], [9, 9, 9]], [[0, 0, 0], [0, 0, 0]]]), true).tolist()
    [50.0, nan]
    """
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    unknown = np.isfinite(true).all(axis=-1)
    width = true.shape[1]
    if pred.shape[1] < width:
        pad = [(0, 0), (0, width - pred.shape[1]), (0, 0)]
        pred = np.pad(pred, pad, constant_values=np.nan)
    distance = np.linalg.norm(pred[:, :width] - np.where(unknown[..., None], true, 0.0), axis=-1)
    error = 100.0 * np.minimum(np.where(np.isfinite(distance), distance, np.inf), cap_m)
    count = unknown.sum(axis=1)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, np.where(unknown, error, 0.0).sum(axis=1) / count, np.nan)


LOCALIZATION_METRICS: tuple[MetricCard, ...] = (
    mean_metric("mae_cm", "cm", False, euclidean_error_cm,
                "MAE = 1/n sum_i min(||p_hat_i - p_i||_2, 3 m), in cm"),
    mean_metric("acc_30cm", "%", True, within_percent,
                "acc@30cm = 100/n sum_i [min(||p_hat_i - p_i||, 3 m) < 30 cm]"),
)

MIC_MAE = mean_metric(
    "mic_mae_cm", "cm", False, mic_error_cm,
    "mic MAE = mean over frames with unknown mics of (mean over unknown mics of "
    "min(||r_hat_m - r_m||_2, 3 m)), in cm (setups 2_a / 2_b, Paper VII Table 3)",
    columns=("mic_pos", "mic_unknown"))
SSL_METRICS: tuple[MetricCard, ...] = (*LOCALIZATION_METRICS, MIC_MAE)
