"""LibriSpeech adapter: reads ``LibriSpeech/<subset>/<speaker>/<chapter>/*.flac``.

Paper V uses test-clean only, split by speaker: test {61, 121, 237}, validation
{260, 672, 908}, train the rest. Utterances are silence-trimmed (librosa rule, top_db 20)
and kept when longer than 2 s. The embedded TTS stand-in is written in this same layout
and read by this same class.

The ``version`` is a digest over the contents of every FLAC file of the subset
(:class:`~perloc.datasets.digest.ContentDigests`); the ``.trans.txt`` transcripts are never
read (no task uses the text), so they are not part of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from perloc.bench.core.batch import Batch
from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import Provenance
from perloc.datasets.audio import (
    dataset_folder,
    probe_audio,
    read_audio,
    require_file,
    trim_silence,
)
from perloc.datasets.digest import ContentDigests

SAMPLE_RATE = 16_000
SPLIT_SPEAKERS = {"test": frozenset({61, 121, 237}), "val": frozenset({260, 672, 908})}
STANDIN_MARKER = ".perloc-corpus.json"
LOADER_VERSION = "librispeech-loader-2"
_NAME = re.compile(r"^(\d+)-(\d+)-(\d+)\.flac$")


@dataclass(frozen=True)
class Utterance:
    id: str
    speaker: int
    chapter: int
    path: Path


def split_of(speaker: int) -> str:
    """Paper V speaker split: test / val by speaker ID, everything else train."""
    for split, speakers in SPLIT_SPEAKERS.items():
        if speaker in speakers:
            return split
    return "train"


def _subset_dir(root: Path, subset: str, flag: str) -> Path:
    for candidate in (root / "LibriSpeech" / subset, root / subset, root):
        if candidate.name == subset and candidate.is_dir():
            return candidate
    raise UserError(f"{flag}: {root} has no LibriSpeech/{subset} folder")


class LibriSpeech:
    """Utterances of one LibriSpeech subset under ``root`` (the folder holding LibriSpeech/)."""

    name = "librispeech"

    def __init__(self, root: Path, subset: str = "test-clean", min_seconds: float = 2.0, *,
                 digests: ContentDigests | None = None, flag: str = "--data-root") -> None:
        """``digests``: where content digests are remembered (None: in this process only);
        ``flag``: the option that named ``root``, for error messages."""
        self.root = dataset_folder(root, flag)
        self.flag = flag
        self.subset = subset
        self.min_seconds = min_seconds
        self.folder = _subset_dir(self.root, subset, flag)
        self.digests = digests if digests is not None else ContentDigests(None)

    @cached_property
    def utterances(self) -> list[Utterance]:
        found = []
        for path in sorted(self.folder.glob("*/*/*.flac")):
            match = _NAME.match(path.name)
            speaker, chapter = path.parent.parent.name, path.parent.name
            if not match or match.group(1) != speaker or match.group(2) != chapter:
                raise UserError(f"{path}: not a LibriSpeech name <speaker>-<chapter>-<utt>.flac "
                                f"inside {speaker}/{chapter}/")
            require_file(path)
            found.append(Utterance(path.stem, int(speaker), int(chapter), path))
        if not found:
            raise UserError(f"{self.flag}: no <speaker>/<chapter>/*.flac files under "
                            f"{self.folder}")
        return sorted(found, key=lambda u: (u.speaker, u.chapter, u.id))

    @cached_property
    def version(self) -> str:
        """Digest of the contents of every FLAC file (and the subset and length rule)."""
        return self.digests.version(self.folder, [u.path for u in self.utterances],
                                    (LOADER_VERSION, self.subset, self.min_seconds))

    @cached_property
    def provenance(self) -> Provenance:
        marker = self.root / STANDIN_MARKER
        kind = "synthetic" if marker.is_file() else "real"
        generator = "espeak-ng TTS stand-in" if kind == "synthetic" else ""
        return Provenance(kind, str(self.root), len(self.utterances), generator)

    def splits(self) -> dict[str, list[Utterance]]:
        out: dict[str, list[Utterance]] = {"train": [], "val": [], "test": []}
        for utt in self.utterances:
            out[split_of(utt.speaker)].append(utt)
        return out

    def load(self, utt: Utterance) -> np.ndarray:
        return read_audio(utt.path, SAMPLE_RATE)

    def probe(self, split: str) -> int:
        """Check every file of ``split`` without decoding it (header, rate, channels, a file
        cut short: :func:`~perloc.datasets.audio.probe_audio`); return how many."""
        if split not in ("train", "val", "test"):
            raise UserError(f"unknown split {split!r} (train, val, test)")
        utterances = self.splits()[split]
        for utt in utterances:
            probe_audio(utt.path, SAMPLE_RATE)
        return len(utterances)

    def trimmed(self, split: str, limit: int | None = None) -> list[tuple[Utterance, np.ndarray]]:
        """Silence-trimmed utterances of ``split`` longer than ``min_seconds`` (first ``limit``).

        Every file of the split is read and checked, also when ``limit`` keeps fewer.
        """
        if split not in ("train", "val", "test"):
            raise UserError(f"unknown split {split!r} (train, val, test)")
        kept = []
        for utt in self.splits()[split]:
            audio = self.load(utt)
            if limit is not None and len(kept) >= limit:
                continue
            signal = trim_silence(audio)
            if len(signal) > self.min_seconds * SAMPLE_RATE:
                kept.append((utt, signal))
        if not kept:
            raise UserError(f"{self.flag}: no {split} utterance longer than {self.min_seconds} s "
                            f"after silence trimming under {self.folder}")
        return kept

    def batches(self, split: str, batch_size: int, *, where: dict | None = None,
                limit: int | None = None) -> Iterator[Batch]:
        """Batches of 2-second snippets (the first ``min_seconds`` of each trimmed utterance)."""
        length = int(self.min_seconds * SAMPLE_RATE)
        items = self.trimmed(split, limit)
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            yield Batch(
                {"audio": np.stack([signal[:length] for _, signal in chunk])},
                {"speaker": np.array([u.speaker for u, _ in chunk]),
                 "file": np.array([u.id for u, _ in chunk])},
            )


def check_root(root: Path) -> CheckReport:
    """``bench data check librispeech``: speakers, utterances and minutes per split."""
    corpus = LibriSpeech(root, flag="--root")
    rows = []
    for split, utterances in corpus.splits().items():
        seconds = sum(len(corpus.load(u)) for u in utterances) / SAMPLE_RATE
        speakers = len({u.speaker for u in utterances})
        rows.append([split, speakers, len(utterances), f"{seconds / 60:.1f}"])
    return CheckReport(f"{corpus.folder}: {corpus.provenance.kind}, version {corpus.version}",
                       rows, ["split", "speakers", "utterances", "minutes"])


register_dataset(DatasetEntry(
    "librispeech", "real", "LibriSpeech test-clean, FLAC in <speaker>/<chapter>/ folders",
    adapter=LibriSpeech, check=check_root))
