"""SRP-PHAT (pyroomacoustics) as a classical, DOA-only SELD reference with oracle detection.

For each label frame (100 ms) that has k reference events, the steered response power with PHAT
weighting of the frame's STFT (n_fft 512, hop 256, ``freq_range``) is maximised over a
direction grid (azimuth every ``grid_deg`` degrees, elevation -40..60) for k sources; each
direction then takes the class of the reference event it is matched to by the Hungarian method
on the angle, and a constant distance ``distance_m``. Detection (which frames, how many events,
which classes) is thus the reference's: the row's F is an upper bound on what SRP-PHAT's
directions allow, and its DOAE is the DOA error of the classical method under oracle
association. It is labelled ``oracle`` on the board.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyroomacoustics as pra
from scipy.optimize import linear_sum_assignment

from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.registry import METHODS
from perloc.datasets.dcase_csv import DcaseEvents, polar_to_unit
from perloc.datasets.seld_labels import FS, MIC_POSITIONS, SPEED_OF_SOUND
from perloc.datasets.starss23 import LABEL_HOP
from perloc.metrics.seld import angular_error_deg

N_FFT, HOP = 512, 256


@dataclass(frozen=True)
class SrpParams:
    grid_deg: float = 5.0
    low_hz: float = 300.0
    high_hz: float = 3500.0  # below the array's spatial aliasing (6.8 cm pairs: ~2.5 kHz)
    distance_m: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.grid_deg <= 30 or not 0 < self.low_hz < self.high_hz <= FS / 2:
            raise ValueError("grid_deg must be in (0, 30] and 0 < low_hz < high_hz <= 12000")
        if self.distance_m < 0:
            raise ValueError("distance_m must be >= 0")


class SrpPhat:
    """SRP-PHAT directions with oracle detection (module docstring)."""

    card = MethodCard(
        name="srp-phat-oracle", task="seld", kind="classical", params=SrpParams,
        reference="DiBiase et al. 2001 (SRP-PHAT), pyroomacoustics; oracle detection",
        summary="SRP-PHAT DOA on the reference's active frames and classes (oracle), "
                "constant distance")

    def __init__(self, params: SrpParams = SrpParams()) -> None:
        self.params = p = params
        azimuth = np.radians(np.arange(-180.0, 180.0, p.grid_deg))
        colatitude = np.radians(90.0 - np.arange(-40.0, 60.0 + 1e-9, p.grid_deg))
        self.doa = pra.doa.algorithms["SRP"](MIC_POSITIONS.T, FS, N_FFT, c=SPEED_OF_SOUND,
                                             azimuth=azimuth, colatitude=colatitude, dim=3)

    def _directions(self, chunk: np.ndarray, k: int) -> np.ndarray:
        stft = np.stack([pra.transform.stft.analysis(ch, N_FFT, HOP).T for ch in chunk])
        self.doa.locate_sources(stft, num_src=k, freq_range=[self.params.low_hz,
                                                             self.params.high_hz])
        return polar_to_unit(np.degrees(np.atleast_1d(self.doa.azimuth_recon)),
                             90.0 - np.degrees(np.atleast_1d(self.doa.colatitude_recon)))

    def _file(self, audio: np.ndarray, truth: DcaseEvents) -> DcaseEvents:
        n_label = audio.shape[-1] // LABEL_HOP
        rows = []
        for t in np.unique(truth.frame[truth.frame < n_label]):
            ref = np.flatnonzero(truth.frame == t)
            chunk = audio[:, t * LABEL_HOP:(t + 1) * LABEL_HOP]
            directions = self._directions(chunk, len(ref))
            cost = angular_error_deg(truth.xyz[ref][:, None], directions[None])
            r, c = linear_sum_assignment(cost)
            rows += [(t, truth.cls[ref[i]], directions[j]) for i, j in zip(r, c, strict=True)]
        if not rows:
            return DcaseEvents.empty()
        return DcaseEvents(np.array([r[0] for r in rows], np.int64),
                           np.array([r[1] for r in rows], np.int64), np.zeros(len(rows), np.int64),
                           np.array([r[2] for r in rows]),
                           np.full(len(rows), self.params.distance_m))

    def predict(self, batch: Batch) -> Batch:
        events = np.empty(len(batch), dtype=object)
        for i, (audio, truth) in enumerate(zip(batch["audio"], batch["events"], strict=True)):
            events[i] = self._file(np.asarray(audio, dtype=np.float64), truth)
        return Batch({"events": events}, dict(batch.meta))


METHODS.add(SrpPhat.card.name, SrpPhat, ())
