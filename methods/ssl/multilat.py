"""Robust multilateration as harness methods: ``multilat`` (GCC-PHAT) and ``multilat-ngcc``.

* ``multilat`` (Paper VII "Multilat"): GCC-PHAT of every unordered pair (the harness op: 2N
  FFT, PHAT guard 1e-3, lags -tau_max..tau_max; [R-sfs] uses a thresholded PHAT at 96 kHz),
  its top-4 peaks as candidate TDOAs, RANSAC + Gauss-Newton
  (:mod:`perloc.methods.ssl.multilateration`).
* ``multilat-ngcc`` (Paper VII "Multilat*"): one candidate per pair, the argmax of a
  pre-trained NGCC-PHAT (:mod:`perloc.methods.ssl.ngcc_pairs`); with the paper's gate
  (> 10 measurements) it cannot run with 5 microphones (10 pairs), as in Table 2.

Frames that do not converge are NaN (``may_fail``): the record counts them and the metric
scores them as the 3 m cap. Microphones are put in a canonical order (by coordinates) before
the pairs are formed, so the result does not depend on the order they are listed in:
permutation invariance holds exactly, RANSAC's random draws included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from perloc.bench.core import device
from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.protocols import FitContext
from perloc.bench.core.registry import METHODS
from perloc.datasets.ssl_schema import setup_1a_rows
from perloc.methods.layers.gcc import GCCParams, all_pairs, gcc
from perloc.methods.ssl.multilateration import (
    RansacParams,
    multilaterate_batch,
    pair_measurements,
    top_peaks,
)
from perloc.methods.ssl.ngcc_pairs import ngcc_config, pretrained_ngcc
from perloc.methods.training import ModelState

_REF = "Paper VII Tables 1-2; Åström et al., EUSIPCO 2021 (StructureFromSound2)"
_CAPS = frozenset({"perm_invariant", "variable_mics", "may_fail"})


def canonical_order(mic_pos: np.ndarray) -> np.ndarray:
    """Per frame, the microphone order sorted by (x, y, z): ``[B, M]`` indices."""
    keys = np.round(mic_pos.astype(np.float64), 9)
    return np.stack([np.lexsort(k.T[::-1]) for k in keys])


def _canonical(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    order = canonical_order(batch["mic_pos"])
    rows = np.arange(len(order))[:, None]
    return np.asarray(batch["signals"])[rows, order], np.asarray(batch["mic_pos"])[rows, order]


def _solve(mic_pos: np.ndarray, pairs: np.ndarray, lags: np.ndarray, ransac: RansacParams,
           seed: int) -> np.ndarray:
    i, j, d, valid = pair_measurements(pairs, lags)
    positions, _ = multilaterate_batch(mic_pos.astype(np.float64), i, j, d, valid, ransac,
                                       np.random.default_rng(seed))
    return positions


@dataclass(frozen=True)
class MultilatParams:
    """peaks: candidates per pair; max_tau: lag window (314 for LuViRA); seed: RANSAC draws."""

    peaks: int = 4
    max_tau: int = 314
    iterations: int = 100
    inlier_m: float = 0.1
    min_measurements: int = 11
    min_inliers: int = 10
    seed: int = 0

    def ransac(self) -> RansacParams:
        return RansacParams(self.iterations, self.inlier_m, self.min_measurements,
                            self.min_inliers)


class Multilat:
    card = MethodCard(
        name="multilat", task="ssl", kind="classical", params=MultilatParams, reference=_REF,
        summary="top-4 GCC-PHAT peaks per pair, RANSAC (100 draws, 0.1 m) + Gauss-Newton",
        capabilities=_CAPS,
    )

    def __init__(self, params: MultilatParams = MultilatParams()) -> None:
        self.params = params

    def accepts(self, batch: Batch) -> np.ndarray:
        return setup_1a_rows(batch)

    def candidate_lags(self, signals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = device.tensor(signals)
        pairs = all_pairs(x.shape[1], x.device)
        corr = device.host(gcc(x, pairs, GCCParams("phat", 1e-3, self.params.max_tau)))
        return device.host(pairs), top_peaks(corr, self.params.peaks)

    def predict(self, batch: Batch) -> Batch:
        signals, mic_pos = _canonical(batch)
        pairs, lags = self.candidate_lags(signals)
        position = _solve(mic_pos, pairs, lags, self.params.ransac(), self.params.seed)
        return Batch({"position": position}, dict(batch.meta))


@dataclass(frozen=True)
class MultilatNgccParams(MultilatParams):
    """One NGCC-PHAT argmax per pair; ``ngcc_*``: the pre-trained NGCC's size."""

    peaks: int = 1
    ngcc_channels: int = 128
    ngcc_sinc_kernel: int = 1023


class MultilatNgcc(ModelState, Multilat):
    card = MethodCard(
        name="multilat-ngcc", task="ssl", kind="learned", params=MultilatNgccParams,
        reference=_REF + "; NGCC-PHAT (Paper V) pre-trained on the training pairs",
        summary="Multilat*: NGCC-PHAT argmax per pair, RANSAC + Gauss-Newton",
        capabilities=_CAPS, aliases=("multilat*",),
    )

    def __init__(self, params: MultilatNgccParams = MultilatNgccParams()) -> None:
        super().__init__(params)
        self.ngcc_params = ngcc_config(params.ngcc_channels, params.ngcc_sinc_kernel,
                                       params.max_tau)
        from perloc.methods.tdoa.ngcc import NGCCPHAT

        self.model = device.build(lambda: NGCCPHAT(self.ngcc_params)).eval()

    def fit(self, training, ctx: FitContext) -> dict[str, list[float]]:
        self.model, history = pretrained_ngcc(self.ngcc_params, training, ctx)
        return history

    def candidate_lags(self, signals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = device.tensor(signals, dtype=torch.float32)
        x = (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + 1e-8)
        pairs = all_pairs(x.shape[1], x.device)
        with torch.inference_mode():
            delays = self.model.predict_delay(self.model.pair_logits(x, pairs))
        return device.host(pairs), device.host(delays).astype(np.float64)[..., None]


for _method in (Multilat, MultilatNgcc):
    METHODS.add(_method.card.name, _method, _method.card.aliases)
