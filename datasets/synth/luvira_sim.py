"""luvira-sim: a simulated stand-in for the LuViRA audio-only recordings, WRITTEN in their layout.

Eight trajectories (``music0001..4``, ``speech0001..4``) are rendered like the real ones and
read back by :class:`perloc.datasets.luvira.Luvira`. By default in the published LuViRA layout
(:mod:`perloc.datasets.luvira_layouts`)::

    <out>/<trajectory>/Track 1.wav .. Track 12.wav   96 kHz, 16 bit, mono
    <out>/<trajectory>/Sync.wav                      mocap start signal: a 10 ms pulse at 0 s
    <out>/<trajectory>/<trajectory>_gt.csv           timestamps, X, Y, Z, Roll, Pitch, Yaw,
                                                     Residual, Rot[0] .. Rot[8] (mm, 100 Hz)
    <out>/.perloc-luvira-sim.json                    marker, written last

or, with ``layout="r-sfs"``, in the [R-sfs] layout (``info.json``, ``Track 1..12.wav``,
``gt_positions.csv`` with per-row static mic positions), same audio and motion.

* Room: a 7 x 8 x 2 m shoebox placed around the 11 static LuViRA microphones (their published
  coordinates; the paper gives no offset, we centre the array's x/y extent), one T60 for all
  eight trajectories (one studio, as in LuViRA) drawn from ``t60`` (Sabine needs T60 > 0.11 s
  in this room).
* Source: a person walking with the loudspeaker at 100 Hz: speed 0.5-1 m/s, heading turning
  smoothly (Ornstein-Uhlenbeck turn rate), reflected at the edge of the microphone footprint,
  height 1.0-1.4 m with a slow sway (larger for music2 and music4, as in the real set).
  The 12th microphone rides 0.15 m in front of the loudspeaker.
* Audio: speech tracks play utterances of the TTS LibriSpeech stand-in with pauses; music tracks
  play a generated broadband piece (plucked, bowed and keyed voices, chords, bass, drums and
  cymbals; :mod:`perloc.datasets.synth.music`) with no silent stretches, like produced music.
* Acoustics: the source is piecewise static. Every 2048 samples (16 kHz) the RIRs for the
  current position come from pyroomacoustics (the HDF5 RIR bank caches them); the emitted
  signal is cut into Hann-windowed blocks of 4096 with hop 2048 (the windows sum to one), each
  block is convolved with its RIRs and the results are added, so the position moves smoothly
  between block centres. Block centres sit at frame centres of the loader's default hop.
* The carrier's body (Paper VII: "the body can occlude paths"): a vertical cylinder of radius
  ``BODY_RADIUS`` whose axis stands ``BODY_BEHIND`` behind the loudspeaker, opposite the
  walking direction. For a microphone whose straight path from the loudspeaker crosses it, the
  direct sound is attenuated by ``BODY_SHADOW_DB`` (rir - (1 - g) * direct, the direct part
  being the same pyroomacoustics image at order 0) while the reflections arrive unchanged.
* Noisy microphones 7 and 9 (LuViRA's known issue): in a random ``NOISY_FRACTION`` of the
  one-second stretches, white noise at U[0, 10] dB SNR of the track's active level.
* Output: sensor noise 45 dB below each track's active level, upsampled 16 -> 96 kHz
  (``resample_poly``), one gain per track, written as 16-bit WAV. Motion capture in millimetres
  with 0.3 mm jitter and a few occluded (empty) rows; the loudspeaker's orientation (yaw =
  the direction the 12th microphone sits in, roll = pitch = 0) fills the published columns.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy.signal import fftconvolve, resample_poly

from perloc.bench.core.datasets import DatasetEntry, SynthRequest, register_dataset
from perloc.bench.core.progress import progress_bar
from perloc.datasets.librispeech import LibriSpeech
from perloc.datasets.luvira import (
    LUVIRA_MICS_MM,
    SIM_ROOM_DIMS,
    STANDIN_MARKER,
    TRAJECTORIES,
    Luvira,
    simulation_room_origin,
)
from perloc.datasets.sim.rir_bank import RirBank, RirRequest
from perloc.datasets.sim.rooms import RoomSpec

from . import librispeech_tts
from .music import render_music
from .staging import write_folder

GENERATOR_VERSION = 7  # 4: published layout; 5: broadband music; 6: one T60; 7: body, mics 7/9
LAYOUTS = ("published", "r-sfs")
SIM_RATE = 16_000
FILE_RATE = 96_000
BLOCK = 2048
MOCAP_RATE = 100
SENSOR_NOISE_DB = 45.0  # below each track's active (95th percentile) level
ROOM_DIMS = SIM_ROOM_DIMS
MIC_OFFSET = 0.15
MICS_M = np.asarray(LUVIRA_MICS_MM) / 1000.0
# The room's corner in the mocap frame: the array's x/y extent centred in the 7 x 8 m floor.
ROOM_ORIGIN = simulation_room_origin(MICS_M)
WALK_MARGIN = 0.3  # metres inside the microphones' x/y extent
BODY_RADIUS = 0.2  # m: the carrier's torso as a vertical cylinder
BODY_BEHIND = 0.3  # m: torso axis behind the loudspeaker, against the walking direction
BODY_SHADOW_DB = 15.0  # direct-sound attenuation through the torso
NOISY_MICS = (7, 9)  # 1-based tracks
NOISY_FRACTION = 0.3


@dataclass(frozen=True)
class SimSize:
    name: str
    seconds: float
    t60: tuple[float, float]


SIZES = {
    "smoke": SimSize("smoke", 2.5, (0.12, 0.15)),
    "default": SimSize("default", 15.0, (0.12, 0.25)),
    "paper": SimSize("paper", 60.0, (0.12, 0.4)),
}


def walking_trajectory(seconds: float, rng: np.random.Generator, sway: float) -> np.ndarray:
    """Speaker positions [K, 3] (metres, mocap frame) at 100 Hz for a person walking around."""
    lo = MICS_M[:, :2].min(axis=0) + WALK_MARGIN
    hi = MICS_M[:, :2].max(axis=0) - WALK_MARGIN
    n, dt = int(seconds * MOCAP_RATE) + 1, 1.0 / MOCAP_RATE
    xy = np.empty((n, 2))
    xy[0] = rng.uniform(lo, hi)
    heading, turn = rng.uniform(0, 2 * np.pi), 0.0
    speed = rng.uniform(0.5, 1.0)
    for k in range(1, n):
        turn += -turn * dt / 1.5 + rng.normal(0, 1.2) * np.sqrt(dt)
        heading += turn * dt
        step = xy[k - 1] + speed * dt * np.array([np.cos(heading), np.sin(heading)])
        for a in range(2):  # reflect at the walkable area's edge
            if not lo[a] <= step[a] <= hi[a]:
                step[a] = np.clip(step[a], lo[a], hi[a])
                heading = np.pi - heading if a == 0 else -heading
        xy[k] = step
    t = np.arange(n) * dt
    base, rate = rng.uniform(1.0, 1.4), rng.uniform(0.05, 0.15)
    z = base + sway * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi))
    return np.column_stack([xy, np.clip(z, 0.4, 1.8)])


def speech_signal(corpus: LibriSpeech, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """TTS utterances with 0.3-1.0 s pauses, ``seconds`` long at 16 kHz."""
    need = int(seconds * SIM_RATE)
    pieces, total = [], 0
    order = rng.permutation(len(corpus.utterances))
    for k in range(len(order) * 4):
        utt = corpus.utterances[order[k % len(order)]]
        audio = corpus.load(utt)
        pause = np.zeros(int(rng.uniform(0.3, 1.0) * SIM_RATE), dtype=np.float32)
        pieces += [audio / max(float(np.abs(audio).max()), 1e-6), pause]
        total += len(audio) + len(pause)
        if total >= need:
            break
    return np.concatenate(pieces)[:need]


def _room(speaker_pos: np.ndarray, source_mic: np.ndarray) -> RoomSpec:
    mics = np.vstack([MICS_M, source_mic]) - ROOM_ORIGIN
    return RoomSpec("luvira-sim", ROOM_DIMS, tuple(tuple(round(float(v), 4) for v in m)
                                                   for m in mics))


def render_moving(signal: np.ndarray, path: np.ndarray, ahead: np.ndarray, t60: float,
                  bank: RirBank, progress: bool) -> np.ndarray:
    """Mic signals [12, T] of ``signal`` emitted along ``path`` (100 Hz), piecewise static."""
    n = len(signal)
    centres = np.arange(BLOCK // 2 - BLOCK, n + BLOCK, BLOCK)  # windows cover every sample
    t = centres / SIM_RATE
    pos = np.stack([np.interp(t, np.arange(len(path)) / MOCAP_RATE, path[:, a]) for a in range(3)], 1)
    requests = [RirRequest(_room(p, p + MIC_OFFSET * ahead), tuple(float(v) for v in p - ROOM_ORIGIN),
                           t60) for p in pos]
    rirs = bank.get_many(requests, progress=progress)
    direct = bank.get_many([RirRequest(r.room, r.source, 0.0) for r in requests])
    body = _body_axes(path, t, pos)
    gain = 1 - 10 ** (-BODY_SHADOW_DB / 20)
    window = np.hanning(2 * BLOCK + 1)[:-1]  # periodic Hann: shifted copies sum to one
    out = np.zeros((12, n + 4 * BLOCK + max(r.shape[1] for r in rirs)), dtype=np.float64)
    padded = np.concatenate([np.zeros(2 * BLOCK), signal, np.zeros(4 * BLOCK)])
    for k, (c, rir) in enumerate(zip(centres, rirs, strict=True)):
        rir = rir.astype(np.float64)
        for m in np.flatnonzero(shadowed(pos[k], body[k], MICS_M)):
            rir[m, : direct[k].shape[1]] -= gain * direct[k][m]
        start = c - BLOCK  # block covers [c - BLOCK, c + BLOCK)
        block = padded[start + 2 * BLOCK: start + 4 * BLOCK] * window
        wet = fftconvolve(rir, block[None, :], axes=1)
        lo = max(start, 0)
        out[:, lo: start + wet.shape[1]] += wet[:, lo - start:]
    return out[:, :n]


def _body_axes(path: np.ndarray, t: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Torso axis (x, y) per block: ``BODY_BEHIND`` behind the loudspeaker, against the
    walking direction (the mocap path's velocity at the block time)."""
    times = np.arange(len(path)) / MOCAP_RATE
    velocity = np.stack([np.interp(t, times, np.gradient(path[:, a], times)) for a in range(2)], 1)
    norm = np.linalg.norm(velocity, axis=1, keepdims=True)
    heading = np.where(norm > 1e-6, velocity / np.maximum(norm, 1e-6), [1.0, 0.0])
    return pos[:, :2] - BODY_BEHIND * heading


