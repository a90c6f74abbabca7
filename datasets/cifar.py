"""CIFAR-10 and CIFAR-100, python version: the pickled batches as the release ships them.

The layouts (spec kws_fl.md §6)::

    <root>/cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch, batches.meta
    <root>/cifar-100-python/train, test, meta

``<root>`` is the folder the archive was unpacked in (the one holding ``cifar-10-batches-py/``,
as torchvision's ``root``) or that folder itself. Each batch is a dict with ``data`` (uint8
N x 3072: 1024 red, 1024 green, 1024 blue values, each plane 32 x 32 row-major) and ``labels``
(CIFAR-10, 0-9) or ``fine_labels`` (0-99) and ``coarse_labels`` (0-19) (CIFAR-100), plus
``filenames`` and ``batch_label``; the meta file holds ``label_names`` (CIFAR-10) or
``fine_label_names`` and ``coarse_label_names`` (CIFAR-100).

Every file is read through the restricted unpickler of :mod:`perloc.datasets.cifar_pickle`
(a pickle naming anything but numpy's array helpers is refused unexecuted) when the adapter is
constructed, and checked before any work: the data shape and type, one label per image and
each in range, one file name per image, the label-name lists and their lengths. Each failure
is one ``UserError`` line naming the file (``bench`` prints it and exits with status 2).

Splits ``train`` (the five data batches, or ``train``) and ``test``. :meth:`Cifar.images`
gives uint8 [N, 3, 32, 32], :meth:`Cifar.labels` int64 [N] (what the federated partitions of
:mod:`perloc.datasets.fl_partitions` index); :meth:`Cifar.batches` yields them as ``image`` /
``label`` columns with the class name and the row index as meta columns. ``version`` digests
every file read by content; ``provenance`` is ``synthetic`` where a stand-in's marker sits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from perloc.bench.core.batch import Batch
from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import Provenance
from perloc.datasets.audio import dataset_folder
from perloc.datasets.cifar_pickle import load_batch
from perloc.datasets.digest import ContentDigests, marked_provenance

__all__ = ["CIFAR10", "CIFAR100", "Cifar", "Cifar10", "Cifar100", "CifarLayout", "Part"]

LOADER_VERSION = "cifar-loader-1"
SIDE, PIXELS = 32, 3072  # 3 x 32 x 32 values per image


@dataclass(frozen=True)
class CifarLayout:
    """What one CIFAR release holds, and the stand-in marker that flags a written copy."""

    name: str
    folder: str
    files: dict[str, tuple[str, ...]]  # split -> batch files
    meta: str
    label_key: str
    names_key: str
    n_classes: int
    marker: str
    coarse_key: str | None = None
    coarse_names_key: str | None = None
    n_coarse: int = 0
    # [inferred, FedDyn] per-channel normalisation of spec §5.7, for the methods' convenience
    mean: tuple[float, float, float] = (0.491, 0.482, 0.447)
    std: tuple[float, float, float] = (0.247, 0.243, 0.262)


CIFAR10 = CifarLayout(
    "cifar10", "cifar-10-batches-py",
    {"train": tuple(f"data_batch_{k}" for k in range(1, 6)), "test": ("test_batch",)},
    "batches.meta", "labels", "label_names", 10, ".perloc-cifar10-sim.json")
CIFAR100 = CifarLayout(
    "cifar100", "cifar-100-python", {"train": ("train",), "test": ("test",)}, "meta",
    "fine_labels", "fine_label_names", 100, ".perloc-cifar100-sim.json",
    "coarse_labels", "coarse_label_names", 20,
    (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))


@dataclass(frozen=True)
class Part:
    """One checked batch file."""

    path: Path
    data: np.ndarray  # uint8 [N, 3072]
    labels: np.ndarray  # int64 [N]
    coarse: np.ndarray | None  # int64 [N] (CIFAR-100)
    filenames: tuple[str, ...] | None
    batch_label: str


def _text(value: Any) -> Any:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_data(value: Any, path: Path) -> np.ndarray:
    """``data`` as uint8 [N, 3072] (N >= 1); else a UserError naming ``path``."""
    if value is None:
        raise UserError(f"{path}: no 'data' entry")
    if not isinstance(value, np.ndarray):
        raise UserError(f"{path}: 'data' is a {type(value).__name__}, expected a uint8 numpy "
                        f"array N x {PIXELS}")
    if value.dtype != np.uint8 or value.ndim != 2 or value.shape[1] != PIXELS or not len(value):
        raise UserError(f"{path}: 'data' is {value.dtype} of shape {value.shape}, expected "
                        f"uint8 N x {PIXELS} (3 x 32 x 32 values per image)")
    return value


def check_labels(value: Any, key: str, n: int, n_classes: int, path: Path) -> np.ndarray:
    """The list ``key`` as int64 [n], every value in 0..n_classes-1; else a UserError."""
    if value is None:
        raise UserError(f"{path}: no {key!r} entry")
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iu":
        labels = value.astype(np.int64)
    elif isinstance(value, (list, tuple)) and all(_is_int(v) for v in value):
        labels = np.array(value, dtype=np.int64).reshape(len(value))
    else:
        raise UserError(f"{path}: {key!r} is not a list of integers")
    if len(labels) != n:
        raise UserError(f"{path}: {len(labels)} {key} for {n} images")
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if len(bad):
        raise UserError(f"{path}: {key}[{bad[0]}] = {labels[bad[0]]} is outside 0..{n_classes - 1}"
                        f" ({len(bad)} such)")
    return labels


def check_names(meta: dict, key: str, n: int, path: Path) -> tuple[str, ...]:
    """The meta file's list ``key`` of ``n`` class names; else a UserError."""
    names = meta.get(key)
    if not isinstance(names, (list, tuple)) or not all(isinstance(v, (bytes, str)) for v in names):
        raise UserError(f"{path}: no {key!r} list of class names")
    if len(names) != n:
        raise UserError(f"{path}: {key!r} has {len(names)} names, expected {n}")
    return tuple(_text(v) for v in names)


