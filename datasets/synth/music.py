"""A small music generator for stand-in recordings: a band of tones, chords and drums.

Each note is a harmonic tone (fundamental from an equal-tempered scale, 1/k partial
amplitudes with random brightness, slight vibrato, two detuned unison voices and a short
noisy pluck at the attack) shaped by an attack-decay-sustain-release envelope. A piece
alternates melody notes and three-note chords at a random tempo, with occasional rests, over
a drum pattern (kick on beats 1 and 3, snare on 2 and 4, hi-hat on eighths, with random
fills and drops). Drums and plucks give the broadband onsets real recordings have; tones
alone would make every correlation periodic and TDOA estimation hopeless, unlike real music.
"""

from __future__ import annotations

import numpy as np

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


def adsr(n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Envelope of ``n`` samples: linear attack, exponential decay to sustain, release."""
    attack = max(1, int(rng.uniform(0.005, 0.04) * fs))
    release = max(1, min(n // 3, int(rng.uniform(0.05, 0.2) * fs)))
    sustain = rng.uniform(0.3, 0.8)
    t = np.arange(n) / fs
    env = sustain + (1 - sustain) * np.exp(-t / rng.uniform(0.05, 0.3))
    env[:attack] *= np.linspace(0, 1, attack)
    env[n - release:] *= np.linspace(1, 0, release)
    return env


def tone(freq: float, n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """A harmonic tone: partials below Nyquist, vibrato, two detuned voices, a noisy pluck."""
    t = np.arange(n) / fs
    vibrato = 1 + 0.003 * np.sin(2 * np.pi * rng.uniform(4, 6) * t)
    brightness = rng.uniform(0.8, 1.6)
    out = np.zeros(n)
    for cents in (-rng.uniform(3, 10), rng.uniform(3, 10)):
        phase = 2 * np.pi * freq * 2 ** (cents / 1200) * np.cumsum(vibrato) / fs
        for k in range(1, 25):
            if k * freq >= fs / 2 * 0.9:
                break
            out += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k ** brightness
    pluck = min(n, int(0.015 * fs))
    out[:pluck] += rng.standard_normal(pluck) * np.linspace(1.5, 0, pluck)
    return out * adsr(n, fs, rng)


def _burst(n: int, fs: int, decay: float, rng: np.random.Generator, highpass: bool) -> np.ndarray:
    noise = rng.standard_normal(n)
    if highpass:
        noise = np.diff(noise, prepend=0.0)
    return noise * np.exp(-np.arange(n) / (decay * fs))


def drum(kind: str, fs: int, rng: np.random.Generator) -> np.ndarray:
    """kick (pitch-dropping sine + click), snare (noise + tone), hat (high-passed noise)."""
    if kind == "kick":
        n = int(0.25 * fs)
        t = np.arange(n) / fs
        freq = 50 + 100 * np.exp(-t / 0.03)
        body = np.sin(2 * np.pi * np.cumsum(freq) / fs) * np.exp(-t / 0.12)
        return body + 0.3 * _burst(n, fs, 0.005, rng, False)
    if kind == "snare":
        n = int(0.2 * fs)
        t = np.arange(n) / fs
        return 0.8 * _burst(n, fs, 0.06, rng, False) + 0.4 * np.sin(2 * np.pi * 190 * t) * \
            np.exp(-t / 0.05)
    return 0.5 * _burst(int(0.06 * fs), fs, 0.015, rng, True)


def _drums(n: int, fs: int, beat: float, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n + fs)
    eighth = beat / 2
    for k in range(int(n / fs / eighth) + 1):
        if rng.random() < 0.08:  # a dropped hit now and then
            continue
        hits = ["hat"] + (["kick"] if k % 4 == 0 else []) + (["snare"] if k % 4 == 2 else [])
        if rng.random() < 0.1:
            hits.append(str(rng.choice(["kick", "snare"])))  # fills
        start = int(k * eighth * fs)
        for kind in hits:
            hit = drum(kind, fs, rng) * rng.uniform(0.7, 1.0)
            out[start:start + len(hit)] += hit[: len(out) - start]
    return out[:n]


def render_music(seconds: float, fs: int, rng: np.random.Generator) -> np.ndarray:
    """A piece of ``seconds`` at ``fs`` (float32, peak 1)."""
    n = int(seconds * fs)
    out = np.zeros(n + fs)
    beat = 60.0 / rng.uniform(80, 140)
    scale = MAJOR if rng.random() < 0.5 else MINOR
    root = 48 + int(rng.integers(0, 12))  # MIDI note of the key
    pos = 0
    while pos < n:
        length = int(beat * rng.choice([0.5, 1, 1, 2]) * fs)
        if rng.random() < 0.12:  # rest
            pos += length
            continue
        degree = int(rng.integers(0, 14))
        notes = [degree] if rng.random() < 0.6 else [degree, degree + 2, degree + 4]
        for d in notes:
            midi = root + 12 * (d // 7) + scale[d % 7]
            freq = 440.0 * 2 ** ((midi - 69) / 12)
            out[pos:pos + length] += tone(freq, min(length, len(out) - pos), fs, rng) / len(notes)
        pos += length
    out = out[:n] / max(float(np.abs(out[:n]).max()), 1e-9)
    drums = _drums(n, fs, beat, rng)
    out = out + rng.uniform(0.5, 0.9) * drums / max(float(np.abs(drums).max()), 1e-9)
    return (out / max(float(np.abs(out).max()), 1e-9)).astype(np.float32)
