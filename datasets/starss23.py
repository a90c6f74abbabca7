"""STARSS23 as DCASE2024 Task 3 ships it: the 4-channel tetrahedral MIC format (spec seld.md §1).

The real layout, read as published (and written so by the ``starss23-sim`` stand-in)::

    <root>/mic_dev/<sub>/<stem>.wav        24 kHz, 4 channels, int16, any length
    <root>/metadata_dev/<sub>/<stem>.csv   frame, class, source, azimuth, elevation, distance cm

``<sub>`` is ``dev-train-sony``, ``dev-train-tau``, ``dev-test-sony``, ``dev-test-tau`` in the
real release (``dev-{train,test}-synth`` in the stand-in); every sub-folder of ``mic_dev`` is
read, as the DCASE baseline does, and its CSVs must sit in the sub-folder of the same name
under ``metadata_dev``. Names starting with a dot (macOS ``._*`` companions) are skipped.

* **Split** from the fold digit, the character at index 4 of the stem (the baseline's rule),
  not from the folder name: ``fold4`` is dev-test, ``fold3`` dev-train, and ``fold1`` /
  ``fold2`` (the DCASE2024 synthetic mixtures Paper VI adds) are training data too.
* **Audio** ``[4, N]`` float32, int16 / 32768 as the baseline scales it (soundfile's float
  reading of a PCM_16 file is exactly that).
* **Labels**: ``floor(N / 2400)`` frames of 100 ms (spec §3.1); the CSV distance is in
  centimetres and read as metres (gotcha 2); ADPIT targets ``[frames, 6, 5, C]`` from
  :func:`perloc.datasets.seld_labels.adpit_labels` (rows at or past the last whole label frame
  are dropped there, as the baseline drops them). A CSV whose events run more than
  ``LABEL_SLACK`` frames past its recording is refused: it belongs to another file.
* **ACS**: :meth:`Starss23.acs_views` gives the 8 channel swaps of spec §1.8 with their label
  transforms, for training augmentation.

Constructing :class:`Starss23` checks every recording before any work, reading WAV headers
only (not the samples): the two folders, a WAV without its CSV and a CSV without its WAV, the
fold digit (1-4), sample rate, channel count, a readable and complete header, at least one
label frame, and every CSV row (6 columns, non-negative frame, class in 0..C-1, via
:func:`perloc.datasets.dcase_csv.read_reference`). Each failure is one ``UserError`` line
naming the file. ``bench data check starss23 --root DIR`` also decodes every recording.

``version`` digests every WAV and CSV by content (:class:`perloc.datasets.digest.ContentDigests`);
``provenance`` is ``synthetic`` where the stand-in's marker file sits at the root.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import Provenance
from perloc.datasets.audio import dataset_folder, probe_audio, read_audio
from perloc.datasets.dcase_csv import DcaseEvents, read_reference
from perloc.datasets.digest import ContentDigests
from perloc.datasets.seld_labels import ACS_TRANSFORMS, adpit_labels, swap_channels

__all__ = ["CLASSES", "LABEL_HOP", "SAMPLE_RATE", "STANDIN_MARKER", "Recording", "Starss23",
           "fold_of", "split_of"]

LOADER_VERSION = "starss23-loader-1"
SAMPLE_RATE = 24_000
N_CHANNELS = 4
LABEL_HOP = 2400  # samples: 100 ms label frames
LABEL_SLACK = 10  # label frames a CSV may run past its recording's last whole frame
STANDIN_MARKER = ".perloc-starss23-sim.json"
AUDIO_FOLDER, META_FOLDER = "mic_dev", "metadata_dev"
FOLD_SPLITS = {1: "train", 2: "train", 3: "train", 4: "test"}
CLASSES = ("Female speech, woman speaking", "Male speech, man speaking", "Clapping", "Telephone",
           "Laughter", "Domestic sounds", "Walk, footsteps", "Door, open or close", "Music",
           "Musical instrument", "Water tap, faucet", "Bell", "Knock")
_FOLD = re.compile(r"fold([1-4])")


def fold_of(stem: str) -> int | None:
    """The fold digit of a STARSS23 file stem (index 4), or None when it is not ``fold1-4``.

    >>> fold_of("fold3_room4_mix001"), fold_of("fold5_room1_mix001"), fold_of("mix001")
    (3, None, None)
    """
    match = _FOLD.match(stem)
    return int(match.group(1)) if match else None


def split_of(stem: str) -> str:
    """``train`` (folds 1-3) or ``test`` (fold 4)."""
    fold = fold_of(stem)
    if fold is None:
        raise UserError(f"{stem}: no fold digit 1-4 at index 4 of the name")
    return FOLD_SPLITS[fold]


@dataclass(frozen=True)
class Recording:
    """One recording: its WAV and CSV, fold, split and length (from the header)."""

    stem: str
    folder: str  # the sub-folder under mic_dev / metadata_dev
    wav: Path
    csv: Path
    fold: int
    samples: int

    @property
    def split(self) -> str:
        return FOLD_SPLITS[self.fold]

    @property
    def n_label_frames(self) -> int:
        return self.samples // LABEL_HOP


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p))


def find_recordings(root: Path) -> list[tuple[str, Path, Path]]:
    """(sub-folder, wav, csv) of every recording under ``root``, paired by sub-folder and stem;
    a WAV without its CSV, a CSV without its WAV, a WAV outside a sub-folder, two recordings of
    one stem, or a missing ``mic_dev`` / ``metadata_dev`` are a UserError naming the path."""
    audio, meta = root / AUDIO_FOLDER, root / META_FOLDER
    for folder in (audio, meta):
        if not folder.is_dir():
            raise UserError(f"{folder}: folder not found (the STARSS23 MIC layout has "
                            f"{AUDIO_FOLDER}/<sub>/<stem>.wav and {META_FOLDER}/<sub>/<stem>.csv)")
    for path in sorted(audio.glob("*.wav")):
        if _visible(path):
            raise UserError(f"{path}: a recording directly under {AUDIO_FOLDER}/ (expected in a "
                            "sub-folder such as dev-train-sony/)")
    found, seen = [], {}
    for sub in _subfolders(audio):
        for wav in sorted(p for p in sub.glob("*.wav") if _visible(p)):
            csv = meta / sub.name / f"{wav.stem}.csv"
            if not csv.is_file():
                raise UserError(f"{wav}: no metadata file {csv}")
            if wav.stem in seen:
                raise UserError(f"{wav}: a second recording named {wav.stem} "
                                f"(also {seen[wav.stem]})")
            seen[wav.stem] = wav
            found.append((sub.name, wav, csv))
    for sub in _subfolders(meta):
        for csv in sorted(p for p in sub.glob("*.csv") if _visible(p)):
            wav = audio / sub.name / f"{csv.stem}.wav"
            if not wav.is_file():
                raise UserError(f"{csv}: no recording {wav}")
    return found


class Starss23:
    """STARSS23 (or the ``starss23-sim`` stand-in) in the DCASE2024 MIC layout under ``root``.

    ``n_classes``: the class count the CSVs are checked against and the labels have (13).
    ``digests`` remembers file content digests (e.g. under the cache)."""

    name = "starss23"

    def __init__(self, root: Path, *, n_classes: int = 13, digests: ContentDigests | None = None,
                 flag: str = "--data-root") -> None:
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes <= 0:
            raise UserError(f"n_classes must be a positive integer, got {n_classes!r}")
        self.root = dataset_folder(Path(root), flag)
        self.n_classes = n_classes
        self.digests = digests if digests is not None else ContentDigests(None)
        self.recordings: dict[str, Recording] = {}
        self._events: dict[str, DcaseEvents] = {}
        pairs = find_recordings(self.root)
        for folder, wav, csv in pairs:
            fold = fold_of(wav.stem)
            if fold is None:
                raise UserError(f"{wav}: the name must start with fold1..fold4 (the fold digit at "
                                "index 4 picks the split: 1, 2 synthetic training mixtures, "
                                "3 dev-train, 4 dev-test)")
            self.recordings[wav.stem] = Recording(wav.stem, folder, wav, csv, fold, 0)
        if not any(r.split == "test" for r in self.recordings.values()):
            raise UserError(f"{self.root / AUDIO_FOLDER}: no fold4 (dev-test) recordings "
                            f"({len(pairs)} recordings found)")
        for stem, rec in self.recordings.items():
            samples = probe_audio(rec.wav, SAMPLE_RATE, channels=N_CHANNELS)
            if samples < LABEL_HOP:
                raise UserError(f"{rec.wav}: {samples} samples, shorter than one 100 ms label "
                                f"frame ({LABEL_HOP} samples at {SAMPLE_RATE} Hz)")
            self.recordings[stem] = rec = Recording(stem, rec.folder, rec.wav, rec.csv, rec.fold,
                                                    samples)
        for stem, rec in self.recordings.items():
            events = read_reference(rec.csv, n_classes)
            if len(events.frame) and events.frame.max() >= rec.n_label_frames + LABEL_SLACK:
                raise UserError(f"{rec.csv}: events up to frame {int(events.frame.max())}, but "
                                f"{rec.wav.name} holds {rec.n_label_frames} label frames "
                                f"({rec.samples / SAMPLE_RATE:.1f} s): not its metadata?")
            self._events[stem] = events

    # ----------------------------------------------------------------------------- index

    def splits(self) -> dict[str, tuple[str, ...]]:
        """Stems (sorted) of the training folds 1-3 and of the test fold 4."""
        return {split: tuple(sorted(s for s, r in self.recordings.items() if r.split == split))
                for split in ("train", "test")}

    def recording(self, stem: str) -> Recording:
        try:
            return self.recordings[stem]
        except KeyError:
            raise UserError(f"{self.root}: no recording {stem!r}") from None

    def files(self) -> list[Path]:
        """Every WAV and CSV read (what ``version`` digests)."""
        return sorted(p for r in self.recordings.values() for p in (r.wav, r.csv))

    @cached_property
    def version(self) -> str:
        return self.digests.version(self.root, self.files(),
                                    extra=(LOADER_VERSION, self.n_classes))

    @cached_property
    def provenance(self) -> Provenance:
        synthetic = (self.root / STANDIN_MARKER).is_file()
        return Provenance("synthetic" if synthetic else "real", str(self.root),
                          len(self.recordings),
                          "starss23-sim (pyroomacoustics, free-field omnis)" if synthetic else "")

    def describe(self) -> dict:
        splits = self.splits()
        frames = {s: sum(self.recordings[k].n_label_frames for k in stems)
                  for s, stems in splits.items()}
        return {"name": self.name, "version": self.version,
                "provenance": self.provenance.__dict__, "n_classes": self.n_classes,
                "n_files": {s: len(stems) for s, stems in splits.items()},
                "n_label_frames": frames,
                "hours": {s: round(f * LABEL_HOP / SAMPLE_RATE / 3600, 3) for s, f in frames.items()},
                "n_event_rows": {s: sum(len(self._events[k].frame) for k in stems)
                                 for s, stems in splits.items()},
                "folds": dict(sorted(Counter(r.fold for r in self.recordings.values()).items())),
                "folders": sorted({r.folder for r in self.recordings.values()})}

    # ----------------------------------------------------------------------------- per file

    def audio(self, stem: str) -> np.ndarray:
        """The recording as float32 [4, N] (int16 / 32768)."""
        data = read_audio(self.recording(stem).wav, SAMPLE_RATE, channels=N_CHANNELS)
        return np.ascontiguousarray(data.T)

    def events(self, stem: str) -> DcaseEvents:
        """Reference events (unit directions, distances in metres), as the CSV lists them."""
        self.recording(stem)
        return self._events[stem]

    def n_label_frames(self, stem: str) -> int:
        """floor(N / 2400): whole 100 ms label frames of the recording."""
        return self.recording(stem).n_label_frames

    def labels(self, stem: str) -> np.ndarray:
        """ADPIT targets [n_label_frames, 6, 5, n_classes] float32 (spec §3.3)."""
        return adpit_labels(self.events(stem), self.n_label_frames(stem), self.n_classes)

    def acs_views(self, stem: str) -> list[tuple[np.ndarray, DcaseEvents]]:
        """The 8 channel-swapped copies (identity first) of the recording and its events
        (spec §1.8: direction transformed, distance kept)."""
        audio, events = self.audio(stem), self.events(stem)
        return [swap_channels(audio, events, k) for k in range(len(ACS_TRANSFORMS))]


def _max_overlap(events: DcaseEvents) -> tuple[int, int]:
    """(most events in one frame, frames with two or more events of one class)."""
    if not len(events.frame):
        return 0, 0
    pairs, counts = np.unique(np.stack([events.frame, events.cls]), axis=1, return_counts=True)
    return int(np.bincount(events.frame).max()), len(np.unique(pairs[0, counts > 1]))


def check_root(root: Path) -> CheckReport:
    """``bench data check starss23``: every recording decoded; per sub-folder its split(s),
    files, minutes, label frames, event rows, the most events in a frame and the frames with a
    same-class overlap."""
    data = Starss23(root, flag="--root")
    rows = []
    for folder in sorted({r.folder for r in data.recordings.values()}):
        recs = [r for r in data.recordings.values() if r.folder == folder]
        for rec in recs:
            data.audio(rec.stem)  # decode: damage inside the samples the header does not show
        stats = [_max_overlap(data.events(r.stem)) for r in recs]
        rows.append([folder, ", ".join(sorted({r.split for r in recs})), len(recs),
                     f"{sum(r.samples for r in recs) / SAMPLE_RATE / 60:.1f}",
                     sum(r.n_label_frames for r in recs),
                     sum(len(data.events(r.stem).frame) for r in recs),
                     max(s[0] for s in stats), sum(s[1] for s in stats)])
    return CheckReport(f"{data.root}: {data.provenance.kind}, version {data.version}", rows,
                       ["folder", "split", "files", "minutes", "label frames", "event rows",
                        "max events/frame", "same-class frames"])


register_dataset(DatasetEntry(
    "starss23", "real", "STARSS23 (DCASE2024 Task 3) MIC format: 4-channel 24 kHz recordings, "
    "13-class event CSVs with direction and distance", adapter=Starss23, check=check_root))
