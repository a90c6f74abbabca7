"""Shoebox rooms (pyroomacoustics image-source model) and the Paper V room geometry.

Walls follow Sabine's formula inverted for the target T60 (``pyroomacoustics.inverse_sabine``);
T60 = 0 means anechoic (absorption 1, max_order 0). The mixing step reproduces
``Room.simulate(reference_mic=0, snr=...)``: every mic signal is scaled so that the whole
reverberant signal at the reference mic has unit standard deviation, then white noise of
variance 10^(-SNR/10) is added. RIRs are computed once (see ``rir_bank``) and reused for
every SNR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

SPEED_OF_SOUND = 343.0
SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class RoomSpec:
    """A shoebox room with a fixed microphone array (metres)."""

    name: str
    dims: tuple[float, float, float]
    mics: tuple[tuple[float, float, float], ...]
    fs: int = SAMPLE_RATE

    def max_tau(self, c: float = SPEED_OF_SOUND) -> int:
        """floor(|r1 - r2| fs / c) for the first pair: 23 for 0.5 m at 16 kHz (Paper V code)."""
        spacing = np.linalg.norm(np.subtract(self.mics[0], self.mics[1]))
        return int(np.floor(spacing * self.fs / c))


TRAIN_ROOM = RoomSpec("paper5-train", (7.0, 5.0, 3.0), ((3.5, 2.25, 1.5), (3.5, 2.75, 1.5)))
TEST_ROOM = RoomSpec("paper5-test", (6.0, 4.0, 2.5), ((3.0, 1.75, 1.25), (3.0, 2.25, 1.25)))


def sabine_floor(dims: tuple[float, ...], c: float = SPEED_OF_SOUND) -> float:
    """The shortest T60 Sabine's formula allows in a shoebox: every wall fully absorbing,
    T60 = (24 ln 10 / c) V / S (pyroomacoustics' ``inverse_sabine`` refuses anything shorter)."""
    x, y, z = dims
    return 24 * np.log(10) / c * (x * y * z) / (2 * (x * y + y * z + x * z))


def wall_model(dims: tuple[float, ...], t60: float) -> tuple[float, int]:
    """(energy absorption, max_order) for a target T60; anechoic for T60 <= 0."""
    import pyroomacoustics as pra

    if t60 <= 0:
        return 1.0, 0
    absorption, max_order = pra.inverse_sabine(t60, list(dims))
    return float(absorption), int(max_order)


def compute_rir(room: RoomSpec, source: np.ndarray, t60: float) -> np.ndarray:
    """Room impulse responses (M, L) float32 from ``source`` to every mic of ``room``."""
    import pyroomacoustics as pra

    absorption, max_order = wall_model(room.dims, t60)
    shoebox = pra.ShoeBox(list(room.dims), fs=room.fs, materials=pra.Material(absorption),
                          max_order=max_order, air_absorption=False, ray_tracing=False)
    shoebox.add_source(list(np.asarray(source, dtype=float)))
    shoebox.add_microphone_array(np.asarray(room.mics, dtype=float).T)
    shoebox.compute_rir()
    rirs = [np.asarray(shoebox.rir[m][0], dtype=np.float32) for m in range(len(room.mics))]
    out = np.zeros((len(rirs), max(len(r) for r in rirs)), dtype=np.float32)
    for m, rir in enumerate(rirs):
        out[m, : len(rir)] = rir
    return out


def true_tdoa(mics: np.ndarray, source: np.ndarray, fs: int = SAMPLE_RATE,
              c: float = SPEED_OF_SOUND) -> np.ndarray:
    """tau_ij = (|s - r_i| - |s - r_j|) fs / c in samples for the pair (0, 1) of ``mics``.

    ``source`` may be (3,) or (B, 3); positive tau means mic 0 is farther from the source.
    """
    source = np.asarray(source, dtype=np.float64)
    distances = np.linalg.norm(source[..., None, :] - np.asarray(mics, dtype=np.float64), axis=-1)
    return (distances[..., 0] - distances[..., 1]) * fs / c


def sample_sources(room: RoomSpec, n: int, rng: np.random.Generator, margin: float = 1e-3
                   ) -> np.ndarray:
    """n source positions uniform over the box (a millimetre away from the walls)."""
    dims = np.asarray(room.dims)
    return rng.uniform(margin, dims - margin, size=(n, 3))


def reverberate(rir: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Clean reverberant mic signals (M, L) scaled to unit std at mic 0, as pra's simulate.

    L = len(rir) + len(signal) - 1, rounded up to even, zero padded (pra's premix length).
    """
    length = rir.shape[1] + len(signal) - 1
    length += length % 2
    out = np.zeros((rir.shape[0], length), dtype=np.float64)
    out[:, : rir.shape[1] + len(signal) - 1] = fftconvolve(rir.astype(np.float64),
                                                           signal[None, :].astype(np.float64),
                                                           axes=1)
    return out / np.std(out[0])


def add_noise(clean: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """clean + white Gaussian noise of variance 10^(-snr/10) (clean has unit std at mic 0).

    The noise is drawn in the dtype of ``clean`` (float32 windows stay float32).
    """
    sigma = float(np.sqrt(10.0 ** (-snr_db / 10.0)))  # a python float keeps float32 float32
    dtype = clean.dtype if clean.dtype in (np.float32, np.float64) else np.float64
    return clean + sigma * rng.standard_normal(clean.shape, dtype=dtype)
