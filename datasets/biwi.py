"""BIWI Kinect head pose, FSA-Net protocol 2 (70/30 by sequence): Paper I's head-pose dataset.

The layout (spec dold_pointtnt.md §2.2), as FSA-Net's ``TYY_create_db_biwi_70_30.py`` writes
it::

    <root>/BIWI_train.npz, <root>/BIWI_test.npz

with ``image`` (N, 64, 64, 3) uint8 in **BGR** order (cv2), ``pose`` (N, 3) float
[yaw, pitch, roll] in degrees and, optionally, ``img_size``. Items are the train rows, then
the test rows; :meth:`Biwi.targets` gives [yaw, pitch, roll] in that column order and
:meth:`Biwi.images` RGB. Both archives are read with ``allow_pickle=False`` (a pickled object
array inside is refused, not executed) and checked on construction, each failure one
:class:`UserError` line naming the file: a missing file or key, the dtype and shape of
``image`` and ``pose``, one pose per image, finite poses.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.datasets.audio import dataset_folder, require_file
from perloc.datasets.digest import ContentDigests, MarkedFiles
from perloc.datasets.image_files import ImageStore, consecutive_split, resize_rgb

__all__ = ["FILES", "IMAGE_SIDE", "MARKER", "Biwi", "read_npz"]

LOADER_VERSION = "biwi-loader-1"
IMAGE_SIDE = 64  # FSA-Net's crops
FILES = {"train": "BIWI_train.npz", "test": "BIWI_test.npz"}
MARKER = ".perloc-biwi-sim.json"


def _entry(archive, key: str, path: Path) -> np.ndarray | None:
    if key not in archive.files:
        return None
    try:
        return archive[key]
    except ValueError as exc:  # an object array: numpy refuses to unpickle it
        raise UserError(f"{path}: {key!r} holds pickled Python objects, which are not read "
                        f"({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: cannot read {key!r} ({exc})") from None


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``image`` uint8 (N, 64, 64, 3) BGR and ``pose`` float64 (N, 3) of one archive, checked."""
    require_file(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise UserError(f"{path}: not a numpy .npz archive, or it holds pickled objects "
                        f"({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: cannot read the .npz archive ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UserError(f"{path}: holds one array, expected a .npz archive with 'image' and "
                        f"'pose'")
    with archive:
        image, pose = _entry(archive, "image", path), _entry(archive, "pose", path)
        for key in archive.files:
            if key not in ("image", "pose"):
                _entry(archive, key, path)  # refuses a pickled extra entry too
    for key, value in (("image", image), ("pose", pose)):
        if value is None:
            raise UserError(f"{path}: no {key!r} array (keys: {', '.join(archive.files) or 'none'})")
    expected = f"uint8 (N, {IMAGE_SIDE}, {IMAGE_SIDE}, 3)"
    if image.dtype != np.uint8 or image.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE, 3) or not len(image):
        raise UserError(f"{path}: 'image' is {image.dtype} of shape {image.shape}, expected "
                        f"{expected} BGR with N >= 1")
    if pose.dtype.kind not in "fiu" or pose.ndim != 2 or pose.shape[1] != 3:
        raise UserError(f"{path}: 'pose' is {pose.dtype} of shape {pose.shape}, expected float "
                        f"(N, 3) [yaw, pitch, roll] in degrees")
    if len(pose) != len(image):
        raise UserError(f"{path}: {len(pose)} pose rows for {len(image)} images")
    bad = np.flatnonzero(~np.isfinite(pose).all(axis=1))
    if len(bad):
        raise UserError(f"{path}: pose row {bad[0]} is not finite ({len(bad)} such rows)")
    return image, pose.astype(np.float64)


class Biwi(MarkedFiles):
    """The two FSA-Net BIWI archives under ``root``, checked on construction.

    ``digests`` remembers file content digests; ``flag`` names the option that gave ``root``
    in error messages; ``cache`` is an HDF5 file for resized images (None: resize per call)."""

    name = "biwi"
    loader_version = LOADER_VERSION
    marker = MARKER
    standin = "biwi-sim (rendered head proxy)"
    target_names = ("yaw", "pitch", "roll")
    unit = "degrees"
    classes: tuple[str, ...] = ()

    def __init__(self, root: Path, *, digests: ContentDigests | None = None,
                 flag: str = "--data-root", cache: Path | None = None, **options) -> None:
        if options:
            raise UserError(f"{self.name}: unknown option(s) {', '.join(sorted(options))}")
        self.root = dataset_folder(Path(root), flag)
        self.digests = digests if digests is not None else ContentDigests(None)
        self.paths = {s: self.root / f for s, f in FILES.items()}
        parts = {s: read_npz(p) for s, p in self.paths.items()}
        self.counts = {s: len(p[0]) for s, p in parts.items()}
        self.bgr = np.concatenate([p[0] for p in parts.values()])
        self.pose = np.concatenate([p[1] for p in parts.values()])
        self.index = np.concatenate([np.arange(n) for n in self.counts.values()])
        self.file = np.array([FILES[s] for s, n in self.counts.items() for _ in range(n)],
                             dtype=object)
        self.store = ImageStore(self.name, len(self.pose), lambda: self.version,
                                lambda rows, side: resize_rgb(self.bgr[rows, :, :, ::-1], side),
                                cache)

    def files(self) -> list[Path]:
        """Every file read (what ``version`` digests)."""
        return sorted(self.paths.values())

    def split_rows(self, seed: int = 0) -> dict[str, np.ndarray]:
        """int64 item indices: the train archive's rows, then the test archive's."""
        return consecutive_split(self.counts["train"], self.counts["test"])

    def describe(self) -> dict:
        rows = self.split_rows()
        return {"name": self.name, "version": self.version,
                "provenance": self.provenance.__dict__,
                "n_images": {s: len(r) for s, r in rows.items()},
                "pose_range": {s: {t: [round(float(self.pose[r, k].min()), 2),
                                       round(float(self.pose[r, k].max()), 2)]
                                   for k, t in enumerate(self.target_names)}
                               for s, r in rows.items()}}

    def _rows(self, rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(self.pose)):
            raise UserError(f"{self.name}: row indices must lie in 0..{len(self.pose) - 1}")
        return rows

    def targets(self, rows) -> np.ndarray:
        """float64 [len(rows), 3]: yaw, pitch, roll in degrees."""
        return self.pose[self._rows(rows)].copy()

    def images(self, rows, side: int) -> np.ndarray:
        """uint8 [len(rows), 3, side, side], RGB (the archives' BGR reversed), bilinear."""
        return self.store.load(self._rows(rows), side)

    def meta(self, rows) -> dict[str, np.ndarray]:
        """``file`` (the archive), ``index`` (the row within it)."""
        rows = self._rows(rows)
        return {"file": self.file[rows], "index": self.index[rows]}


def check_root(root: Path) -> CheckReport:
    """``bench data check biwi``: per archive its images and pose ranges."""
    data = Biwi(root, flag="--root")
    info = data.describe()
    rows = [[FILES[s], s, n, *(info["pose_range"][s][t] for t in data.target_names)]
            for s, n in info["n_images"].items()]
    return CheckReport(f"{data.root}: {data.provenance.kind}, version {data.version}", rows,
                       ["file", "split", "images", "yaw", "pitch", "roll"])


register_dataset(DatasetEntry(
    "biwi", "real", "BIWI Kinect head pose, FSA-Net protocol-2 64x64 crops (BGR npz) with "
    "yaw/pitch/roll, Paper I head-pose estimation", adapter=Biwi, check=check_root))
