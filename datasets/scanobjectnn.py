"""ScanObjectNN, main split, variant PB_T50_RS (``augmentedrot_scale75``): the h5 files as shipped.

The layout (spec dold_pointtnt.md §5.1)::

    <root>/h5_files/main_split/training_objectdataset_augmentedrot_scale75.h5
    <root>/h5_files/main_split/test_objectdataset_augmentedrot_scale75.h5

``<root>`` is the folder the release was unpacked in (the one holding ``h5_files/``), or the
``main_split`` folder itself (``<root>/main_split`` is found too). Each file holds ``data``
float32 S x 2048 x 3, ``label`` integer S (or S x 1) in 0..14, and ``mask`` integer S x 2048
(-1 marks background clutter, any other value a part of the object). The partition prefixes are
literally ``training_`` and ``test_``; the sample counts are read, never assumed (gotcha 19:
the thesis says 14,510 objects, common copies hold 11,416 + 2,882).

Both files are read when the adapter is constructed and checked before any work: every key
present, dtype and shape, one label per cloud, every label in 0..14, finite coordinates. Each
failure is one ``UserError`` line naming the file. :meth:`ScanObjectNN.points` takes the
**first** n points of each cloud, as the official loader does (no resampling, no shuffling);
:meth:`ScanObjectNN.masks` gives the mask as 0 (background, -1 in the file) / 1 (object).
``version`` digests both files by content; ``provenance`` is ``synthetic`` where the
``scanobjectnn-sim`` marker sits (:mod:`perloc.datasets.synth.scanobjectnn_sim`).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import h5py
import numpy as np

from perloc.bench.core.batch import Batch
from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import Provenance
from perloc.datasets.audio import dataset_folder, require_file
from perloc.datasets.digest import ContentDigests, marked_provenance

__all__ = ["CLASSES", "FILES", "MARKER", "N_POINTS", "SUBDIR", "ScanObjectNN", "read_h5"]

LOADER_VERSION = "scanobjectnn-loader-1"
# ScanObjectNN's label order (its README / the official loader's class list)
CLASSES = ("bag", "bin", "box", "cabinet", "chair", "desk", "display", "door", "shelf",
           "table", "bed", "pillow", "sink", "sofa", "toilet")
N_POINTS = 2048
SUBDIR = ("h5_files", "main_split")
FILES = {"train": "training_objectdataset_augmentedrot_scale75.h5",
         "test": "test_objectdataset_augmentedrot_scale75.h5"}
ALIASES = {"training": "train", "train": "train", "test": "test"}
MARKER = ".perloc-scanobjectnn-sim.json"


def _key(store: h5py.File, key: str, path: Path) -> np.ndarray:
    if key not in store:
        raise UserError(f"{path}: no {key!r} dataset (expected data, label, mask)")
    entry = store[key]
    if not isinstance(entry, h5py.Dataset):
        raise UserError(f"{path}: {key!r} is a group, expected an array")
    try:
        return entry[()]
    except Exception as exc:  # noqa: BLE001  (any failure to read an opened file is damage)
        raise UserError(f"{path}: {key!r} cannot be read ({type(exc).__name__}: {exc})") from None


def read_h5(path: Path, n_classes: int = len(CLASSES)) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    """``(data float32 [S, P, 3], label int64 [S], mask int8 [S, P] 0/1)`` of one file, checked;
    else a UserError naming ``path``."""
    require_file(path)
    try:
        store = h5py.File(path, "r", locking="best-effort")
    except OSError as exc:
        raise UserError(f"{path}: not a readable HDF5 file ({exc})") from None
    with store:
        data, label, mask = (_key(store, k, path) for k in ("data", "label", "mask"))
    if data.dtype != np.float32 or data.ndim != 3 or data.shape[2] != 3 or not len(data):
        raise UserError(f"{path}: 'data' is {data.dtype} of shape {data.shape}, expected "
                        f"float32 S x {N_POINTS} x 3")
    if data.shape[1] < 1:
        raise UserError(f"{path}: 'data' holds clouds of no points")
    if label.dtype.kind not in "iu" or not (label.ndim == 1 or (label.ndim == 2
                                                                and label.shape[1] == 1)):
        raise UserError(f"{path}: 'label' is {label.dtype} of shape {label.shape}, expected "
                        "integer S or S x 1")
    label = label.reshape(-1).astype(np.int64)
    if len(label) != len(data):
        raise UserError(f"{path}: {len(label)} labels for {len(data)} clouds")
    bad = np.flatnonzero((label < 0) | (label >= n_classes))
    if len(bad):
        raise UserError(f"{path}: label[{bad[0]}] = {label[bad[0]]} is outside 0..{n_classes - 1}"
                        f" ({len(bad)} such)")
    if mask.dtype.kind not in "iu" or mask.shape != data.shape[:2]:
        raise UserError(f"{path}: 'mask' is {mask.dtype} of shape {mask.shape}, expected "
                        f"integer {data.shape[0]} x {data.shape[1]} (-1 background, else object)")
    finite = np.isfinite(data).all(axis=(1, 2))
    if not finite.all():
        first = int(np.flatnonzero(~finite)[0])
        raise UserError(f"{path}: cloud {first} has non-finite coordinates "
                        f"({int((~finite).sum())} such clouds)")
    return data, label, (mask != -1).astype(np.int8)


class ScanObjectNN:
    """The PB_T50_RS main split (or its stand-in) under ``root``, both files checked on
    construction. ``digests`` remembers file content digests; ``flag`` names the option that
    gave ``root`` in error messages."""

    name = "scanobjectnn"
    classes = CLASSES

    def __init__(self, root: Path, *, digests: ContentDigests | None = None,
                 flag: str = "--data-root") -> None:
        self.root = dataset_folder(Path(root), flag)
        self.folder = next((d for d in (self.root.joinpath(*SUBDIR), self.root / SUBDIR[1])
                            if d.is_dir()), self.root)
        self.digests = digests if digests is not None else ContentDigests(None)
        self._arrays = {split: read_h5(self.folder / file) for split, file in FILES.items()}

    # ----------------------------------------------------------------------------- index

    def splits(self) -> dict[str, tuple[str, ...]]:
        """The file of ``train`` and of ``test``."""
        return {split: (file,) for split, file in FILES.items()}

    def files(self) -> list[Path]:
        """Every file read (what ``version`` digests)."""
        return [self.folder / FILES[s] for s in ("test", "train")]

    def _split(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if split not in ALIASES:
            raise UserError(f"{self.name}: unknown split {split!r} (train, test)")
        return self._arrays[ALIASES[split]]

    def _n(self, split: str, n_points: int) -> int:
        have = self._split(split)[0].shape[1]
        if not 1 <= n_points <= have:
            raise UserError(f"{self.name}: {n_points} points asked, the clouds hold {have}")
        return n_points

    @cached_property
    def version(self) -> str:
        return self.digests.version(self.folder, self.files(), extra=LOADER_VERSION)

    @cached_property
    def provenance(self) -> Provenance:
        return marked_provenance(self.folder, (self.root, *self.folder.parents[:2]), MARKER,
                                 len(FILES), "scanobjectnn-sim (procedural objects with clutter)")

    def describe(self) -> dict:
        counts = {s: np.bincount(self.labels(s), minlength=len(CLASSES)) for s in FILES}
        return {"name": self.name, "version": self.version,
                "provenance": self.provenance.__dict__, "n_classes": len(CLASSES),
                "classes": list(CLASSES),
                "n_clouds": {s: int(c.sum()) for s, c in counts.items()},
                "n_points": int(self._arrays["train"][0].shape[1]),
                "per_class": {s: [int(c.min()), int(c.max())] for s, c in counts.items()},
                "background_share": {s: round(float(1 - self._arrays[s][2].mean()), 4)
                                     for s in FILES}}

    # ----------------------------------------------------------------------------- arrays

    def points(self, split: str, n_points: int = 1024) -> np.ndarray:
        """float32 [S, n, 3]: the first ``n_points`` points of each cloud (the official rule)."""
        return self._split(split)[0][:, :self._n(split, n_points)]

    def labels(self, split: str) -> np.ndarray:
        """int64 [S], 0..14 in :data:`CLASSES` order."""
        return self._split(split)[1]

    def masks(self, split: str, n_points: int = 1024) -> np.ndarray:
        """int8 [S, n]: 0 where the file's mask is -1 (background), else 1 (object)."""
        return self._split(split)[2][:, :self._n(split, n_points)]

    def batches(self, split: str, batch_size: int, *, n_points: int = 1024,
                where: dict | None = None, limit: int | None = None) -> Iterator[Batch]:
        """``points`` float32 [B, n, 3] and ``label`` int64 [B]; meta ``class`` (its name) and
        ``index`` (the row in the split). No condition can be selected."""
        if where:
            raise UserError(f"{self.name}: no condition columns to select ({', '.join(where)})")
        points, labels = self.points(split, n_points), self.labels(split)
        names = np.array(CLASSES, dtype=object)
        stop = len(labels) if limit is None else min(len(labels), limit)
        for start in range(0, stop, batch_size):
            rows = np.arange(start, min(start + batch_size, stop))
            yield Batch({"points": points[rows], "label": labels[rows]},
                        {"class": names[labels[rows]], "index": rows})


def check_root(root: Path) -> CheckReport:
    """``bench data check scanobjectnn``: per file its clouds, points per cloud, classes
    present, the fewest and most clouds of a class and the background share."""
    data = ScanObjectNN(root, flag="--root")
    rows = []
    for split, file in FILES.items():
        points, labels, mask = data._arrays[split]
        counts = np.bincount(labels, minlength=len(CLASSES))
        rows.append([file, split, len(labels), points.shape[1], int((counts > 0).sum()),
                     int(counts.min()), int(counts.max()), f"{100 * (1 - mask.mean()):.1f} %"])
    return CheckReport(f"{data.folder}: {data.provenance.kind}, version {data.version}, "
                       f"{len(CLASSES)} classes", rows,
                       ["file", "split", "clouds", "points", "classes", "min/class",
                        "max/class", "background"])


register_dataset(DatasetEntry(
    "scanobjectnn", "real", "ScanObjectNN main split PB_T50_RS (augmentedrot_scale75): h5 "
    "clouds of 2048 points with background masks, 15 classes", adapter=ScanObjectNN,
    check=check_root))
