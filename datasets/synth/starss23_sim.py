"""starss23-sim: simulated SELD scenes WRITTEN in the STARSS23 MIC layout (spec seld.md §6.2).

STARSS23 cannot be downloaded at run time; this stand-in is written exactly as the real release
is laid out and read back by :class:`perloc.datasets.starss23.Starss23`::

    <out>/mic_dev/dev-train-synth/fold3_room{R}_mix{NNN}.wav        24 kHz, 4 ch, int16
    <out>/mic_dev/dev-test-synth/fold4_room{R}_mix{NNN}.wav
    <out>/metadata_dev/dev-{train,test}-synth/<same stem>.csv       6 columns, distance in cm
    <out>/.perloc-starss23-sim.json                                 marker, written last

* **Rooms**: shoeboxes (pyroomacoustics image sources), L and W uniform in [4, 10] m, H in
  [2.5, 4] m, RT60 uniform in [0.2, 0.8] s turned into wall absorption by
  ``pra.inverse_sabine``; the image order is capped at ``MAX_ORDER`` (10) for speed, so the
  longest reverberation tails are cut short of their nominal RT60. Train and test files use
  different rooms (as STARSS23's dev-train and dev-test do); several files share a room.
* **Array**: the four tetrahedral capsule positions of spec §1.2
  (:data:`perloc.datasets.seld_labels.MIC_POSITIONS`) around a centre at least 1 m from every
  wall and 1.0-1.8 m high, not rotated (room axes are array axes: x front, y left, z up).
  **They are free-field omnidirectional microphones**, not capsules on the em32's rigid
  sphere: no scattering, shorter delays and no level differences between capsules (spec
  gotcha 24), so absolute scores are not comparable with STARSS23's.
* **Sources**: azimuth uniform, elevation -40..+60 deg, 0.5-4 m from the array centre and at
  least 0.3 m inside every wall (rejection sampling). Most events are static; a share of them
  move (azimuth 20-60 deg/s, elevation drifting a few deg/s, constant distance), rendered as
  static segments every ``MOVE_HOP`` (0.2 s) blended by periodic Hann cross-fades that sum to
  one; their labels are the path interpolated linearly at each label frame's centre.
* **Sounds**: 13 procedural classes in the order of STARSS23's class list, each with its own
  spectro-temporal signature (:func:`class_sound`): voiced harmonic stacks with class f0,
  intonation and vibrato, chopped into syllables (female / male speech, laughter bursts), click
  trains of band-passed noise (clapping), gated two-tone AM rings (telephone), band-limited
  noise with a motor hum (domestic) or with fast flutter (water tap), low damped thuds
  (footsteps), a falling rough chirp ending in a slam (door), chords (music), plucked notes
  (instrument), inharmonic decaying partials (bell) and groups of damped knocks (knock).
  Durations 0.3-6 s (ranges per class in ``DURATIONS``), level -12..0 dB.
* **Scenes**: events are placed at random with at most ``MAX_POLYPHONY`` (3) events touching
  any 100 ms frame (so at most three sound and are labelled at once); a share of the events
  copy the class of an event they overlap, so same-class overlaps (ADPIT B slots, sometimes C)
  occur. Per-channel white noise at 20-40 dB SNR (against the channel's power while any event
  sounds), one gain per file to a peak of 0.3-0.7 full scale, int16. File lengths vary.
* **Labels**: frame k (100 ms, [0.1k, 0.1k + 0.1) s) lists an event when the event covers at
  least half of it; frames from floor(N / 2400) on are not written (the loader has no label
  frame there). Columns: frame, class, instance id (the smallest id not held by a same-class
  event labelled in a common frame), round(azimuth), round(elevation), round(distance in cm)
  of the source relative to the array centre (rounded half to even; azimuth in [-180, 180)).
  The direct sound's onset lags the event's start by distance / c (at most 12 ms).

Everything is deterministic for a seed; ``plan_files`` draws the scenes without rendering.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve

from perloc.bench.core.datasets import DatasetEntry, SynthRequest, register_dataset
from perloc.bench.core.progress import progress_bar
from perloc.datasets.dcase_csv import polar_to_unit
from perloc.datasets.seld_labels import MIC_POSITIONS, wrap_azimuth
from perloc.datasets.starss23 import (
    AUDIO_FOLDER,
    LABEL_HOP,
    META_FOLDER,
    SAMPLE_RATE,
    STANDIN_MARKER,
    Starss23,
)

from .staging import write_folder

GENERATOR_VERSION = 1
FS = SAMPLE_RATE
N_CLASSES = 13
MAX_ORDER = 10
MOVE_HOP = 4800  # samples (0.2 s) between the static segments of a moving source
MAX_POLYPHONY = 3
WALL_MARGIN = 0.3  # m: sources at least this far inside every wall
CENTRE_MARGIN = 1.0  # m: the array centre at least this far from every wall
DISTANCE = (0.5, 4.0)
ELEVATION = (-40.0, 60.0)
ROOM_LW, ROOM_H, RT60 = (4.0, 10.0), (2.5, 4.0), (0.2, 0.8)
SNR_DB, GAIN_DB, PEAK = (20.0, 40.0), (-12.0, 0.0), (0.3, 0.7)
FADE = 120  # samples (5 ms) of fade in and out on every event
DURATIONS = {0: (1.0, 6.0), 1: (1.0, 6.0), 2: (0.5, 3.0), 3: (1.0, 4.0), 4: (0.8, 3.0),
             5: (2.0, 6.0), 6: (1.5, 6.0), 7: (0.3, 1.5), 8: (2.0, 6.0), 9: (1.0, 5.0),
             10: (1.5, 6.0), 11: (1.0, 4.0), 12: (0.3, 2.0)}  # seconds, per class
FOLDS = {"train": 3, "test": 4}


@dataclass(frozen=True)
class SimSize:
    name: str
    n_train: int
    n_test: int
    seconds: tuple[float, float]  # file length range
    train_rooms: int
    test_rooms: int
    density: float = 0.45  # events per second
    moving: float = 0.25  # share of moving events
    same_class: float = 0.25  # share of events that copy the class of one they overlap


SIZES = {
    "smoke": SimSize("smoke", 4, 2, (8.0, 12.0), 2, 1),
    "default": SimSize("default", 160, 24, (20.0, 40.0), 12, 4),  # about 1.7 h
    "paper": SimSize("paper", 180, 60, (30.0, 90.0), 12, 5),  # about 4 h
}


@dataclass(frozen=True)
class RoomPlan:
    number: int
    dims: tuple[float, float, float]
    rt60: float
    centre: tuple[float, float, float]  # the array centre, room coordinates (m)


@dataclass(frozen=True)
class EventPlan:
    cls: int
    start: int  # sample
    length: int  # samples
    gain_db: float
    sound_seed: int
    path: tuple[tuple[float, float, float], ...]  # relative to the array centre, every MOVE_HOP

    @property
    def moving(self) -> bool:
        return len(self.path) > 1

    def position_at(self, sample: float) -> np.ndarray:
        """The source position (relative to the array centre) at an absolute sample time,
        clamped to the event's span; linear between the path's points."""
        path = np.asarray(self.path)
        if len(path) == 1:
            return path[0]
        k = np.clip((sample - self.start) / MOVE_HOP, 0, len(path) - 1)
        lo = min(int(k), len(path) - 2)
        return path[lo] + (k - lo) * (path[lo + 1] - path[lo])


@dataclass(frozen=True)
class FilePlan:
    stem: str
    split: str
    room: RoomPlan
    samples: int
    snr_db: float
    peak: float
    noise_seed: int
    events: tuple[EventPlan, ...]

    @property
    def folder(self) -> str:
        return f"dev-{self.split}-synth"


# ------------------------------------------------------------------------------------ sounds


def _ramp(n: int, fade: int = FADE) -> np.ndarray:
    env = np.ones(n)
    k = min(fade, n // 2)
    if k:
        half = 0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)
        env[:k], env[n - k:] = half, half[::-1]
    return env


def _tail(n: int, fade: int) -> np.ndarray:
    """Ones with a raised-cosine fade-out over the last ``fade`` samples (no fade-in)."""
    env = _ramp(n, fade)
    env[: n // 2] = 1.0
    return env


def _band_noise(n: int, lo: float, hi: float, rng: np.random.Generator) -> np.ndarray:
    """White noise band-limited to [lo, hi] Hz (FFT mask with 10 % raised-cosine skirts)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / FS)
    skirt = 0.1 * (hi - lo) + 1.0
    mask = np.clip(np.minimum((f - lo + skirt) / skirt, (hi + skirt - f) / skirt), 0, 1)
    return np.fft.irfft(spec * (0.5 - 0.5 * np.cos(np.pi * mask)), n)


