"""A small music generator for stand-in recordings: notes and chords with ADSR envelopes.

Each note is a harmonic tone (fundamental from an equal-tempered scale, 1/k partial
amplitudes with random brightness, slight vibrato) shaped by an attack-decay-sustain-release
envelope. A piece alternates melody notes and three-note chords at a random tempo, with
occasional rests, so it has onsets, sustained tones and short silences like real music.
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
    """A harmonic tone with a few partials below Nyquist and a light vibrato."""
    t = np.arange(n) / fs
    vibrato = 1 + 0.003 * np.sin(2 * np.pi * rng.uniform(4, 6) * t)
    phase = 2 * np.pi * freq * np.cumsum(vibrato) / fs
    brightness = rng.uniform(0.8, 1.6)
    out = np.zeros(n)
    for k in range(1, 13):
        if k * freq >= fs / 2 * 0.9:
            break
        out += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k ** brightness
    return out * adsr(n, fs, rng)


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
    out = out[:n]
    return (out / max(float(np.abs(out).max()), 1e-9)).astype(np.float32)
