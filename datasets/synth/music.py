"""A small music generator for stand-in recordings: a band of plucked, bowed and keyed
instruments, chords, bass and drums with cymbals.

Broadband on purpose: music as played in LuViRA is produced, mixed music whose long-term
spectrum reaches well above 2 kHz in almost every 128 ms frame (strings, cymbals, the attack
of every note), and Paper VII finds it easier to localise than speech. A band of low, steeply
rolled-off harmonic tones instead makes most frames tonal (energy below 2 kHz, a few spectral
lines), and GCC-PHAT, which whitens the spectrum, then locks onto the periodic correlation of
the partials: the first generator (tones with 1/k^0.8-1.6 partials over a kick/snare/hat beat)
put 10-60 % of the microphone pairs of such frames more than 2 samples off.

Voices (each note picks one; two detuned unison copies, vibrato, an ADSR envelope):

* plucked: Karplus-Strong string (a noise burst in a damped delay loop, bright attack that
  mellows as it decays);
* bowed: a sawtooth-like tone (all partials, 1/k^0.7-1.1) with bow noise (high-passed noise
  following the envelope, 10-20 % of the level);
* keyed: a harmonic tone with 1/k^0.8-1.2 partials and a short noisy hammer at the attack.

A piece alternates melody notes (MIDI 60-83) and three-note chords at a random tempo over a
bass line (root and fifth, two octaves down), with occasional rests in the melody (the bass
and drums keep playing), over a drum pattern: kick on beats 1 and 3, snare on 2 and 4, hi-hat
on eighths or sixteenths, a ride cymbal on every beat and a crash every two or four bars,
with random fills and dropped hits.
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


def _partials(freq: float, n: int, fs: int, rng: np.random.Generator, slope: float,
              vibrato: np.ndarray) -> np.ndarray:
    """Two detuned unison voices of a harmonic tone, partials 1/k^slope below 0.9 Nyquist."""
    out = np.zeros(n)
    for cents in (-rng.uniform(3, 10), rng.uniform(3, 10)):
        phase = 2 * np.pi * freq * 2 ** (cents / 1200) * np.cumsum(vibrato) / fs
        for k in range(1, 61):
            if k * freq >= fs / 2 * 0.9:
                break
            out += np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k ** slope
    return out / max(float(np.abs(out).max()), 1e-9)


def plucked(freq: float, n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong: a noise burst circulating in a delay line with a damped average."""
    period = max(2, int(round(fs / freq)))
    decay = rng.uniform(0.990, 0.998)
    out = np.zeros(n + period + 1)
    out[:period + 1] = rng.uniform(-1, 1, period + 1)
    for start in range(period + 1, len(out), period):  # the loop's lag is >= one block
        stop = min(start + period, len(out))
        k = np.arange(start, stop)
        out[k] = decay * 0.5 * (out[k - period] + out[k - period - 1])
    return out[:n] / max(float(np.abs(out[:n]).max()), 1e-9)


def tone(freq: float, n: int, fs: int, rng: np.random.Generator) -> np.ndarray:
    """One note of a random voice (plucked, bowed or keyed), shaped by an ADSR envelope."""
    t = np.arange(n) / fs
    vibrato = 1 + 0.003 * np.sin(2 * np.pi * rng.uniform(4, 6) * t)
    voice = rng.choice(["plucked", "bowed", "keyed"])
    if voice == "plucked":
        out = plucked(freq, n, fs, rng) + plucked(freq * 2 ** (rng.uniform(3, 8) / 1200), n,
                                                  fs, rng)
    elif voice == "bowed":
        out = _partials(freq, n, fs, rng, rng.uniform(0.7, 1.1), vibrato)
        bow = np.diff(rng.standard_normal(n), prepend=0.0)
        out += rng.uniform(0.1, 0.2) * bow / max(float(np.abs(bow).max()), 1e-9) * 3
    else:
        out = _partials(freq, n, fs, rng, rng.uniform(0.8, 1.2), vibrato)
        hammer = min(n, int(0.01 * fs))
        out[:hammer] += rng.standard_normal(hammer) * np.linspace(1.0, 0, hammer)
    return out * adsr(n, fs, rng)


