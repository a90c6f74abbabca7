"""HCI, the Historical Color Images of Palermo, Hays & Efros (ECCV 2012): Paper I's decade task.

The layout (spec dold_pointtnt.md §2.3)::

    HistoricalColor-ECCV2012/data/imgs/decade_database/1930s/*.jpg ... 1970s/*.jpg

``root`` may be the folder holding ``decade_database/``, that folder itself, or the folder
holding ``HistoricalColor-ECCV2012/``. Exactly the five decade folders must be there; the
labels come from their sorted (chronological) names, 1930s = 0 ... 1970s = 4 (the paper
counts from 1). The real set has 265 photos of various sizes per decade (1,325 in all; the
thesis's 1,375 is a typo, spec §11.4). Every image's header is checked (Pillow ``verify``)
on construction; damage past the header fails when decoded, naming the file.

Splits (spec §11.5): ``split="random"`` (the paper's Monte-Carlo 80/20 split: within each
decade a random floor(80 %) for training, drawn from ``np.random.default_rng([seed, 1325])``,
so it changes with the run's seed) or ``split="first"`` (the official code: the first 80 % of
each folder in sorted file-name order, the same for every seed).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import Provenance
from perloc.datasets.audio import dataset_folder
from perloc.datasets.digest import ContentDigests, marked_provenance
from perloc.datasets.image_files import ImageStore, decode_rgb, probe_image

__all__ = ["DECADES", "FOLDER", "MARKER", "SPLITS", "Hci"]

LOADER_VERSION = "hci-loader-1"
DECADES = ("1930s", "1940s", "1950s", "1960s", "1970s")
FOLDER = "decade_database"
NESTED = ("HistoricalColor-ECCV2012/data/imgs/decade_database", "data/imgs/decade_database")
SUFFIXES = (".jpg", ".jpeg")
TRAIN_SHARE = 0.8
SPLIT_SALT = 1325  # the random split's stream: default_rng([seed, SPLIT_SALT])
SPLITS = ("random", "first")
MARKER = ".perloc-hci-sim.json"


def find_database(root: Path) -> Path:
    """The ``decade_database`` folder under ``root`` (or ``root`` itself)."""
    for candidate in (root / FOLDER, *(root / p for p in NESTED), root):
        if candidate.is_dir() and any((candidate / d).is_dir() for d in DECADES):
            return candidate
    return root / FOLDER if (root / FOLDER).is_dir() else root


class Hci:
    """The five decade folders under ``root``, every image checked on construction.

    ``digests`` remembers file content digests; ``flag`` names the option that gave ``root``
    in error messages; ``cache`` is an HDF5 file for decoded images; ``split`` is ``random``
    (the paper) or ``first`` (the official code)."""

    name = "hci"
    target_names = ("decade",)
    unit = "decades"
    classes = DECADES

    def __init__(self, root: Path, *, digests: ContentDigests | None = None,
                 flag: str = "--data-root", cache: Path | None = None, split: str = "random",
                 **options) -> None:
        if options:
            raise UserError(f"{self.name}: unknown option(s) {', '.join(sorted(options))}")
        if split not in SPLITS:
            raise UserError(f"{self.name}: split {split!r} is not one of {', '.join(SPLITS)}")
        self.split = split
        self.root = dataset_folder(Path(root), flag)
        self.digests = digests if digests is not None else ContentDigests(None)
        self.folder = find_database(self.root)
        extra = sorted(p.name for p in self.folder.iterdir()
                       if p.is_dir() and not p.name.startswith(".") and p.name not in DECADES)
        if extra and any((self.folder / d).is_dir() for d in DECADES):
            raise UserError(f"{self.folder}: unexpected folder {extra[0]!r} (expected exactly "
                            f"{', '.join(DECADES)})")
        paths, labels = [], []
        for label, decade in enumerate(DECADES):
            folder = self.folder / decade
            if not folder.is_dir():
                raise UserError(f"{folder}: decade folder not found (expected "
                                f"{', '.join(DECADES)} under {self.folder})")
            found = sorted(p for p in folder.iterdir()
                           if p.suffix.lower() in SUFFIXES and not p.name.startswith("."))
            if not found:
                raise UserError(f"{folder}: no .jpg images in this decade folder")
            paths += found
            labels += [label] * len(found)
        self.paths = tuple(paths)
        self.labels = np.array(labels, dtype=np.int64)
        self.sizes = np.array([probe_image(p) for p in self.paths], dtype=np.int64)
        self.store = ImageStore(self.name, len(self.paths), lambda: self.version,
                                self._decode, cache)

    def files(self) -> list[Path]:
        """Every file read (what ``version`` digests)."""
        return sorted(self.paths)

    @cached_property
    def version(self) -> str:
        return self.digests.version(self.folder, self.files(), extra=LOADER_VERSION)

    @cached_property
    def provenance(self) -> Provenance:
        return marked_provenance(self.folder, (self.root, self.folder, self.folder.parent),
                                 MARKER, len(self.paths), "hci-sim (procedural photos)")

    def split_rows(self, seed: int = 0) -> dict[str, np.ndarray]:
        """int64 item indices of ``train`` and ``test``: floor(80 %) of each decade for
        training, at random (``split="random"``, per ``seed``) or the first ones in file-name
        order (``split="first"``, whatever the seed)."""
        rng = np.random.default_rng([int(seed), SPLIT_SALT])
        train, test = [], []
        for label in range(len(DECADES)):
            rows = np.flatnonzero(self.labels == label)
            n_train = int(np.floor(TRAIN_SHARE * len(rows) + 1e-9))
            order = rng.permutation(len(rows)) if self.split == "random" else np.arange(len(rows))
            train.append(np.sort(rows[order[:n_train]]))
            test.append(np.sort(rows[order[n_train:]]))
        return {"train": np.concatenate(train).astype(np.int64),
                "test": np.concatenate(test).astype(np.int64)}

    def describe(self) -> dict:
        rows = self.split_rows()
        return {"name": self.name, "version": self.version,
                "provenance": self.provenance.__dict__, "split": self.split,
                "n_images": {s: len(r) for s, r in rows.items()},
                "per_decade": {d: int(c) for d, c in zip(
                    DECADES, np.bincount(self.labels, minlength=len(DECADES)), strict=True)},
                "sizes": {"width": [int(self.sizes[:, 0].min()), int(self.sizes[:, 0].max())],
                          "height": [int(self.sizes[:, 1].min()), int(self.sizes[:, 1].max())]}}

    def _rows(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self.paths)):
            raise UserError(f"{self.name}: row indices must lie in 0..{len(self.paths) - 1}")
        return rows

    def targets(self, rows) -> np.ndarray:
        """float64 [len(rows), 1]: the decade index, 1930s = 0 ... 1970s = 4."""
        return self.labels[self._rows(rows)].astype(np.float64)[:, None]

    def _decode(self, rows: np.ndarray, side: int) -> np.ndarray:
        out = np.empty((len(rows), side, side, 3), dtype=np.uint8)
        for k, row in enumerate(rows):
            out[k] = decode_rgb(self.paths[row], side)
        return out

    def images(self, rows, side: int) -> np.ndarray:
        """uint8 [len(rows), 3, side, side], RGB (grey replicated), bilinear, aspect not kept."""
        return self.store.load(self._rows(rows), side)

    def meta(self, rows) -> dict[str, np.ndarray]:
        """``file`` (name), ``decade`` (folder name)."""
        rows = self._rows(rows)
        return {"file": np.array([p.name for p in self.paths], dtype=object)[rows],
                "decade": np.array(DECADES, dtype=object)[self.labels[rows]]}


def check_root(root: Path) -> CheckReport:
    """``bench data check hci``: per decade its images and their size range."""
    data = Hci(root, flag="--root")
    rows = []
    for label, decade in enumerate(DECADES):
        sizes = data.sizes[data.labels == label]
        rows.append([decade, label, len(sizes), f"{sizes[:, 0].min()}-{sizes[:, 0].max()}",
                     f"{sizes[:, 1].min()}-{sizes[:, 1].max()}"])
    return CheckReport(f"{data.folder}: {data.provenance.kind}, version {data.version}", rows,
                       ["decade", "label", "images", "width", "height"])


register_dataset(DatasetEntry(
    "hci", "real", "HCI Historical Color Images (ECCV 2012): 5 decades 1930s-1970s, 265 photos "
    "each, Paper I decade estimation", adapter=Hci, check=check_root))
