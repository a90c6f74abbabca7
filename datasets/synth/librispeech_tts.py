"""Offline stand-in for LibriSpeech test-clean: eSpeak NG speech written in LibriSpeech's layout.

Output (identical to the real corpus on disk)::

    <out_root>/LibriSpeech/test-clean/<spk>/<chap>/<spk>-<chap>-<utt:04d>.flac   16 kHz mono int16
    <out_root>/LibriSpeech/test-clean/<spk>/<chap>/<spk>-<chap>.trans.txt        "<id> UPPER TEXT"
    <out_root>/.perloc-corpus.json                                               marker, written last

Each pseudo-speaker is one (voice variant, pitch, rate, pitch range) combination, fixed by the
speaker's position in :data:`SPEAKER_IDS`, so the same speaker sounds the same at every corpus
size.  Every utterance is a pure function of (seed, speaker, chapter, utterance index).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib.metadata import version as package_version
from pathlib import Path

import numpy as np
import soundfile as sf

from perloc.bench.core.datasets import DatasetEntry, SynthRequest, register_dataset
from perloc.bench.core.progress import progress_bar
from perloc.datasets.librispeech import LibriSpeech

from .staging import read_marker, write_folder
from .tts import EspeakSynthesizer, espeak_version
from .words import make_sentence, vocabulary_digest

GENERATOR_VERSION = 1
SAMPLE_RATE = 16000
MARKER_NAME = ".perloc-corpus.json"
SUBSET = "test-clean"

#: The 40 speakers of the real LibriSpeech test-clean, then 6 made-up ones (46 in all, so the
#: paper's 40 train / 3 val / 3 test speaker split has enough train speakers).
REAL_SPEAKER_IDS = (
    61, 121, 237, 260, 672, 908, 1089, 1188, 1221, 1284, 1320, 1580, 1995, 2094, 2300, 2830,
    2961, 3570, 3575, 3729, 4077, 4446, 4507, 4970, 4992, 5105, 5142, 5639, 5683, 6829, 6930,
    7021, 7127, 7176, 7729, 8224, 8230, 8455, 8463, 8555,
)
EXTRA_SPEAKER_IDS = (9901, 9902, 9903, 9904, 9905, 9906)
SPEAKER_IDS = REAL_SPEAKER_IDS + EXTRA_SPEAKER_IDS

#: Human-sounding eSpeak variants (the robotic, whispering and novelty ones are left out).
VARIANTS = ("m1", "f1", "m2", "f2", "m3", "f3", "m4", "f4", "m5", "f5", "m6", "m7", "m8",
            "klatt", "klatt2", "klatt3", "klatt4")
LANGUAGES = ("en-us", "en")


@dataclass(frozen=True)
class SpeakerVoice:
    """How one pseudo-speaker sounds, and its chapter IDs."""

    speaker_id: int
    voice: str
    pitch: int
    rate_wpm: int
    pitch_range: int
    chapters: tuple[int, ...]


@dataclass(frozen=True)
class CorpusSize:
    """Which speakers (``None`` = all of :data:`SPEAKER_IDS`) and how many utterances each."""

    name: str
    speakers: tuple[int, ...] | None
    utterances_per_speaker: int

    def speaker_ids(self) -> tuple[int, ...]:
        """The speaker IDs this size covers."""
        return SPEAKER_IDS if self.speakers is None else tuple(self.speakers)


SIZES = {
    "smoke": CorpusSize("smoke", (61, 121, 237, 260, 672, 908, 1089, 1188), 2),
    "default": CorpusSize("default", None, 8),
}


def _chapter_ids(speaker_id: int) -> tuple[int, ...]:
    """One or two six-digit chapter IDs derived from the speaker ID."""
    count = 1 + speaker_id % 2
    return tuple(100000 + (speaker_id * 7919 + k * 104729) % 900000 for k in range(count))


def speaker_voice(speaker_id: int) -> SpeakerVoice:
    """The voice of ``speaker_id`` (deterministic from its index in :data:`SPEAKER_IDS`)."""
    i = SPEAKER_IDS.index(speaker_id)
    variant = VARIANTS[i % len(VARIANTS)]
    language = LANGUAGES[(i // len(VARIANTS)) % len(LANGUAGES)]
    return SpeakerVoice(
        speaker_id=speaker_id,
        voice=f"{language}+{variant}",
        pitch=30 + (i * 17) % 41,          # 30..70 on espeak's 0-100 scale (50 = default)
        rate_wpm=150 + (i * 23) % 51,      # 150..200 espeak words per minute
        pitch_range=35 + (i * 29) % 36,    # 35..70 (50 = default intonation)
        chapters=_chapter_ids(speaker_id),
    )


def speaker_table(speaker_ids: tuple[int, ...] = SPEAKER_IDS) -> tuple[SpeakerVoice, ...]:
    """Voices for ``speaker_ids``; asserts that no two speakers (of all) share a voice."""
    every = [speaker_voice(s) for s in SPEAKER_IDS]
    combos = {(v.voice, v.pitch, v.rate_wpm, v.pitch_range) for v in every}
    assert len(combos) == len(every), "two speakers share a voice combination"
    chapters = [c for v in every for c in v.chapters]
    assert len(set(chapters)) == len(chapters), "two speakers share a chapter ID"
    return tuple(speaker_voice(s) for s in speaker_ids)


def resolve_size(size: CorpusSize | str) -> CorpusSize:
    """Look up a size by name, or validate a :class:`CorpusSize`."""
    if isinstance(size, str):
        if size not in SIZES:
            raise KeyError(f"unknown corpus size {size!r}; known: {sorted(SIZES)}")
        size = SIZES[size]
    unknown = set(size.speaker_ids()) - set(SPEAKER_IDS)
    if unknown or size.utterances_per_speaker < 1:
        raise ValueError(f"bad corpus size {size} (unknown speakers: {sorted(unknown)})")
    return size


def corpus_version(size: CorpusSize | str, seed: int) -> str:
    """Short hash of everything that determines the corpus bytes."""
    size = resolve_size(size)
    config = {
        "generator": GENERATOR_VERSION,
        "size": [size.name, list(size.speaker_ids()), size.utterances_per_speaker],
        "seed": seed,
        "vocabulary": vocabulary_digest(),
        "espeak": espeak_version(),
        "espeakng_loader": package_version("espeakng_loader"),
        "speakers": [asdict(v) for v in speaker_table(size.speaker_ids())],
    }
    blob = json.dumps(config, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class Utterance:
    """One planned utterance: who says it, where it goes."""

    speaker: SpeakerVoice
    chapter_id: int
    index: int

    @property
    def utt_id(self) -> str:
        return f"{self.speaker.speaker_id}-{self.chapter_id}-{self.index:04d}"

    def folder(self, subset_root: Path) -> Path:
        return subset_root / str(self.speaker.speaker_id) / str(self.chapter_id)


def plan_utterances(size: CorpusSize) -> list[Utterance]:
    """All utterances of ``size``: each speaker's utterances split over its chapters."""
    plan = []
    for voice in speaker_table(size.speaker_ids()):
        parts = np.array_split(np.arange(size.utterances_per_speaker), len(voice.chapters))
        for chapter_id, part in zip(voice.chapters, parts, strict=True):
            plan += [Utterance(voice, chapter_id, k) for k in range(len(part))]
    return plan


