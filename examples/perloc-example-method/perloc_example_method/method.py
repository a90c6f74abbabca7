"""GCC-PHAT with parabolic (3-point) sub-sample interpolation of the correlation peak.

The correlation R[m] over lags -max_tau..max_tau is perloc's batched GCC op
(``perloc.methods.layers.gcc.gcc``, PHAT weighting); this module adds only the interpolation.
With the peak R[k] and its neighbours, the vertex of the parabola through the three points is

    k + d,   d = (R[k-1] - R[k+1]) / (2 (R[k-1] - 2 R[k] + R[k+1])),   |d| <= 1/2

A peak on the edge of the lag window gets d = 0. Importing this module registers the method
as ``gcc-phat-interp`` (the ``perloc.methods`` entry point of this distribution imports it; so
does ``-m perloc_example_method.method:gcc-phat-interp`` without installing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.registry import METHODS
from perloc.methods.layers.gcc import GCCParams, gcc


@dataclass(frozen=True)
class GccPhatInterpParams:
    """eps: added to the PHAT weighting's denominator (absolute); max_tau: largest lag searched
    (samples); n_fft: FFT length, None for 2N (linear correlation)."""

    eps: float = 1e-3
    max_tau: int = 23
    n_fft: int | None = None


def parabolic_peak(corr: np.ndarray) -> np.ndarray:
    """Sub-sample lag (float64 [B]) of the peak of correlations ``corr [B, 2 T + 1]`` whose
    index k stands for lag k - T."""
    corr = np.asarray(corr, dtype=np.float64)
    width = corr.shape[-1]
    peak = corr.argmax(axis=-1)
    lag = (peak - (width - 1) // 2).astype(np.float64)
    if width < 3:
        return lag
    mid = np.clip(peak, 1, width - 2)
    left, centre, right = (np.take_along_axis(corr, (mid + s)[:, None], axis=-1)[:, 0]
                           for s in (-1, 0, 1))
    curvature = left - 2.0 * centre + right
    inner = (peak == mid) & (curvature < 0)
    offset = 0.5 * (left - right) / np.where(inner, curvature, -1.0)
    return lag + np.where(inner, np.clip(offset, -0.5, 0.5), 0.0)


class GccPhatInterp:
    """Pair (0, 1) of ``batch["signals"]`` (B, M, N) -> ``tau`` (B,) in fractional samples."""

    card = MethodCard(
        name="gcc-phat-interp", task="tdoa", kind="classical", params=GccPhatInterpParams,
        reference="Knapp & Carter 1976 + parabolic peak interpolation",
        summary="GCC-PHAT, peak refined by a parabola through the 3 samples around it",
    )

    def __init__(self, params: GccPhatInterpParams = GccPhatInterpParams()) -> None:
        self.params = params
        self.gcc_params = GCCParams("phat", params.eps, params.max_tau, params.n_fft)

    def predict(self, batch: Batch) -> Batch:
        with torch.inference_mode():
            corr = gcc(batch["signals"], [[0, 1]], self.gcc_params)[:, 0]
        return Batch({"tau": parabolic_peak(corr.numpy())}, dict(batch.meta))


METHODS.add(GccPhatInterp.card.name, GccPhatInterp, GccPhatInterp.card.aliases)
