"""speech-commands-tts: an offline Speech Commands v2 stand-in WRITTEN in the real layout.

All 35 v2 words are spoken by TTS pseudo-speakers (eSpeak NG voice variant x pitch x rate),
each clip placed at a random offset in its 1-s window, played through one of a pool of small
pyroomacoustics rooms (random size, T60 0.15-0.4 s) and given a random level (+-10 dB), then
written as 16-bit 16 kHz WAV ``<word>/<8-hex speaker>_nohash_<take>.wav``. Speaker ids are
hex digests, so the SHA-1 split rule spreads them over the splits and the two list files
written here agree with it. ``_background_noise_/`` holds white, pink, babble (overlapped TTS
sentences) and mains-hum recordings. Read back by :class:`perloc.datasets.speech_commands.
SpeechCommands` like the real corpus.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve

from perloc.bench.core.datasets import DatasetEntry, SynthRequest, register_dataset
from perloc.datasets.speech_commands import (
    BACKGROUND,
    STANDIN_MARKER,
    V2_WORDS,
    SpeechCommands,
    which_set,
)
from perloc.datasets.synth.librispeech_tts import LANGUAGES, VARIANTS
from perloc.datasets.synth.staging import write_folder
from perloc.datasets.synth.tts import EspeakSynthesizer

GENERATOR_VERSION = 1
RATE = 16_000
CLIP = 16_000


@dataclass(frozen=True)
class CommandsSize:
    name: str
    speakers: int
    takes: int
    rooms: int
    background_seconds: float


SIZES = {
    "smoke": CommandsSize("smoke", 40, 1, 4, 5.0),
    "default": CommandsSize("default", 150, 2, 24, 30.0),
}


def speaker_id(index: int) -> str:
    return hashlib.sha1(f"perloc-tts-speaker-{index}".encode()).hexdigest()[:8]


def speaker_ids(n: int) -> list[str]:
    """``n`` ids whose hash split is about 80/10/10 with at least one speaker per split (the
    ids are chosen; the split is still the real rule's)."""
    want = {"validation": max(1, round(0.1 * n)), "testing": max(1, round(0.1 * n))}
    want["training"] = n - want["validation"] - want["testing"]
    chosen, index = [], 0
    while len(chosen) < n:
        candidate = speaker_id(index)
        split = which_set(f"{candidate}_nohash_0.wav")
        if want[split] > 0:
            want[split] -= 1
            chosen.append(candidate)
        index += 1
    return chosen


def voice(index: int) -> dict:
    return {"voice": f"{LANGUAGES[(index // len(VARIANTS)) % 2]}+{VARIANTS[index % len(VARIANTS)]}",
            "pitch": 25 + (index * 13) % 51, "rate_wpm": 130 + (index * 31) % 91,
            "pitch_range": 30 + (index * 17) % 41}


def room_pool(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Mono RIRs of small random rooms (source and mic 0.5-2 m apart)."""
    import pyroomacoustics as pra

    rirs = []
    for _ in range(n):
        dims = rng.uniform([3.0, 3.0, 2.4], [6.0, 5.0, 3.0])
        absorption, order = pra.inverse_sabine(float(rng.uniform(0.15, 0.4)), list(dims))
        room = pra.ShoeBox(list(dims), fs=RATE, materials=pra.Material(absorption),
                           max_order=min(order, 12))
        mic = rng.uniform(0.5, dims - 0.5)
        direction = rng.normal(size=3)
        source = np.clip(mic + rng.uniform(0.5, 2.0) * direction / np.linalg.norm(direction),
                         0.2, dims - 0.2)
        room.add_source(list(source))
        room.add_microphone_array(mic[:, None])
        room.compute_rir()
        rirs.append(np.asarray(room.rir[0][0], dtype=np.float64))
    return rirs


def place(word: np.ndarray, rir: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The word reverberated, at a random offset inside 1 s, at a random level."""
    wet = fftconvolve(word.astype(np.float64), rir)[: CLIP]
    active = np.flatnonzero(np.abs(wet) > 0.02 * np.abs(wet).max())
    wet = wet[active[0]:active[-1] + 1] if len(active) else wet
    wet = wet[:CLIP]
    out = np.zeros(CLIP)
    start = int(rng.integers(0, CLIP - len(wet) + 1))
    out[start:start + len(wet)] = wet
    level = 10 ** (rng.uniform(-10, 10) / 20) * 0.3
    return out * level / max(float(np.abs(out).max()), 1e-9)


def background(kind: str, seconds: float, rng: np.random.Generator,
               synth: EspeakSynthesizer) -> np.ndarray:
    n = int(seconds * RATE)
    if kind == "white_noise":
        x = rng.standard_normal(n)
    elif kind == "pink_noise":
        spectrum = np.fft.rfft(rng.standard_normal(n))
        x = np.fft.irfft(spectrum / np.sqrt(np.maximum(np.arange(len(spectrum)), 1)), n)
    elif kind == "babble":
        x = np.zeros(n)
        for k in range(6):
            speech = synth.synthesize(" ".join(rng.choice(V2_WORDS, 40)), **voice(100 + k))
            reps = np.tile(speech, n // len(speech) + 1)[:n]
            x += np.roll(reps, int(rng.integers(n)))
    else:  # mains hum with harmonics and a little hiss
        t = np.arange(n) / RATE
        x = sum(np.sin(2 * np.pi * 50 * h * t) / h for h in (1, 2, 3, 5)) + \
            0.05 * rng.standard_normal(n)
    return 0.5 * x / max(float(np.abs(x).max()), 1e-9)


def commands_version(size: CommandsSize, seed: int) -> str:
    blob = json.dumps([GENERATOR_VERSION, asdict(size), seed])
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _generate(tmp: Path, size: CommandsSize, seed: int, version: str) -> None:
    rng = np.random.default_rng([seed, 71])
    synth = EspeakSynthesizer()
    rirs = room_pool(size.rooms, rng)
    lists: dict[str, list[str]] = {"validation": [], "testing": []}
    for word in V2_WORDS:
        (tmp / word).mkdir(parents=True)
    for index, spk in enumerate(speaker_ids(size.speakers)):
        for take in range(size.takes):
            clips = synth.synthesize_many(list(V2_WORDS), **voice(index), seed=seed + take)
            for word, clip in zip(V2_WORDS, clips, strict=True):
                audio = place(clip, rirs[int(rng.integers(len(rirs)))], rng)
                name = f"{spk}_nohash_{take}.wav"
                sf.write(tmp / word / name, audio, RATE, subtype="PCM_16")
                split = which_set(name)
                if split in lists:
                    lists[split].append(f"{word}/{name}")
    (tmp / BACKGROUND).mkdir()
    for kind in ("white_noise", "pink_noise", "babble", "hum"):
        sf.write(tmp / BACKGROUND / f"{kind}.wav", background(kind, size.background_seconds,
                                                              rng, synth), RATE, subtype="PCM_16")
    for split, name in (("validation", "validation_list.txt"), ("testing", "testing_list.txt")):
        (tmp / name).write_text("".join(f"{rel}\n" for rel in sorted(lists[split])))
    marker = {"version": version, "generator_version": GENERATOR_VERSION, "seed": seed,
              "size": asdict(size), "words": list(V2_WORDS)}
    (tmp / STANDIN_MARKER).write_text(json.dumps(marker, indent=2) + "\n")


def write_commands(out_root: Path | str, size: CommandsSize | str = "default",
                   seed: int = 0) -> Path:
    """Write the stand-in to ``out_root`` (atomically; a no-op when up to date)."""
    size = SIZES[size] if isinstance(size, str) else size
    version = commands_version(size, seed)
    return write_folder(out_root, STANDIN_MARKER, version,
                        lambda tmp: _generate(tmp, size, seed, version))


def synth(request: SynthRequest) -> Path:
    """``bench data synth speech-commands-tts``."""
    return write_commands(request.out, request.size, seed=request.seed)


register_dataset(DatasetEntry(
    "speech-commands-tts", "stand-in", "eSpeak NG keywords in simulated rooms in the Speech "
    "Commands v2 layout (stands in for speech-commands)", adapter=SpeechCommands, synth=synth,
    sizes=tuple(SIZES)))
