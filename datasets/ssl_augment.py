"""Paper VII's simulated training augmentation for LuViRA: the source signal played elsewhere.

"Sources uniform in a 7 x 8 x 2 m room, mics at the real LuViRA positions, per frame a new
random source position and T60, the 12th-mic audio as the emitted signal" (spec 5.1), T60 in
(0, 0.4) s; a draw below the room's Sabine floor (0.105 s for 7 x 8 x 2 m) is simulated
anechoic, the limit of ever more absorbing walls. Here a
pool of ``positions`` random source positions (T60 ~ U[t60]) gets its room impulse responses
once (pyroomacoustics through the HDF5 RIR bank), and ``windows`` training windows are rendered
from them: a random non-silent stretch of a training trajectory's source track, convolved with
the RIRs of a pool position, cut to the steady-state frame. The rendered pool is kept in
memory; training draws from it with fresh noise, so a step costs no simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from perloc.datasets.luvira import FRAME, SIM_ROOM_DIMS, Recording, simulation_room_origin
from perloc.datasets.sim.rir_bank import RirBank, RirRequest
from perloc.datasets.sim.rooms import RoomSpec, sabine_floor


@dataclass(frozen=True)
class SimAugmentConfig:
    """positions: RIR sets simulated; windows: frames rendered; fraction: share of training
    examples drawn from them; t60: T60 range (s); margin: metres kept from the walls."""

    positions: int = 128
    windows: int = 1024
    fraction: float = 0.5
    t60: tuple[float, float] = (0.12, 0.25)
    margin: float = 0.2


@dataclass
class SimulatedWindows:
    signals: np.ndarray  # [W, M, N]
    source: np.ndarray  # [W, N]
    position: np.ndarray  # [W, 3] mocap frame, metres


def _requests(mic_pos: np.ndarray, config: SimAugmentConfig, rng: np.random.Generator
              ) -> tuple[list[RirRequest], np.ndarray]:
    origin = simulation_room_origin(mic_pos)
    dims = np.asarray(SIM_ROOM_DIMS)
    room = RoomSpec("luvira-augment", SIM_ROOM_DIMS,
                    tuple(tuple(round(float(v), 4) for v in m - origin) for m in mic_pos))
    inside = rng.uniform(config.margin, dims - config.margin, size=(config.positions, 3))
    t60 = rng.uniform(*config.t60, size=config.positions).round(3)
    t60 = np.where(t60 < sabine_floor(SIM_ROOM_DIMS), 0.0, t60)
    requests = [RirRequest(room, tuple(float(v) for v in p.round(4)), float(t))
                for p, t in zip(inside, t60, strict=True)]
    return requests, inside.round(4) + origin


def render_pool(recordings: list[Recording], starts: list[np.ndarray], mic_pos: np.ndarray,
                bank: RirBank, config: SimAugmentConfig, seed: int,
                progress: bool = False) -> SimulatedWindows:
    """Render ``config.windows`` simulated frames from the training recordings' source tracks."""
    rng = np.random.default_rng([seed, 23])
    requests, positions = _requests(mic_pos, config, rng)
    rirs = bank.get_many(requests, progress=progress)
    counts = np.array([len(s) for s in starts])
    signals = np.empty((config.windows, len(mic_pos), FRAME), dtype=np.float32)
    source = np.empty((config.windows, FRAME), dtype=np.float32)
    which = rng.integers(0, config.positions, size=config.windows)
    for k, p in enumerate(which):
        r = int(rng.choice(len(recordings), p=counts / counts.sum()))
        start = int(rng.choice(starts[r]))
        rir = rirs[p].astype(np.float64)
        lead = rir.shape[1] - 1
        track = recordings[r].source.astype(np.float64)
        segment = track[max(start - lead, 0):start + FRAME]
        segment = np.concatenate([np.zeros(lead + FRAME - len(segment)), segment])
        signals[k] = fftconvolve(rir, segment[None, :], axes=1)[:, lead:lead + FRAME]
        source[k] = segment[-FRAME:]
    return SimulatedWindows(signals, source, positions[which].astype(np.float32))
