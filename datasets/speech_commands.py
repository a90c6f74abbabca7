"""Google Speech Commands v1 / v2: one folder per word, the list files, the hash split rule.

On disk (spec kws_fl.md section 1.1)::

    <root>/<word>/<speaker>_nohash_<k>.wav     16 kHz mono 16-bit, nominally 1 s
    <root>/_background_noise_/*.wav             long noise recordings (augmentation, silence)
    <root>/validation_list.txt, testing_list.txt   relative paths, one per line

Splits come from the two lists when they exist, else from the SHA-1 speaker-hash rule they
were made with (:func:`which_set`). Clips are zero-padded (or cut) to 16000 samples.

The ``version`` is a digest over the contents of every file the adapter reads (clips, the
two lists, the background recordings; :class:`~perloc.datasets.digest.ContentDigests`), so
caches keyed by it (decoded clips, features, checkpoints, records) are never reused for
changed data; the lists are parsed and checked whenever the version is computed.

Tasks: ``12`` = the ten wanted words + ``_silence_`` + ``_unknown_`` (label order of
kws_streaming: silence 0, unknown 1, then yes, no, up, down, left, right, on, off, stop, go),
with ceil(10 %) of the split's wanted-word clips added as silence (an all-zero clip) and as
unknown (other words), drawn exactly as kws_streaming does (:func:`twelve_class_index`);
``35`` = every v2 word.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath

import numpy as np

from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import Provenance
from perloc.datasets.audio import dataset_folder, read_audio, require_file
from perloc.datasets.digest import ContentDigests

SAMPLE_RATE = 16_000
CLIP = 16_000
WANTED = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE, UNKNOWN = "_silence_", "_unknown_"
V1_WORDS = (*WANTED, "zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
            "nine", "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree",
            "wow")
V2_WORDS = (*V1_WORDS, "backward", "forward", "follow", "learn", "visual")
BACKGROUND = "_background_noise_"
STANDIN_MARKER = ".perloc-speech-commands-tts.json"
MAX_PER_CLASS = 2**27 - 1
SPLIT_SEED = 59185
LOADER_VERSION = "speech-commands-loader-2"
# Part of the 12-class version only: how the silence/unknown entries are drawn and ordered
# (-2: one generator over the three splits in kws_streaming's order).
TWELVE_CLASS_DRAW = "kws-streaming-draw-2"
DRAW_ORDER = ("validation", "testing", "training")  # kws_streaming's set_index loops
_NAME = re.compile(r"^[0-9a-f]{8}_nohash_\d+\.wav$")
SPLITS = {"validation_list.txt": "validation", "testing_list.txt": "testing"}


def which_set(filename: str, validation: float = 10.0, testing: float = 10.0) -> str:
    """The speaker-hash split: SHA-1 of the name before ``_nohash_``, mod 2^27, as a percentage."""
    speaker = re.sub(r"_nohash_.*$", "", Path(filename).name)
    digest = int(hashlib.sha1(speaker.encode()).hexdigest(), 16)
    percentage = (digest % (MAX_PER_CLASS + 1)) * (100.0 / MAX_PER_CLASS)
    if percentage < validation:
        return "validation"
    if percentage < validation + testing:
        return "testing"
    return "training"


@dataclass(frozen=True)
class Entry:
    path: Path | None  # None: a silence entry (all-zero clip)
    label: str


def ten_percent(n: int) -> int:
    """ceil(n * 10 / 100) in integers, kws_streaming's ``int(math.ceil(n * 10.0 / 100))``."""
    return -(-n * 10 // 100)


def glob_order(paths: list[Path]) -> list[Path]:
    """The clips in the order kws_streaming's ``gfile.Glob(<root>/*/*.wav)`` lists them, on a
    file system that lists directories sorted: word folder by folder, files by name.

    TF's glob is a breadth-first walk in ``readdir`` order (``GetMatchingPaths`` in
    ``file_system_helper.cc``, unsorted, so on ext4 it follows the directory hash and no two
    machines need agree); sorting is the only order that can be reproduced. For Speech Commands
    names (lower-case word folders, ``<hex>_nohash_<k>.wav``) it equals sorting the full paths.
    """
    return sorted(paths, key=lambda p: (p.parent.name, p.name))


def twelve_class_index(files: list[Path], split_of: dict[Path, str],
                       seed: int = SPLIT_SEED) -> dict[str, list[Entry]]:
    """Every split's 12-class entries, drawn as kws_streaming ``prepare_data_index`` does.

    One generator seeded once (``random.seed(59185)``) serves all three splits. ``files`` (in
    :func:`glob_order`) go to their split's known list (the ten wanted words) or unknown list
    (every other word), keeping that order. Then for validation, testing, training in turn:
    append ceil(10 % of n_known) silence entries, shuffle the split's unknowns and append the
    first ceil(10 % of n_known). Last, shuffle the validation, testing and training lists, in
    that order, with the same generator.
    """
    rng = random.Random(seed)  # the same Mersenne Twister stream as random.seed + random.shuffle
    index: dict[str, list[Entry]] = {split: [] for split in DRAW_ORDER}
    unknown: dict[str, list[Entry]] = {split: [] for split in DRAW_ORDER}
    for path in files:
        word = path.parent.name.lower()
        if word in WANTED:
            index[split_of[path]].append(Entry(path, word))
        else:
            unknown[split_of[path]].append(Entry(path, UNKNOWN))
    for split in DRAW_ORDER:
        extra = ten_percent(len(index[split]))
        index[split].extend([Entry(None, SILENCE)] * extra)
        rng.shuffle(unknown[split])
        index[split].extend(unknown[split][:extra])
    for split in DRAW_ORDER:
        rng.shuffle(index[split])
    return index


def _list_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-blank lines of a list file (UTF-8, a BOM is
    allowed); a UserError naming the file (and line) when it is unreadable, not UTF-8 or holds
    no entry."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None
    lines = [(number, line.strip()) for number, line in enumerate(text.split("\n"), start=1)
             if line.strip()]
    if not lines:
        raise UserError(f"{path}: empty list (no <word>/<file>.wav entries)")
    return lines


def _list_entries(root: Path, name: str, clips: set[str]) -> dict[str, int]:
    """The entries of list file ``name`` (relative clip paths -> line number), each checked
    to be one of ``clips`` (the relative paths of the clips found under ``root``)."""
    path = root / name
    entries: dict[str, int] = {}
    for number, rel in _list_lines(path):
        pure = PurePosixPath(rel)
        if pure.is_absolute() or Path(rel).is_absolute() or ".." in pure.parts \
                or len(pure.parts) != 2 or "\\" in rel:
            raise UserError(f"{path}:{number}: {rel!r} is not a <word>/<file>.wav path inside "
                            "the dataset")
        rel = pure.as_posix()
        if rel not in clips:
            if not (root / rel).is_file():
                raise UserError(f"{path}:{number}: {rel!r} does not exist")
            raise UserError(f"{path}:{number}: {rel!r} is not a clip <word>/<8 hex>_nohash_<k>.wav")
        entries.setdefault(rel, number)
    return entries


class SpeechCommands:
    """One Speech Commands folder (v1 or v2, real or the TTS stand-in)."""

    name = "speech-commands"

    def __init__(self, root: Path, task: str = "12", *, digests: ContentDigests | None = None,
                 flag: str = "--data-root") -> None:
        """``digests``: where content digests are remembered (None: in this process only);
        ``flag``: the option that named ``root``, for error messages."""
        self.root = dataset_folder(root, flag)
        self.flag = flag
        if task not in ("12", "35"):
            raise UserError(f"task must be '12' or '35', got {task!r}")
        self.task = task
        self.digests = digests if digests is not None else ContentDigests(None)

    @cached_property
    def files(self) -> list[Path]:
        found = []
        for path in glob_order(list(self.root.glob("*/*.wav"))):
            if path.parent.name == BACKGROUND:
                continue
            if not _NAME.match(path.name):
                raise UserError(f"{path}: not a Speech Commands name <8 hex>_nohash_<k>.wav")
            require_file(path)
            found.append(path)
        if not found:
            raise UserError(f"{self.flag}: no <word>/*.wav clips under {self.root}")
        return found

    @cached_property
    def words(self) -> tuple[str, ...]:
        return tuple(sorted({p.parent.name for p in self.files}))

    @cached_property
    def list_files(self) -> list[Path]:
        """The list files present (validation_list.txt, testing_list.txt)."""
        return [self.root / name for name in SPLITS if (self.root / name).exists()
                or (self.root / name).is_symlink()]

    @cached_property
    def background_files(self) -> list[Path]:
        folder = self.root / BACKGROUND
        files = sorted(folder.glob("*.wav")) if folder.is_dir() else []
        for path in files:
            require_file(path)
        return files

    @cached_property
    def version(self) -> str:
        """Digest of the contents of every clip, list file and background recording (and the
        class task); the lists are parsed and checked first."""
        self.split_of  # noqa: B018  (a bad list is reported whatever the caches hold)
        sources = [*self.files, *self.list_files, *self.background_files]
        draw = (TWELVE_CLASS_DRAW,) if self.task == "12" else ()
        return self.digests.version(self.root, sources, (LOADER_VERSION, self.task, *draw))

    @cached_property
    def provenance(self) -> Provenance:
        synthetic = (self.root / STANDIN_MARKER).is_file()
        return Provenance("synthetic" if synthetic else "real", str(self.root), len(self.files),
                          "espeak-ng TTS stand-in" if synthetic else "")

    @cached_property
    def split_of(self) -> dict[Path, str]:
        """File -> training / validation / testing, from the lists or the hash rule."""
        clips = {f"{path.parent.name}/{path.name}": path for path in self.files}
        listed: dict[str, str] = {}
        where: dict[str, str] = {}
        for path in self.list_files:
            require_file(path)
            for rel, number in _list_entries(self.root, path.name, set(clips)).items():
                if rel in listed:
                    raise UserError(f"{path}:{number}: {rel!r} is also in {where[rel]}")
                listed[rel], where[rel] = SPLITS[path.name], path.name
        out = {}
        for rel, path in clips.items():
            out[path] = listed.get(rel, "training") if self.list_files else which_set(path.name)
        return out

    @property
    def labels(self) -> tuple[str, ...]:
        return (SILENCE, UNKNOWN, *WANTED) if self.task == "12" else V2_WORDS

    def entries(self, split: str) -> list[Entry]:
        """The split's examples in a fixed shuffled order (12-class: with silence/unknown)."""
        if split not in ("training", "validation", "testing"):
            raise UserError(f"unknown split {split!r} (training, validation, testing)")
        if self.task == "12":
            return list(self._twelve_class[split])
        missing = sorted(set(V2_WORDS) - set(self.words))
        if missing:
            raise UserError(f"{self.root}: the 35-class task needs v2 words; missing "
                            f"{', '.join(missing[:5])}")
        return [Entry(p, p.parent.name) for p in self.files if self.split_of[p] == split]

    @cached_property
    def _twelve_class(self) -> dict[str, list[Entry]]:
        return twelve_class_index(self.files, self.split_of)

    def load(self, entry: Entry) -> np.ndarray:
        """The clip as float32 [16000]: zero-padded or cut; silence is all zeros."""
        if entry.path is None:
            return np.zeros(CLIP, dtype=np.float32)
        audio = read_audio(entry.path, SAMPLE_RATE)
        out = np.zeros(CLIP, dtype=np.float32)
        out[: min(CLIP, len(audio))] = audio[:CLIP]
        return out

    @cached_property
    def background(self) -> list[np.ndarray]:
        if not self.background_files:
            raise UserError(f"{self.root / BACKGROUND}: no background noise recordings")
        return [read_audio(path, SAMPLE_RATE) for path in self.background_files]


def check_root(root: Path) -> CheckReport:
    """``bench data check speech-commands``: speakers, clips, silence and unknown per split."""
    data = SpeechCommands(root, flag="--root")
    rows = []
    for split in ("training", "validation", "testing"):
        entries = data.entries(split)
        for entry in entries:
            data.load(entry)
        speakers = {e.path.name.split("_")[0] for e in entries if e.path is not None}
        labels = [e.label for e in entries]
        rows.append([split, len(speakers), len(entries), labels.count(SILENCE),
                     labels.count(UNKNOWN)])
    header = (f"{data.root}: {data.provenance.kind}, version {data.version}, "
              f"{len(data.words)} words, {len(data.background)} background recordings")
    return CheckReport(header, rows, ["split (12 classes)", "speakers", "clips", "silence",
                                      "unknown"])


register_dataset(DatasetEntry(
    "speech-commands", "real", "Google Speech Commands v1 or v2: 1-s WAV clips in <word>/ folders",
    adapter=SpeechCommands, check=check_root))