def _damped(n: int, freq: float, tau: float) -> np.ndarray:
    t = np.arange(n) / FS
    return np.sin(2 * np.pi * freq * t) * np.exp(-t / tau)


def _place(n: int, onsets: np.ndarray, make) -> np.ndarray:
    """Sum of ``make(k)`` (a 1-D array) started at each onset sample, cut to ``n``."""
    out = np.zeros(n)
    for k, at in enumerate(np.asarray(onsets, dtype=int)):
        if 0 <= at < n:
            piece = make(k)[: n - at]
            out[at: at + len(piece)] += piece
    return out


def _onsets(n: int, period: tuple[float, float], rng: np.random.Generator,
            first: float = 0.0) -> np.ndarray:
    """Onset samples from ``first`` s with gaps uniform in ``period`` seconds."""
    count = int(n / (period[0] * FS)) + 2
    times = first + np.concatenate([[0.0], np.cumsum(rng.uniform(*period, count))])
    return np.round(times * FS).astype(int)


def _syllables(n: int, rng: np.random.Generator, on: tuple[float, float],
               off: tuple[float, float]) -> np.ndarray:
    """An on/off envelope: segments of ``on`` s separated by ``off`` s gaps, smooth edges."""
    env, at = np.zeros(n), 0
    while at < n:
        length = int(rng.uniform(*on) * FS)
        seg = np.sin(np.pi * np.arange(length) / length) ** 0.5
        env[at: at + length] = seg[: n - at]
        at += length + int(rng.uniform(*off) * FS)
    return env


