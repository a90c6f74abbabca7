"""UTKFace (aligned & cropped) with the CORAL age split: Paper I's age-estimation dataset.

The layout (spec dold_pointtnt.md §2.1)::

    <root>/UTKFace/<age>_<gender>_<race>_<17-digit datetime>.jpg.chip.jpg   200 x 200 JPEGs
    <root>/utk_train.csv, <root>/utk_test.csv     (or <root>/age/data/, the dold repo's place)

Each CSV has the header ``,file,age``: the original row index, the file name under
``UTKFace/`` and the class label age - 21 (0..39, i.e. 21-60 years). The real train CSV names
one file without the dot before ``jpg.chip.jpg`` (``55_0_0_20170116232725357jpg.chip.jpg``);
the name is used as written. Items are the train rows, then the test rows; ``split_rows``
gives their indices and :meth:`UTKFace.targets` the age in YEARS (CSV value + 21).

Checked on construction, each failure one :class:`UserError` line naming the file (and the
CSV line): the header, the column count, an integer row index and age, the age range, the
file named by a row existing, and every image's header (Pillow ``verify``) and size
(:data:`CHIP_SIDE` square, as every real chip). A JPEG damaged past its header fails when
decoded (:meth:`UTKFace.images`), naming the file. The age prefix of each file name is
compared with the CSV; mismatches are counted in :meth:`UTKFace.describe`, not refused.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.datasets.audio import dataset_folder, require_file
from perloc.datasets.digest import ContentDigests, MarkedFiles
from perloc.datasets.image_files import ImageStore, consecutive_split, decode_rgb, probe_image

__all__ = ["AGE_OFFSET", "CHIP_SIDE", "CSV_FILES", "MARKER", "UTKFace", "parse_name"]

LOADER_VERSION = "utkface-loader-1"
CHIP_SIDE = 200  # the aligned & cropped chips are 200 x 200
AGE_OFFSET = 21  # CSV age = years - 21
N_AGES = 40  # 21..60 years
HEADER = ["", "file", "age"]
IMAGE_FOLDER = "UTKFace"
CSV_FILES = {"train": "utk_train.csv", "test": "utk_test.csv"}
CSV_PLACES = (".", "age/data")
MARKER = ".perloc-utkface-sim.json"


def parse_name(name: str) -> tuple[int, int, int]:
    """(age, gender, race) from ``age_gender_race_datetime...``; -1 where a field is missing
    or not a small integer (a few real names lack the race; one lacks the dot before ``jpg``)."""
    fields = name.split("_")
    out = [int(f) if f.isdigit() and len(f) <= 3 else -1 for f in (fields + ["", "", ""])[:3]]
    return out[0], out[1], out[2]


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() and text not in ("-", "") else None


def read_csv(path: Path) -> tuple[list[str], np.ndarray, list[int]]:
    """The file names, CSV ages (0..39) and line numbers of one split file, checked."""
    require_file(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            lines = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read the CSV ({exc})") from None
    if not lines or [c.strip() for c in lines[0]] != HEADER:
        found = ",".join(lines[0]) if lines else "an empty file"
        raise UserError(f"{path}:1: header is {found!r}, expected ',file,age'")
    names, ages, numbers = [], [], []
    for number, row in enumerate(lines[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 3:
            raise UserError(f"{path}:{number}: {len(row)} columns, expected 3 (index, file, age)")
        if _int(row[0]) is None:
            raise UserError(f"{path}:{number}: row index {row[0]!r} is not an integer")
        age = _int(row[2])
        if age is None:
            raise UserError(f"{path}:{number}: age {row[2]!r} is not an integer")
        if not 0 <= age < N_AGES:
            raise UserError(f"{path}:{number}: age {age} is outside 0..{N_AGES - 1} (the CSV "
                            f"holds years - {AGE_OFFSET}; only {AGE_OFFSET}-"
                            f"{AGE_OFFSET + N_AGES - 1} years are kept)")
        name = row[1].strip()
        if not name or "/" in name or "\\" in name or name in (".", ".."):
            raise UserError(f"{path}:{number}: {row[1]!r} is not a file name")
        names.append(name)
        ages.append(age)
        numbers.append(number)
    if not names:
        raise UserError(f"{path}: no rows")
    return names, np.array(ages, dtype=np.int64), numbers


class UTKFace(MarkedFiles):
    """UTKFace chips and the CORAL split under ``root``, every file checked on construction.

    ``digests`` remembers file content digests; ``flag`` names the option that gave ``root``
    in error messages; ``cache`` is an HDF5 file for decoded images (None: decode per call)."""

    name = "utkface"
    loader_version = LOADER_VERSION
    marker = MARKER
    standin = "utkface-sim (procedural faces)"
    target_names = ("age",)
    unit = "years"
    classes: tuple[str, ...] = ()

    def __init__(self, root: Path, *, digests: ContentDigests | None = None,
                 flag: str = "--data-root", cache: Path | None = None, **options) -> None:
        if options:
            raise UserError(f"{self.name}: unknown option(s) {', '.join(sorted(options))}")
        self.root = dataset_folder(Path(root), flag)
        self.digests = digests if digests is not None else ContentDigests(None)
        self.image_folder = self.root / IMAGE_FOLDER
        if not self.image_folder.is_dir():
            raise UserError(f"{self.image_folder}: folder not found (the UTKFace chips)")
        self.csv_folder = next((self.root / p for p in CSV_PLACES
                                if (self.root / p / CSV_FILES["train"]).is_file()), self.root)
        self.csv_paths = {s: self.csv_folder / f for s, f in CSV_FILES.items()}
        names, ages, where, counts = [], [], [], {}
        for split, path in self.csv_paths.items():
            n, a, lines = read_csv(path)
            names += n
            ages.append(a)
            where += [f"{path}:{line}" for line in lines]
            counts[split] = len(n)
        self.file_names = tuple(names)
        self.csv_ages = np.concatenate(ages)
        self.counts = counts
        for name, line in zip(self.file_names, where, strict=True):
            self._check_image(self.image_folder / name, line)
        parsed = np.array([parse_name(n) for n in self.file_names], dtype=np.int64)
        self.name_age, self.gender, self.race = parsed.T
        self.store = ImageStore(self.name, len(self.file_names), lambda: self.version,
                                self._decode, cache)

    def _check_image(self, path: Path, line: str) -> None:
        if not path.is_file():
            raise UserError(f"{path}: file not found (named at {line})")
        size = probe_image(path)
        if size != (CHIP_SIDE, CHIP_SIDE):
            raise UserError(f"{path}: image is {size[0]} x {size[1]}, expected "
                            f"{CHIP_SIDE} x {CHIP_SIDE} (an aligned & cropped UTKFace chip)")

    # ----------------------------------------------------------------------------- index

    def files(self) -> list[Path]:
        """Every file read (what ``version`` digests)."""
        return sorted({*self.csv_paths.values(), *(self.image_folder / n for n in self.file_names)})

    def split_rows(self, seed: int = 0) -> dict[str, np.ndarray]:
        """int64 item indices of ``train`` and ``test`` (the CSVs' split; no seed dependence)."""
        return consecutive_split(self.counts["train"], self.counts["test"])

    def describe(self) -> dict:
        rows = self.split_rows()
        years = self.csv_ages + AGE_OFFSET
        known = self.name_age >= 0
        return {"name": self.name, "version": self.version,
                "provenance": self.provenance.__dict__,
                "n_images": {s: len(r) for s, r in rows.items()},
                "ages": {s: [int(years[r].min()), int(years[r].max()), len(set(years[r]))]
                         for s, r in rows.items()},
                "name_age_mismatches": int(np.sum(known & (self.name_age != years))),
                "unparsed_names": int(np.sum((self.gender < 0) | (self.race < 0)))}

    # ----------------------------------------------------------------------------- arrays

    def _rows(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self.file_names)):
            raise UserError(f"{self.name}: row indices must lie in 0..{len(self.file_names) - 1}")
        return rows

    def targets(self, rows) -> np.ndarray:
        """float64 [len(rows), 1]: age in years."""
        return (self.csv_ages[self._rows(rows)] + AGE_OFFSET).astype(np.float64)[:, None]

    def _decode(self, rows: np.ndarray, side: int) -> np.ndarray:
        out = np.empty((len(rows), side, side, 3), dtype=np.uint8)
        for k, row in enumerate(rows):
            out[k] = decode_rgb(self.image_folder / self.file_names[row], side)
        return out

    def images(self, rows, side: int) -> np.ndarray:
        """uint8 [len(rows), 3, side, side], RGB, bilinear resize (aspect not kept)."""
        return self.store.load(self._rows(rows), side)

    def meta(self, rows) -> dict[str, np.ndarray]:
        """``file`` (name), ``gender`` and ``race`` from the name (-1: missing), ``split``."""
        rows = self._rows(rows)
        split = np.where(rows < self.counts["train"], "train", "test").astype(object)
        return {"file": np.array(self.file_names, dtype=object)[rows],
                "gender": self.gender[rows], "race": self.race[rows], "split": split}


def check_root(root: Path) -> CheckReport:
    """``bench data check utkface``: per split its CSV, images and age range."""
    data = UTKFace(root, flag="--root")
    info = data.describe()
    rows = [[data.csv_paths[s].name, s, n, *info["ages"][s]] for s, n in info["n_images"].items()]
    return CheckReport(f"{data.root}: {data.provenance.kind}, version {data.version}, "
                       f"{info['name_age_mismatches']} file-name ages differ from the CSV",
                       rows, ["csv", "split", "images", "min age", "max age", "ages"])


register_dataset(DatasetEntry(
    "utkface", "real", "UTKFace aligned & cropped 200x200 faces with the CORAL age split "
    "(21-60 years), Paper I age estimation", adapter=UTKFace, check=check_root))