def read_part(path: Path, layout: CifarLayout) -> Part:
    """One batch file, read and checked."""
    raw = load_batch(path)
    data = check_data(raw.get("data"), path)
    labels = check_labels(raw.get(layout.label_key), layout.label_key, len(data),
                          layout.n_classes, path)
    coarse = None
    if layout.coarse_key is not None:
        coarse = check_labels(raw.get(layout.coarse_key), layout.coarse_key, len(data),
                              layout.n_coarse, path)
    names = raw.get("filenames")
    if names is not None:
        if not isinstance(names, (list, tuple)) or len(names) != len(data):
            count = len(names) if isinstance(names, (list, tuple)) else type(names).__name__
            raise UserError(f"{path}: 'filenames' holds {count} entries for {len(data)} images")
        names = tuple(str(_text(v)) for v in names)
    return Part(path, data, labels, coarse, names, str(_text(raw.get("batch_label", ""))))


class Cifar:
    """One CIFAR release (or its stand-in) under ``root``, every file checked on construction.

    ``digests`` remembers file content digests (e.g. under the cache); ``flag`` names the
    option that gave ``root`` in error messages."""

    name: ClassVar[str]
    layout: ClassVar[CifarLayout]

    def __init__(self, root: Path, *, digests: ContentDigests | None = None,
                 flag: str = "--data-root") -> None:
        self.root = dataset_folder(Path(root), flag)
        inner = self.root / self.layout.folder
        self.folder = inner if inner.is_dir() else self.root
        self.digests = digests if digests is not None else ContentDigests(None)
        meta_path = self.folder / self.layout.meta
        meta = load_batch(meta_path)
        self.class_names = check_names(meta, self.layout.names_key, self.layout.n_classes,
                                       meta_path)
        self.coarse_names: tuple[str, ...] = ()
        if self.layout.coarse_names_key is not None:
            self.coarse_names = check_names(meta, self.layout.coarse_names_key,
                                            self.layout.n_coarse, meta_path)
        self.parts = {split: [read_part(self.folder / f, self.layout) for f in files]
                      for split, files in self.layout.files.items()}

    # ----------------------------------------------------------------------------- index

    def splits(self) -> dict[str, tuple[str, ...]]:
        """The batch files of ``train`` and ``test``."""
        return {split: tuple(p.path.name for p in parts) for split, parts in self.parts.items()}

    def files(self) -> list[Path]:
        """Every file read (what ``version`` digests)."""
        return sorted([self.folder / self.layout.meta,
                       *(p.path for parts in self.parts.values() for p in parts)])

    def _parts(self, split: str) -> list[Part]:
        if split not in self.parts:
            raise UserError(f"{self.name}: unknown split {split!r} (train, test)")
        return self.parts[split]

    @cached_property
    def version(self) -> str:
        return self.digests.version(self.folder, self.files(), extra=LOADER_VERSION)

    @cached_property
    def provenance(self) -> Provenance:
        return marked_provenance(self.folder, (self.root, self.folder.parent),
                                 self.layout.marker, len(self.files()),
                                 f"{self.name}-sim (procedural shapes)")

    def describe(self) -> dict:
        counts = {s: np.bincount(self.labels(s), minlength=self.layout.n_classes)
                  for s in self.parts}
        return {"name": self.name, "version": self.version,
                "provenance": self.provenance.__dict__, "n_classes": self.layout.n_classes,
                "n_images": {s: int(c.sum()) for s, c in counts.items()},
                "n_files": {s: len(p) for s, p in self.parts.items()},
                "per_class": {s: [int(c.min()), int(c.max())] for s, c in counts.items()}}

    # ----------------------------------------------------------------------------- arrays

    def images(self, split: str) -> np.ndarray:
        """uint8 [N, 3, 32, 32] (channels R, G, B), the split's files in order."""
        rows = np.concatenate([p.data for p in self._parts(split)])
        return rows.reshape(len(rows), 3, SIDE, SIDE)

    def labels(self, split: str) -> np.ndarray:
        """int64 [N]: CIFAR-10 labels, CIFAR-100 fine labels."""
        return np.concatenate([p.labels for p in self._parts(split)])

    def coarse_labels(self, split: str) -> np.ndarray:
        """int64 [N]: the CIFAR-100 superclasses (a UserError for CIFAR-10)."""
        parts = self._parts(split)
        if self.layout.coarse_key is None:
            raise UserError(f"{self.name} has no coarse labels")
        return np.concatenate([p.coarse for p in parts])

    def batches(self, split: str, batch_size: int, *, where: dict | None = None,
                limit: int | None = None) -> Iterator[Batch]:
        """``image`` uint8 [B, 3, 32, 32] and ``label`` int64 [B]; meta ``class`` (its name),
        ``index`` (the row in the split) and, for CIFAR-100, ``superclass``. No condition can
        be selected: ``where`` must be empty."""
        if where:
            raise UserError(f"{self.name}: no condition columns to select ({', '.join(where)})")
        images, labels = self.images(split), self.labels(split)
        names = np.array(self.class_names, dtype=object)
        coarse = self.coarse_labels(split) if self.coarse_names else None
        stop = len(labels) if limit is None else min(len(labels), limit)
        for start in range(0, stop, batch_size):
            rows = np.arange(start, min(start + batch_size, stop))
            meta = {"class": names[labels[rows]], "index": rows}
            if coarse is not None:
                meta["superclass"] = np.array(self.coarse_names, dtype=object)[coarse[rows]]
            yield Batch({"image": images[rows], "label": labels[rows]}, meta)