def _harmonics(phase: np.ndarray, amps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(phase)
    for h, a in enumerate(amps, start=1):
        if a > 1e-4:
            out += a * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    return out


def _voice(n: int, rng: np.random.Generator, f0: float, formants: tuple[float, ...],
           vibrato: float) -> np.ndarray:
    """A harmonic stack with intonation and vibrato under a formant envelope."""
    t = np.arange(n) / FS
    contour = f0 * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 6))
                    + vibrato * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t))
    phase = 2 * np.pi * np.cumsum(contour) / FS
    freqs = f0 * np.arange(1, int(5000 / f0) + 1)
    amps = 0.05 + sum(np.exp(-0.5 * ((freqs - f) / (0.12 * f)) ** 2) / (1 + k)
                      for k, f in enumerate(formants))
    return _harmonics(phase, amps / np.sqrt(np.arange(1, len(freqs) + 1)), rng)


def _female(n, rng):
    voice = _voice(n, rng, rng.uniform(190, 250), (850, 2000, 3000), 0.03)
    return voice * _syllables(n, rng, (0.12, 0.3), (0.04, 0.15))


def _male(n, rng):
    voice = _voice(n, rng, rng.uniform(95, 135), (550, 1150, 2450), 0.02)
    return voice * _syllables(n, rng, (0.15, 0.35), (0.05, 0.15))