def _burst(n: int, fs: int, decay: float, rng: np.random.Generator, highpass: bool) -> np.ndarray:
    noise = rng.standard_normal(n)
    if highpass:
        noise = np.diff(noise, prepend=0.0)
    return noise * np.exp(-np.arange(n) / (decay * fs))


def drum(kind: str, fs: int, rng: np.random.Generator) -> np.ndarray:
    """kick (pitch-dropping sine + click), snare (noise + tone), hat (high-passed noise), ride
    and crash (long high-passed noise washes)."""
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
    if kind == "ride":
        return 0.3 * _burst(int(0.8 * fs), fs, 0.25, rng, True)
    if kind == "crash":
        return 0.5 * _burst(int(1.5 * fs), fs, 0.6, rng, True)
    return 0.5 * _burst(int(0.06 * fs), fs, 0.015, rng, True)


def _drums(n: int, fs: int, beat: float, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(n + 2 * fs)
    sixteenths = rng.random() < 0.5
    step = beat / 4
    bar_crash = int(rng.choice([2, 4]))
    for k in range(int(n / fs / step) + 1):
        if rng.random() < 0.08:  # a dropped hit now and then
            continue
        hits = ["hat"] if (sixteenths or k % 2 == 0) else []
        hits += ["kick"] if k % 8 == 0 else []
        hits += ["snare"] if k % 8 == 4 else []
        hits += ["ride"] if k % 4 == 0 else []
        hits += ["crash"] if k % (16 * bar_crash) == 0 else []
        if k % 2 == 0 and rng.random() < 0.1:
            hits.append(str(rng.choice(["kick", "snare"])))  # fills
        start = int(k * step * fs)
        for kind in hits:
            hit = drum(kind, fs, rng) * rng.uniform(0.7, 1.0)
            out[start:start + len(hit)] += hit[: len(out) - start]
    return out[:n]


def render_music(seconds: float, fs: int, rng: np.random.Generator) -> np.ndarray:
    """A piece of ``seconds`` at ``fs`` (float32, peak 1)."""
    n = int(seconds * fs)
    out = np.zeros(n + fs)
    bass = np.zeros(n + fs)
    beat = 60.0 / rng.uniform(80, 140)
    scale = MAJOR if rng.random() < 0.5 else MINOR
    root = 60 + int(rng.integers(0, 12))  # MIDI note of the key (melody register)
    pos = 0
    while pos < n:
        length = int(beat * rng.choice([0.5, 1, 1, 2]) * fs)
        step = int(rng.choice([0, 4]))  # bass: the key's root or fifth, two octaves down
        midi = root - 24 + scale[step]
        bass[pos:pos + length] += tone(440.0 * 2 ** ((midi - 69) / 12),
                                       min(length, len(bass) - pos), fs, rng)
        if rng.random() < 0.12:  # rest
            pos += length
            continue
        degree = int(rng.integers(0, 14))
        notes = [degree] if rng.random() < 0.6 else [degree, degree + 2, degree + 4]
        for d in notes:
            midi = root + 12 * (d // 7) + scale[d % 7] - (12 if len(notes) > 1 else 0)
            freq = 440.0 * 2 ** ((midi - 69) / 12)
            out[pos:pos + length] += tone(freq, min(length, len(out) - pos), fs, rng) / len(notes)
        pos += length
    out = out[:n] / max(float(np.abs(out[:n]).max()), 1e-9)
    out += rng.uniform(0.4, 0.6) * bass[:n] / max(float(np.abs(bass[:n]).max()), 1e-9)
    drums = _drums(n, fs, beat, rng)
    out = out + rng.uniform(0.6, 0.9) * drums / max(float(np.abs(drums).max()), 1e-9)
    return (out / max(float(np.abs(out).max()), 1e-9)).astype(np.float32)