def _trim(x: np.ndarray, rel: float = 0.005) -> np.ndarray:
    """Drop espeak's own near-silent lead-in and tail."""
    loud = np.flatnonzero(np.abs(x) > rel * max(float(np.abs(x).max()), 1e-9))
    return x[loud[0]:loud[-1] + 1] if loud.size else x


def _word_budget(rng: np.random.Generator, rate_wpm: int) -> tuple[int, int]:
    """Word-count bounds that make the utterance last about 3-8 s in total.

    eSpeak speaks about 3.2 words/s at rate 175 with this vocabulary (measured); roughly 1.1 s
    of every utterance is lead-in, tail and clause pauses.
    """
    speech_seconds = max(rng.uniform(3.0, 8.0) - 1.1, 2.5)
    n = round(speech_seconds * 3.2 * rate_wpm / 175)
    return max(6, n - 2), max(8, n + 2)


def _gap(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    return np.zeros(int(rng.uniform(low, high) * SAMPLE_RATE), np.float32)


def render_utterance(synth: EspeakSynthesizer, utt: Utterance,
                     seed: int) -> tuple[np.ndarray, str]:
    """Synthesize one utterance; returns (int16 samples at 16 kHz, transcript)."""
    v = utt.speaker
    rng = np.random.default_rng([seed, v.speaker_id, utt.chapter_id, utt.index])
    sentence = make_sentence(rng, *_word_budget(rng, v.rate_wpm))
    clauses = synth.synthesize_many(sentence.clause_texts, v.voice, v.pitch, v.rate_wpm,
                                    v.pitch_range, seed=int(rng.integers(2**31)))
    pieces = [_gap(rng, 0.2, 0.6)]
    for k, clause in enumerate(clauses):
        if k:
            pieces.append(_gap(rng, 0.15, 0.45))   # pause between clauses
        pieces.append(_trim(clause))
    pieces.append(_gap(rng, 0.2, 0.6))
    x = np.concatenate(pieces)
    x *= 10 ** (rng.uniform(-6.0, -1.0) / 20) / max(float(np.abs(x).max()), 1e-9)
    x += rng.standard_normal(x.size).astype(np.float32) * 10 ** (rng.uniform(-68, -60) / 20)
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16), sentence.transcript