def _clapping(n, rng):
    rate = rng.uniform(3.0, 6.0)  # claps per second
    return _place(n, _onsets(n, (0.8 / rate, 1.2 / rate), rng),
                  lambda k: _band_noise(480, 1000, 6000, rng) * np.exp(-np.arange(480) / 100))


def _telephone(n, rng):
    t = np.arange(n) / FS
    f1 = rng.uniform(800, 1200)
    tone = np.sin(2 * np.pi * f1 * t) + np.sin(2 * np.pi * 1.25 * f1 * t)
    trill = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(15, 20) * t)
    gate = np.clip(np.minimum(t % 0.6, 0.4 - t % 0.6) / 0.01, 0, 1)  # 0.4 s rings, 10 ms edges
    return tone * trill * gate


def _laughter(n, rng):
    f0 = rng.uniform(260, 360)
    starts = _onsets(n, (0.15, 0.22), rng)
    length = int(0.1 * FS)

    def ha(k):
        t = np.arange(length) / FS
        f = f0 * (1 - 0.04 * (k % 5))
        voiced = sum(np.sin(2 * np.pi * h * f * t) / h for h in range(1, 7))
        breath = 0.4 * _band_noise(length, 800, 4000, rng)
        return (voiced + breath) * np.sin(np.pi * np.arange(length) / length)

    groups = _syllables(n, rng, (0.5, 1.0), (0.2, 0.4)) > 0.05
    keep = starts[starts < n]
    return _place(n, keep[groups[keep]], ha)


def _domestic(n, rng):
    t = np.arange(n) / FS
    hum_f = rng.uniform(90, 130)
    hum = sum(np.sin(2 * np.pi * h * hum_f * t) / h for h in range(1, 5))
    noise = _band_noise(n, 150, 1500, rng)
    noise /= noise.std() + 1e-12
    return (noise + 0.4 * hum) * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.4, 1.0) * t))


def _footsteps(n, rng):
    freq = rng.uniform(60, 120)

    def step(k):
        thud = _damped(2400, freq, 0.025)
        click = np.zeros(2400)
        click[1200:1440] = 0.5 * _band_noise(240, 1000, 4000, rng) * np.exp(-np.arange(240) / 50)
        return (thud + click) * (1.0 if k % 2 else 0.7)

    return _place(n, _onsets(n, (0.45, 0.6), rng, first=0.02), step)


def _door(n, rng):
    slam = min(int(0.15 * FS), n // 2)
    creak_n = n - slam
    t = np.arange(creak_n) / FS
    f_a, f_b = rng.uniform(500, 900), rng.uniform(200, 350)
    freq = f_a * (f_b / f_a) ** (t / max(t[-1], 1e-3))
    phase = 2 * np.pi * np.cumsum(freq) / FS
    rough = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(25, 40) * t) ** 8
    creak = sum(np.sin(h * phase) / h for h in (1, 2, 3)) * rough
    hit = _damped(slam, rng.uniform(60, 90), 0.06) + \
        _band_noise(slam, 200, 6000, rng) * np.exp(-np.arange(slam) / 240)
    return np.concatenate([0.6 * creak, 2.0 * hit])