def shadowed(speaker: np.ndarray, axis: np.ndarray, mics: np.ndarray) -> np.ndarray:
    """Microphones whose straight path from ``speaker`` passes through the torso: the x/y
    segment speaker -> mic comes within ``BODY_RADIUS`` of ``axis`` (the torso stands from the
    floor to above every microphone and the loudspeaker, so height never clears it).

    >>> shadowed(np.array([0., 0, 1]), np.array([0.3, 0]), np.array([[2., 0, 1], [-2, 0, 1]]))
    array([ True, False])
    """
    d = mics[:, :2] - speaker[:2]
    along = np.clip(((axis - speaker[:2]) @ d.T) / np.maximum((d * d).sum(1), 1e-12), 0, 1)
    nearest = speaker[:2] + along[:, None] * d
    return (np.linalg.norm(nearest - axis, axis=1) < BODY_RADIUS) & (along > 0)


def noisy_stretches(track: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White noise at U[0, 10] dB SNR in a random ``NOISY_FRACTION`` of the 1-s stretches."""
    active = np.percentile(np.abs(track), 95) + 1e-12
    out = track.copy()
    for start in range(0, len(track), SIM_RATE):
        if rng.random() < NOISY_FRACTION:
            stop = min(start + SIM_RATE, len(track))
            level = active * 10 ** (-rng.uniform(0, 10) / 20)
            out[start:stop] += level * rng.standard_normal(stop - start)
    return out


def _quantise(track: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise SENSOR_NOISE_DB below the active level, 16 -> 96 kHz, one gain, int16."""
    active = np.percentile(np.abs(track), 95) + 1e-12
    noisy = track + rng.standard_normal(track.shape) * active * 10 ** (-SENSOR_NOISE_DB / 20)
    up = resample_poly(noisy, FILE_RATE // SIM_RATE, 1)
    up *= 0.5 / max(float(np.abs(up).max()), 1e-12)
    return np.round(up * 32767).astype(np.int16)


def _mocap_table(path: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """[R-sfs] ``gt_positions.csv``: time, static mic and speaker positions per row (mm)."""
    k = len(path)
    columns = {"time": np.round(np.arange(k) / MOCAP_RATE, 4)}
    for i, mic in enumerate(MICS_M, start=1):
        jitter = rng.normal(0, 0.3, size=(k, 3))
        for a, axis in enumerate("xyz"):
            columns[f"mic{i}_{axis}"] = np.round(mic[a] * 1000 + jitter[:, a], 2)
    for a, axis in enumerate("xyz"):
        columns[f"speaker_{axis}"] = np.round(path[:, a] * 1000 + rng.normal(0, 0.3, k), 2)
    table = pd.DataFrame(columns)
    occluded = rng.choice(np.arange(1, k - 1), size=max(1, k // 200), replace=False)
    table.loc[occluded, [c for c in table.columns if c != "time"]] = np.nan
    return table


def _published_table(path: np.ndarray, ahead: np.ndarray, rng: np.random.Generator
                     ) -> pd.DataFrame:
    """The published processed ground truth: the loudspeaker's rigid body (mm, degrees,
    rotation matrix row-major), residual in mm, occluded rows empty."""
    k = len(path)
    yaw = float(np.arctan2(ahead[1], ahead[0]))
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0])
    columns = {"timestamps": np.round(np.arange(k) / MOCAP_RATE, 4)}
    for a, axis in enumerate("XYZ"):
        columns[axis] = np.round(path[:, a] * 1000 + rng.normal(0, 0.3, k), 2)
    columns |= {"Roll": np.zeros(k), "Pitch": np.zeros(k),
                "Yaw": np.full(k, round(np.degrees(yaw), 3)),
                "Residual": np.round(rng.uniform(0.3, 1.5, k), 3)}
    columns |= {f"Rot[{j}]": np.full(k, round(float(rot[j]), 6)) for j in range(9)}
    table = pd.DataFrame(columns)
    occluded = rng.choice(np.arange(1, k - 1), size=max(1, k // 200), replace=False)
    table.loc[occluded, [c for c in table.columns if c != "timestamps"]] = np.nan
    return table


def _sync_track(samples: int) -> np.ndarray:
    """Sync.wav: the mocap start signal, a 10 ms pulse at 0 s (the tracks start with it)."""
    out = np.zeros(samples, dtype=np.int16)
    out[: FILE_RATE // 100] = 16000
    return out


def room_t60(size: SimSize, seed: int) -> float:
    """One T60 for all eight trajectories: LuViRA is one motion-capture studio (a draw per
    trajectory made the held-out pair's difficulty a coin toss: 0.240 s for music0003 against
    0.157 s for speech0003 at the default size)."""
    return float(round(np.random.default_rng([seed, 41, 99]).uniform(*size.t60), 3))


def write_trajectory(folder: Path, name: str, size: SimSize, corpus: LibriSpeech, bank: RirBank,
                     seed: int, progress: bool, layout: str = "published") -> dict:
    index = TRAJECTORIES.index(name)
    rng = np.random.default_rng([seed, 41, index])
    sway = 0.35 if name in ("music0002", "music0004") else 0.1
    path = walking_trajectory(size.seconds, rng, sway)
    heading = rng.uniform(0, 2 * np.pi)
    ahead = np.array([np.cos(heading), np.sin(heading), 0.0])
    rng.uniform(*size.t60)  # generator 5 drew one per trajectory here; kept for the streams
    t60 = room_t60(size, seed)
    if name.startswith("music"):
        signal = render_music(size.seconds, SIM_RATE, rng)
    else:
        signal = speech_signal(corpus, size.seconds, rng)
    mics = render_moving(signal.astype(np.float64), path, ahead, t60, bank, progress)
    folder.mkdir(parents=True)
    for i, track in enumerate(mics, start=1):
        if i in NOISY_MICS:
            track = noisy_stretches(track, rng)
        quantised = _quantise(track, rng)
        sf.write(folder / f"Track {i}.wav", quantised, FILE_RATE, subtype="PCM_16")
    if layout == "published":
        sf.write(folder / "Sync.wav", _sync_track(len(quantised)), FILE_RATE, subtype="PCM_16")
        _published_table(path, ahead, rng).to_csv(folder / f"{name}_gt.csv", index=False)
        return {"name": name, "t60": t60, "seconds": size.seconds}
    _mocap_table(path, rng).to_csv(folder / "gt_positions.csv", index=False)
    info = {"sampling_rate": FILE_RATE, "number_of_mics": 12, "position_unit": "mm",
            "name": name, "generator": "perloc luvira-sim", "t60": t60,
            "room_origin_m": ROOM_ORIGIN.round(4).tolist(), "room_dims_m": list(ROOM_DIMS)}
    (folder / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    return {"name": name, "t60": t60, "seconds": size.seconds}


def sim_version(size: SimSize, seed: int, corpus: LibriSpeech, layout: str = "published") -> str:
    import hashlib

    blob = json.dumps([GENERATOR_VERSION, asdict(size), seed, corpus.version, layout],
                      sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def write_luvira_sim(out_root: Path | str, size: SimSize | str, corpus: LibriSpeech,
                     bank: RirBank, seed: int = 0, progress: bool = False,
                     layout: str = "published") -> Path:
    """Write the eight trajectories to ``out_root`` in ``layout`` (``published`` or ``r-sfs``;
    atomically; a no-op when up to date)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    size = SIZES[size] if isinstance(size, str) else size
    version = sim_version(size, seed, corpus, layout)

    def generate(tmp: Path) -> None:
        bar = progress_bar(TRAJECTORIES, desc=f"luvira-sim '{size.name}'", unit="trajectory",
                           enabled=progress)
        made = [write_trajectory(tmp / name, name, size, corpus, bank, seed, False, layout)
                for name in bar]
        marker = {"version": version, "generator_version": GENERATOR_VERSION, "seed": seed,
                  "size": asdict(size), "corpus_version": corpus.version, "layout": layout,
                  "trajectories": made}
        (tmp / STANDIN_MARKER).write_text(json.dumps(marker, indent=2) + "\n")

    return write_folder(out_root, STANDIN_MARKER, version, generate)


def rir_bank(cache: Path) -> RirBank:
    """The RIR bank of the LuViRA simulation room, cached under ``cache`` (also used to
    simulate training data)."""
    return RirBank(cache / "caches" / "rir-bank-luvira-v1.h5")


def write_standin(cache: Path, out: Path, size: str, corpus: str, seed: int = 0,
                  progress: bool = False) -> Path:
    """luvira-sim of ``size`` at ``out``, speaking the ``corpus``-size TTS corpus; the corpus
    and the RIR bank are cached under ``cache``, shared with the tasks."""
    speech = LibriSpeech(librispeech_tts.write_corpus(
        cache / "data" / f"librispeech-tts-{corpus}", corpus, progress=progress))
    return write_luvira_sim(out, size, speech, rir_bank(cache), seed=seed, progress=progress)


def synth(request: SynthRequest) -> Path:
    """``bench data synth luvira-sim``: speech from the same-size TTS corpus (else default)."""
    corpus = request.size if request.size in librispeech_tts.SIZES else "default"
    return write_standin(request.cache, request.out, request.size, corpus, seed=request.seed,
                         progress=request.progress)


register_dataset(DatasetEntry(
    "luvira-sim", "stand-in", "Simulated walking-speaker trajectories in the published LuViRA "
    "layout (stands in for luvira)", adapter=Luvira, synth=synth, sizes=tuple(SIZES)))