def _read_marker(root: Path) -> dict | None:
    return read_marker(root, MARKER_NAME)


def _generate(tmp: Path, size: CorpusSize, seed: int, version: str, progress: bool) -> None:
    """Write the whole corpus and finally the marker into ``tmp``."""
    subset_root = tmp / "LibriSpeech" / SUBSET
    synth = EspeakSynthesizer()
    plan = plan_utterances(size)
    transcripts: dict[Path, list[str]] = {}
    total = 0
    for utt in progress_bar(plan, desc=f"TTS corpus '{size.name}'", unit="utt",
                            enabled=progress):
        audio, text = render_utterance(synth, utt, seed)
        folder = utt.folder(subset_root)
        folder.mkdir(parents=True, exist_ok=True)
        _write_flac(folder / f"{utt.utt_id}.flac", audio)
        transcripts.setdefault(folder, []).append(f"{utt.utt_id} {text}")
        total += audio.size
    for folder, lines in transcripts.items():
        name = f"{folder.parent.name}-{folder.name}.trans.txt"
        (folder / name).write_text("\n".join(lines) + "\n")
    marker = {
        "version": version, "generator_version": GENERATOR_VERSION, "seed": seed,
        "size": asdict(size), "sample_rate": SAMPLE_RATE, "subset": SUBSET,
        "espeak_version": espeak_version(), "n_utterances": len(plan),
        "total_seconds": round(total / SAMPLE_RATE, 3),
        "speakers": [asdict(v) for v in speaker_table(size.speaker_ids())],
    }
    (tmp / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n")


def _write_flac(path: Path, audio: np.ndarray) -> None:
    sf.write(path, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")


def write_corpus(out_root: Path | str, size: CorpusSize | str = "default", seed: int = 0,
                 progress: bool = True) -> Path:
    """Write the TTS corpus to ``<out_root>/LibriSpeech/test-clean``; return ``out_root``.

    A no-op when ``out_root`` already holds this exact corpus (same marker version).  The corpus
    is built in a hidden sibling folder and renamed into place only when complete, so a partial
    corpus is never visible.  A stale corpus (marker with another version) is replaced; a
    non-empty ``out_root`` without a marker is never touched (``FileExistsError``).
    """
    size = resolve_size(size)
    version = corpus_version(size, seed)
    return write_folder(out_root, MARKER_NAME, version,
                        lambda tmp: _generate(tmp, size, seed, version, progress))


def synth(request: SynthRequest) -> Path:
    """``bench data synth librispeech-tts``."""
    return write_corpus(request.out, request.size, seed=request.seed, progress=request.progress)


register_dataset(DatasetEntry(
    "librispeech-tts", "stand-in", "eSpeak NG speech in the LibriSpeech test-clean layout "
    "(stands in for librispeech)", adapter=LibriSpeech, synth=synth, sizes=tuple(SIZES)))