def _music(n, rng):
    major = np.array([0, 2, 4, 5, 7, 9, 11])
    starts = _onsets(n, (0.4, 0.7), rng)
    length = int(0.75 * FS)

    def chord(k):
        t = np.arange(length) / FS
        root = 48 + rng.integers(0, 12)
        degree = rng.integers(0, 7)
        notes = [root + major[(degree + s) % 7] + 12 * ((degree + s) // 7) for s in (0, 2, 4)]
        freqs = [440 * 2 ** ((m - 69) / 12) for m in notes] + [440 * 2 ** ((root - 81) / 12)]
        env = np.minimum(t / 0.02, 1) * (0.6 + 0.4 * np.exp(-t / 0.1)) * _ramp(length, 1200)
        return env * sum(np.sin(2 * np.pi * h * f * t) / h for f in freqs for h in range(1, 5))

    return _place(n, starts, chord)


def _instrument(n, rng):
    pentatonic = np.array([0, 2, 4, 7, 9])
    length = int(0.8 * FS)

    def pluck(k):
        t = np.arange(length) / FS
        midi = 67 + pentatonic[rng.integers(0, 5)] + 12 * rng.integers(0, 2)
        f = 440 * 2 ** ((midi - 69) / 12)
        return _tail(length, 1200) * sum(np.sin(2 * np.pi * h * f * t) * np.exp(-t * h / 0.5) / h
                                         for h in range(1, 9) if h * f < 10_000)

    return _place(n, _onsets(n, (0.2, 0.45), rng), pluck)


def _water(n, rng):
    noise = _band_noise(n, 1500, 6000, rng)
    flutter = _band_noise(n, 5, 40, rng)
    return noise * (1 + 0.8 * flutter / (flutter.std() + 1e-12)).clip(0.1)


def _bell(n, rng):
    f0, tau = rng.uniform(700, 1100), rng.uniform(0.4, 0.8)
    length = int(1.5 * FS)
    t = np.arange(length) / FS
    strike = _tail(length, 2400) * sum(a * np.sin(2 * np.pi * r * f0 * t) * np.exp(-t * r ** 0.5 / tau)
                                       for r, a in ((1.0, 1.0), (2.0, 0.6), (2.76, 0.5), (5.4, 0.3)))
    return _place(n, _onsets(n, (0.8, 1.4), rng), lambda k: strike)


def _knock(n, rng):
    freq = rng.uniform(250, 500)

    def group(k):
        gaps = np.cumsum([0] + list(rng.uniform(0.13, 0.2, rng.integers(1, 4))))
        return _place(int((gaps[-1] + 0.1) * FS), np.round(gaps * FS),
                      lambda j: _damped(1200, freq, 0.012) + 0.5 * _band_noise(
                          1200, 1000, 3000, rng) * np.exp(-np.arange(1200) / 48))

    return _place(n, _onsets(n, (0.7, 1.0), rng), group)


_SOUNDS = (_female, _male, _clapping, _telephone, _laughter, _domestic, _footsteps, _door,
           _music, _instrument, _water, _bell, _knock)


def class_sound(cls: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of a class-``cls`` event at 24 kHz, unit RMS, 5 ms fades."""
    sound = _SOUNDS[cls](n, rng)[:n] * _ramp(n)
    return sound / (np.sqrt(np.mean(sound ** 2)) + 1e-12)


# ------------------------------------------------------------------------------------ plans


def _inside(room: RoomPlan, relative: np.ndarray) -> bool:
    absolute = np.asarray(room.centre) + relative
    return bool(np.all(absolute >= WALL_MARGIN) and np.all(absolute <= np.asarray(room.dims)
                                                           - WALL_MARGIN))


def _polar(az: float, el: float, dist: float) -> np.ndarray:
    return dist * polar_to_unit(az, el)


def _static_position(room: RoomPlan, rng: np.random.Generator) -> np.ndarray:
    for _ in range(1000):
        p = _polar(rng.uniform(-180, 180), rng.uniform(*ELEVATION), rng.uniform(*DISTANCE))
        if _inside(room, p):
            return p
    return _polar(rng.uniform(-180, 180), 0.0, DISTANCE[0])  # always inside (centre margin)


def _moving_path(room: RoomPlan, length: int, rng: np.random.Generator) -> np.ndarray | None:
    points = int(np.ceil(length / MOVE_HOP)) + 1
    t = np.arange(points) * MOVE_HOP / FS
    for _ in range(50):
        az0, el0, dist = rng.uniform(-180, 180), rng.uniform(*ELEVATION), rng.uniform(*DISTANCE)
        az = az0 + rng.choice([-1, 1]) * rng.uniform(20, 60) * t
        el = np.clip(el0 + rng.uniform(-5, 5) * t, *ELEVATION)
        path = np.array([_polar(a, e, dist) for a, e in zip(az, el, strict=True)])
        if all(_inside(room, p) for p in path):
            return path
    return None


def _room(number: int, rng: np.random.Generator) -> RoomPlan:
    dims = (*(round(float(v), 2) for v in rng.uniform(*ROOM_LW, 2)), round(float(rng.uniform(
        *ROOM_H)), 2))
    lo = np.array([CENTRE_MARGIN, CENTRE_MARGIN, 1.0])
    hi = np.array([dims[0] - CENTRE_MARGIN, dims[1] - CENTRE_MARGIN, 1.8])
    centre = tuple(round(float(v), 3) for v in rng.uniform(lo, hi))
    return RoomPlan(number, dims, round(float(rng.uniform(*RT60)), 3), centre)


def _touched(start: int, length: int) -> range:
    return range(start // LABEL_HOP, -(-(start + length) // LABEL_HOP))


def _schedule(size: SimSize, room: RoomPlan, samples: int,
              rng: np.random.Generator) -> tuple[EventPlan, ...]:
    """Events at random with at most MAX_POLYPHONY touching any frame; some copy the class of
    an event they overlap."""
    target = max(1, rng.poisson(size.density * samples / FS))
    load = np.zeros(samples // LABEL_HOP + 2, dtype=int)
    events: list[EventPlan] = []
    for _ in range(30 * target):
        if len(events) >= target:
            break
        if events and rng.random() < size.same_class:
            other = events[rng.integers(len(events))]
            cls = other.cls
        else:
            other, cls = None, int(rng.integers(N_CLASSES))
        length = min(int(rng.uniform(*DURATIONS[cls]) * FS), samples - LABEL_HOP)
        if other is None:
            start = int(rng.integers(0, samples - length + 1))
        else:  # overlap the other event by at least a frame
            lo = max(0, other.start - length + LABEL_HOP)
            hi = min(samples - length, other.start + other.length - LABEL_HOP)
            if hi < lo:
                continue
            start = int(rng.integers(lo, hi + 1))
        frames = _touched(start, length)
        if load[frames.start: frames.stop].max() >= MAX_POLYPHONY:
            continue
        path = _moving_path(room, length, rng) if rng.random() < size.moving else None
        if path is None:
            path = _static_position(room, rng)[None]
        load[frames.start: frames.stop] += 1
        events.append(EventPlan(cls, start, length, round(float(rng.uniform(*GAIN_DB)), 2),
                                int(rng.integers(2**31)),
                                tuple(tuple(round(float(v), 4) for v in p) for p in path)))
    return tuple(sorted(events, key=lambda e: (e.start, e.cls)))


def plan_files(size: SimSize | str, seed: int = 0) -> list[FilePlan]:
    """Every file of the stand-in, drawn (not rendered): rooms, lengths, events."""
    size = SIZES[size] if isinstance(size, str) else size
    plans = []
    room_number = 0
    for split, n_files, n_rooms in (("train", size.n_train, size.train_rooms),
                                    ("test", size.n_test, size.test_rooms)):
        rooms = []
        for _ in range(n_rooms):
            room_number += 1
            rooms.append(_room(room_number, np.random.default_rng([seed, 23, room_number])))
        mixes = [0] * n_rooms
        for i in range(n_files):
            rng = np.random.default_rng([seed, 23, FOLDS[split], i])
            room = rooms[i % n_rooms]
            mixes[i % n_rooms] += 1
            samples = int(rng.uniform(*size.seconds) * FS) + int(rng.integers(1, LABEL_HOP))
            stem = f"fold{FOLDS[split]}_room{room.number}_mix{mixes[i % n_rooms]:03d}"
            plans.append(FilePlan(stem, split, room, samples,
                                  round(float(rng.uniform(*SNR_DB)), 2),
                                  round(float(rng.uniform(*PEAK)), 3), int(rng.integers(2**31)),
                                  _schedule(size, room, samples, rng)))
    return plans


# ------------------------------------------------------------------------------------ labels


def active_frames(event: EventPlan, n_frames: int) -> np.ndarray:
    """Label frames (below ``n_frames``) the event covers at least half of."""
    frames = np.arange(event.start // LABEL_HOP, (event.start + event.length) // LABEL_HOP + 1)
    lo = np.maximum(frames * LABEL_HOP, event.start)
    hi = np.minimum((frames + 1) * LABEL_HOP, event.start + event.length)
    return frames[(hi - lo >= LABEL_HOP // 2) & (frames < n_frames)]


def reference_rows(plan: FilePlan) -> list[tuple[int, int, int, int, int, int]]:
    """The CSV rows (frame, class, instance id, az deg, el deg, distance cm), sorted."""
    n_frames = plan.samples // LABEL_HOP
    held: dict[tuple[int, int], set[int]] = {}  # (class, frame) -> ids labelled there
    rows = []
    for event in plan.events:
        frames = active_frames(event, n_frames)
        taken = set().union(*(held.get((event.cls, int(f)), set()) for f in frames))
        track = next(k for k in range(len(taken) + 1) if k not in taken)
        for f in frames:
            held.setdefault((event.cls, int(f)), set()).add(track)
            p = event.position_at((f + 0.5) * LABEL_HOP)
            dist = float(np.linalg.norm(p))
            az = int(wrap_azimuth(np.rint(np.degrees(np.arctan2(p[1], p[0])))))
            el = int(np.rint(np.degrees(np.arcsin(np.clip(p[2] / dist, -1, 1)))))
            rows.append((int(f), event.cls, track, az, el, int(np.rint(dist * 100))))
    return sorted(rows)


# ------------------------------------------------------------------------------------ audio


def room_rirs(room: RoomPlan, sources: np.ndarray) -> list[np.ndarray]:
    """RIRs [4, L] from each source (relative to the array centre) to the four capsules,
    aligned so that sample 0 is emission (pyroomacoustics' fractional-delay offset removed)."""
    import pyroomacoustics as pra

    absorption, order = pra.inverse_sabine(room.rt60, list(room.dims))
    shoebox = pra.ShoeBox(list(room.dims), fs=FS, materials=pra.Material(absorption),
                          max_order=min(int(order), MAX_ORDER), air_absorption=False)
    centre = np.asarray(room.centre)
    for s in sources:
        shoebox.add_source(list(centre + s))
    shoebox.add_microphone_array((centre + MIC_POSITIONS).T)
    shoebox.compute_rir()
    offset = pra.constants.get("frac_delay_length") // 2
    out = []
    for s in range(len(sources)):
        rirs = [np.asarray(shoebox.rir[m][s])[offset:] for m in range(len(MIC_POSITIONS))]
        block = np.zeros((len(rirs), max(len(r) for r in rirs)))
        for m, r in enumerate(rirs):
            block[m, :len(r)] = r
        out.append(block)
    return out


def render_file(plan: FilePlan) -> np.ndarray:
    """The recording of ``plan`` as int16 [N, 4]."""
    sources = np.array([p for e in plan.events for p in e.path]).reshape(-1, 3)
    rirs = iter(room_rirs(plan.room, sources)) if len(sources) else iter(())
    n = plan.samples
    mix = np.zeros((4, n + 2 * MOVE_HOP))
    sounding = np.zeros(n, dtype=bool)
    window = np.hanning(2 * MOVE_HOP + 1)[:-1]  # periodic Hann: copies every MOVE_HOP sum to one
    for event in plan.events:
        dry = class_sound(event.cls, event.length, np.random.default_rng(event.sound_seed))
        dry *= 10 ** (event.gain_db / 20)
        sounding[event.start: event.start + event.length] = True
        if not event.moving:
            _add(mix, fftconvolve(next(rirs), dry[None, :], axes=1), event.start)
            continue
        padded = np.concatenate([np.zeros(MOVE_HOP), dry, np.zeros(len(event.path) * MOVE_HOP)])
        for k in range(len(event.path)):  # segment k centred at start + k * MOVE_HOP
            block = padded[k * MOVE_HOP: (k + 2) * MOVE_HOP] * window
            _add(mix, fftconvolve(next(rirs), block[None, :], axes=1),
                 event.start + (k - 1) * MOVE_HOP)
    mix = mix[:, :n]
    rng = np.random.default_rng(plan.noise_seed)
    power = np.mean(mix[:, sounding] ** 2, axis=1) if sounding.any() else np.full(4, 1e-6)
    mix += rng.standard_normal(mix.shape) * np.sqrt(power / 10 ** (plan.snr_db / 10))[:, None]
    mix *= plan.peak / max(float(np.abs(mix).max()), 1e-12)
    return np.clip(np.rint(mix * 32768), -32768, 32767).astype(np.int16).T


def _add(out: np.ndarray, wet: np.ndarray, at: int) -> None:
    lo = max(at, 0)
    hi = min(at + wet.shape[1], out.shape[1])
    if hi > lo:
        out[:, lo:hi] += wet[:, lo - at: hi - at]


def write_file(root: Path, plan: FilePlan) -> dict:
    wav = root / AUDIO_FOLDER / plan.folder / f"{plan.stem}.wav"
    meta = root / META_FOLDER / plan.folder / f"{plan.stem}.csv"
    wav.parent.mkdir(parents=True, exist_ok=True)
    meta.parent.mkdir(parents=True, exist_ok=True)
    sf.write(wav, render_file(plan), FS, subtype="PCM_16")
    with open(meta, "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(reference_rows(plan))
    return {"stem": plan.stem, "split": plan.split, "room": plan.room.number,
            "dims": list(plan.room.dims), "rt60": plan.room.rt60,
            "seconds": round(plan.samples / FS, 3), "events": len(plan.events),
            "moving": sum(e.moving for e in plan.events), "snr_db": plan.snr_db}


def sim_version(size: SimSize, seed: int) -> str:
    blob = json.dumps([GENERATOR_VERSION, asdict(size), seed], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def write_starss23_sim(out_root: Path | str, size: SimSize | str, seed: int = 0,
                       progress: bool = False) -> Path:
    """Write the stand-in of ``size`` to ``out_root`` (atomically; a no-op when up to date)."""
    size = SIZES[size] if isinstance(size, str) else size
    version = sim_version(size, seed)

    def generate(tmp: Path) -> None:
        plans = plan_files(size, seed)
        bar = progress_bar(plans, desc=f"starss23-sim '{size.name}'", unit="file",
                           enabled=progress)
        made = [write_file(tmp, plan) for plan in bar]
        marker = {"version": version, "generator_version": GENERATOR_VERSION, "seed": seed,
                  "size": asdict(size), "files": made}
        (tmp / STANDIN_MARKER).write_text(json.dumps(marker, indent=2) + "\n")

    return write_folder(out_root, STANDIN_MARKER, version, generate)


def write_standin(cache: Path, out: Path, size: str, seed: int = 0,
                  progress: bool = False) -> Path:
    """starss23-sim of ``size`` at ``out``. ``cache`` is unused (the stand-in needs no shared
    ingredients; the argument keeps the stand-ins' common signature)."""
    del cache
    return write_starss23_sim(out, size, seed=seed, progress=progress)


def synth(request: SynthRequest) -> Path:
    """``bench data synth starss23-sim``."""
    return write_standin(request.cache, request.out, request.size, seed=request.seed,
                         progress=request.progress)


register_dataset(DatasetEntry(
    "starss23-sim", "stand-in", "Simulated SELD scenes in the STARSS23 MIC layout, 13 procedural "
    "classes (stands in for starss23)", adapter=Starss23, synth=synth, sizes=tuple(SIZES)))