class Cifar10(Cifar):
    """CIFAR-10, python version (``cifar-10-batches-py``)."""

    name = "cifar10"
    layout = CIFAR10


class Cifar100(Cifar):
    """CIFAR-100, python version (``cifar-100-python``)."""

    name = "cifar100"
    layout = CIFAR100


def check_root(adapter: type[Cifar], root: Path) -> CheckReport:
    """``bench data check cifar10|cifar100``: per file its split, images, classes present and
    the fewest and most images of a class."""
    data = adapter(root, flag="--root")
    rows = []
    for split, parts in data.parts.items():
        for part in parts:
            counts = np.bincount(part.labels, minlength=data.layout.n_classes)
            rows.append([part.path.name, split, len(part.labels), int((counts > 0).sum()),
                         int(counts.min()), int(counts.max())])
    return CheckReport(f"{data.folder}: {data.provenance.kind}, version {data.version}, "
                       f"{data.layout.n_classes} classes", rows,
                       ["file", "split", "images", "classes", "min/class", "max/class"])


register_dataset(DatasetEntry(
    "cifar10", "real", "CIFAR-10 python version: pickled batches of 32x32 colour images, "
    "10 classes", adapter=Cifar10, check=lambda root: check_root(Cifar10, root)))
register_dataset(DatasetEntry(
    "cifar100", "real", "CIFAR-100 python version: pickled train/test of 32x32 colour images, "
    "100 fine and 20 coarse classes", adapter=Cifar100, check=lambda root: check_root(Cifar100, root)))
