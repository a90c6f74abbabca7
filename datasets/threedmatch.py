"""3DMatch geometric-registration test set: fragment PLYs and ``gt.log`` per scene.

The layouts (spec dold_pointtnt.md §6.2; the harness reads all three, per scene)::

    <root>/<scene>/01_Data/cloud_bin_<i>.ply  +  <root>/<scene>/01_Data/gt.log   (DIP's copy)
    <root>/<scene>/cloud_bin_<i>.ply          +  <root>/<scene>/gt.log
    <root>/<scene>/cloud_bin_<i>.ply          +  <root>/<scene>-evaluation/gt.log
                                                 (the 3DMatch benchmark release)

A scene is a sub-folder holding ``cloud_bin_<i>.ply`` (directly or in ``01_Data/``); the
first ``gt.log`` of the list above is its ground truth. Each PLY (ASCII or binary) must declare
a ``vertex`` element with ``x``, ``y``, ``z`` scalar properties; :meth:`ThreeDMatch.cloud`
reads them with :mod:`plyfile` as float64 [N, 3]. ``gt.log`` holds blocks of five lines: a
header ``i j n_fragments`` and the 4 x 4 matrix T, rows whitespace- or tab-separated (trailing
tabs allowed). **T maps fragment j into fragment i's frame** (spec §6.2, gotcha 23: DIP
transforms cloud j by T and compares it with cloud i): ``P_i ~ (T @ [P_j, 1].T).T``.

Checked when the adapter is constructed, each failure one ``UserError`` line naming the file:
every PLY header (magic, format, a vertex element with x/y/z, and for binary files a size
that holds the declared vertices), every ``gt.log`` block (a header of three integers and four
rows of four numbers), T rigid (R^T R = I within 1e-4, det R = +1 within 1e-4, last row
0 0 0 1 within 1e-6), i and j fragments of the scene, and n_fragments equal to the number of
fragments in the folder. ``version`` digests every PLY and gt.log by content; ``provenance``
is ``synthetic`` where the ``3dmatch-sim`` marker sits
(:mod:`perloc.datasets.synth.threedmatch_sim`). DIP's preprocessed hdf5 caches are not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plyfile

from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.datasets.audio import dataset_folder, require_file
from perloc.datasets.digest import ContentDigests, MarkedFiles

__all__ = ["MARKER", "TEST_SCENES", "Pair", "PlyHeader", "ThreeDMatch", "read_gt_log",
           "read_ply_header", "read_ply_xyz"]

LOADER_VERSION = "3dmatch-loader-1"
MARKER = ".perloc-3dmatch-sim.json"
FRAGMENT = re.compile(r"cloud_bin_(\d+)\.ply$")
ORTHO_TOL, LAST_ROW_TOL = 1e-4, 1e-6
# the 8 test scenes of the 3DMatch benchmark (spec §6.2), 1,623 pairs in all
TEST_SCENES = ("7-scenes-redkitchen", "sun3d-home_at-home_at_scan1_2013_jan_1",
               "sun3d-home_md-home_md_scan9_2012_sep_30", "sun3d-hotel_uc-scan3",
               "sun3d-hotel_umd-maryland_hotel1", "sun3d-hotel_umd-maryland_hotel3",
               "sun3d-mit_76_studyroom-76-1studyroom2",
               "sun3d-mit_lab_hj-lab_hj_tea_nov_2_2012_scan1_erika")
SIZES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2,
         "uint16": 2, "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4,
         "double": 8, "float64": 8}


@dataclass(frozen=True)
class Pair:
    """One ground-truth pair: ``T`` (float64 4 x 4) maps fragment ``j`` into ``i``'s frame."""

    i: int
    j: int
    T: np.ndarray


@dataclass(frozen=True)
class PlyHeader:
    format: str  # ascii | binary_little_endian | binary_big_endian
    vertices: int
    properties: tuple[str, ...]


# ------------------------------------------------------------------------------------- PLY


def read_ply_header(path: Path) -> PlyHeader:
    """The header of a PLY file, checked (magic, format, vertex element with x, y, z; a
    binary file's size); else a UserError naming ``path``."""
    require_file(path)
    lines, elements, size = [], [], path.stat().st_size
    with path.open("rb") as handle:
        if handle.readline().rstrip(b"\r\n") != b"ply":
            raise UserError(f"{path}: not a PLY file (first line is not 'ply')")
        while True:
            raw = handle.readline()
            if not raw or len(lines) > 1000:
                raise UserError(f"{path}: PLY header has no 'end_header' line")
            line = raw.decode("ascii", "replace").strip()
            if line == "end_header":
                break
            lines.append(line)
        start = handle.tell()
    fmt = None
    for line in lines:
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format" and len(words) == 3:
            fmt = words[1]
        elif words[0] == "element" and len(words) == 3 and words[2].isdigit():
            elements.append([words[1], int(words[2]), []])
        elif words[0] == "property" and elements and len(words) >= 3:
            elements[-1][2].append((words[-1], words[1:-1]))
        else:
            raise UserError(f"{path}: malformed PLY header line {line!r}")
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise UserError(f"{path}: PLY header has no valid 'format' line")
    vertex = next((e for e in elements if e[0] == "vertex"), None)
    if vertex is None:
        raise UserError(f"{path}: PLY header has no 'vertex' element")
    names = tuple(name for name, _ in vertex[2])
    for axis in "xyz":
        kinds = [t for name, t in vertex[2] if name == axis]
        if not kinds or kinds[0][0] == "list" or kinds[0][0] not in SIZES:
            raise UserError(f"{path}: PLY vertex element has no scalar '{axis}' property "
                            f"(properties: {', '.join(names) or 'none'})")
    if fmt != "ascii" and all(t[0] in SIZES for e in elements for _, t in e[2]):
        need = sum(e[1] * sum(SIZES[t[0]] for _, t in e[2]) for e in elements)
        if size - start < need:
            raise UserError(f"{path}: truncated PLY, {size - start} data bytes for the "
                            f"{need} its header declares")
    return PlyHeader(fmt, vertex[1], names)


def read_ply_xyz(path: Path) -> np.ndarray:
    """float64 [N, 3]: the vertices' x, y, z (read with plyfile); else a UserError."""
    read_ply_header(path)
    try:
        vertex = plyfile.PlyData.read(str(path))["vertex"]
        xyz = np.column_stack([np.asarray(vertex[a], dtype=np.float64) for a in "xyz"])
    except (plyfile.PlyParseError, ValueError, KeyError, OSError) as exc:
        raise UserError(f"{path}: corrupt PLY ({type(exc).__name__}: {exc})") from None
    if not np.isfinite(xyz).all():
        raise UserError(f"{path}: non-finite vertex coordinates")
    return xyz


# ------------------------------------------------------------------------------------- gt.log


def check_rigid(T: np.ndarray, where: str) -> None:
    """A UserError (``where`` names the file and line) unless T is a rigid 4 x 4 transform."""
    R = T[:3, :3]
    if not np.allclose(T[3], [0, 0, 0, 1], atol=LAST_ROW_TOL, rtol=0):
        raise UserError(f"{where}: last matrix row is {T[3].tolist()}, expected 0 0 0 1")
    err = float(np.abs(R.T @ R - np.eye(3)).max())
    if err > ORTHO_TOL:
        raise UserError(f"{where}: the rotation is not orthonormal (|R^T R - I| = {err:.2g} "
                        f"> {ORTHO_TOL:g})")
    det = float(np.linalg.det(R))
    if abs(det - 1) > ORTHO_TOL:
        raise UserError(f"{where}: det R = {det:.6g}, expected +1 (a rigid transform)")


def read_gt_log(path: Path) -> tuple[list[Pair], set[int]]:
    """The pairs of a 3DMatch ``gt.log`` and the n_fragments its headers state, each block
    checked; else a UserError naming ``path`` and the line."""
    require_file(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    rows = [(k + 1, line.split()) for k, line in enumerate(text.splitlines()) if line.strip()]
    if len(rows) % 5:
        raise UserError(f"{path}: {len(rows)} non-empty lines, expected blocks of 5 (a header "
                        "'i j n_fragments' and 4 matrix rows)")
    pairs, counts = [], set()
    for b in range(0, len(rows), 5):
        line, head = rows[b]
        if len(head) != 3 or not all(re.fullmatch(r"-?\d+", w) for w in head):
            raise UserError(f"{path}:{line}: header {' '.join(head)!r} is not 'i j n_fragments'"
                            " (three integers)")
        i, j, n = (int(w) for w in head)
        matrix = []
        for line_k, words in rows[b + 1:b + 5]:
            try:
                values = [float(w) for w in words]
            except ValueError:
                values = []
            if len(values) != 4:
                raise UserError(f"{path}:{line_k}: matrix row {' '.join(words)!r} is not four "
                                "numbers")
            matrix.append(values)
        T = np.array(matrix, dtype=np.float64)
        if not np.isfinite(T).all():
            raise UserError(f"{path}:{line}: non-finite matrix for pair {i} {j}")
        check_rigid(T, f"{path}:{line} (pair {i} {j})")
        pairs.append(Pair(i, j, T))
        counts.add(n)
    return pairs, counts


# ------------------------------------------------------------------------------------- adapter


def _fragments(folder: Path) -> dict[int, Path]:
    found = {}
    for p in folder.iterdir() if folder.is_dir() else ():
        m = FRAGMENT.match(p.name)
        if m:
            found[int(m.group(1))] = p
    return dict(sorted(found.items()))


class ThreeDMatch(MarkedFiles):
    """The 3DMatch test scenes (or the stand-in's) under ``root``, every PLY header and every
    gt.log checked on construction. ``digests`` remembers file content digests; ``flag``
    names the option that gave ``root`` in error messages."""

    name = "3dmatch"
    loader_version = LOADER_VERSION
    marker = MARKER
    standin = "3dmatch-sim (procedural rooms cut into fragments)"

    def __init__(self, root: Path, *, digests: ContentDigests | None = None,
                 flag: str = "--data-root") -> None:
        self.root = dataset_folder(Path(root), flag)
        self.digests = digests if digests is not None else ContentDigests(None)
        self._frags: dict[str, dict[int, Path]] = {}
        self._logs: dict[str, Path] = {}
        self._pairs: dict[str, list[Pair]] = {}
        self._headers: dict[Path, PlyHeader] = {}
        for scene in sorted(p for p in self.root.iterdir()
                            if p.is_dir() and not p.name.startswith(".")
                            and not p.name.endswith("-evaluation")):
            frags = _fragments(scene / "01_Data") or _fragments(scene)
            if frags:
                self._frags[scene.name] = frags
        if not self._frags:
            raise UserError(f"{flag}: {self.root} holds no scene folder with cloud_bin_<i>.ply "
                            "fragments (<scene>/01_Data/ or <scene>/)")
        for scene, frags in self._frags.items():
            for path in frags.values():
                self._headers[path] = read_ply_header(path)
            self._logs[scene] = log = self._gt_log(scene)
            pairs, counts = read_gt_log(log)
            for n in counts:
                if n != len(frags):
                    raise UserError(f"{log}: n_fragments {n}, but {len(frags)} fragments in "
                                    f"{next(iter(frags.values())).parent}")
            for pair in pairs:
                for k in (pair.i, pair.j):
                    if k not in frags:
                        raise UserError(f"{log}: pair {pair.i} {pair.j} names fragment {k}, "
                                        f"no cloud_bin_{k}.ply in "
                                        f"{next(iter(frags.values())).parent}")
            self._pairs[scene] = pairs

    def _gt_log(self, scene: str) -> Path:
        options = (self.root / scene / "01_Data" / "gt.log", self.root / scene / "gt.log",
                   self.root / f"{scene}-evaluation" / "gt.log")
        found = next((p for p in options if p.exists()), None)
        if found is None:
            raise UserError(f"{options[0]}: file not found (nor {options[1].name} in "
                            f"{options[1].parent}, nor {options[2]})")
        return found

    # ----------------------------------------------------------------------------- index

    @property
    def scenes(self) -> tuple[str, ...]:
        return tuple(self._frags)

    def _scene(self, scene: str) -> dict[int, Path]:
        if scene not in self._frags:
            raise UserError(f"{self.name}: unknown scene {scene!r} ({', '.join(self.scenes)})")
        return self._frags[scene]

    def fragments(self, scene: str) -> list[int]:
        """The fragment indices of ``scene``, ascending."""
        return list(self._scene(scene))

    def cloud(self, scene: str, i: int) -> np.ndarray:
        """float64 [N, 3]: fragment ``i`` of ``scene`` in its own frame."""
        frags = self._scene(scene)
        if i not in frags:
            raise UserError(f"{self.name}: scene {scene!r} has no fragment {i}")
        return read_ply_xyz(frags[i])

    def pairs(self, scene: str) -> list[Pair]:
        """The gt.log pairs of ``scene`` in file order (T maps j into i's frame)."""
        self._scene(scene)
        return list(self._pairs[scene])

    def files(self) -> list[Path]:
        """Every file read (what ``version`` digests)."""
        return sorted([*self._headers, *self._logs.values()])

    def describe(self) -> dict:
        points = {s: [self._headers[p].vertices for p in f.values()]
                  for s, f in self._frags.items()}
        return {"name": self.name, "version": self.version,
                "provenance": self.provenance.__dict__, "scenes": list(self.scenes),
                "n_scenes": len(self.scenes),
                "n_fragments": {s: len(f) for s, f in self._frags.items()},
                "n_pairs": {s: len(p) for s, p in self._pairs.items()},
                "n_points": {s: [min(v), max(v)] for s, v in points.items()}}


def check_root(root: Path) -> CheckReport:
    """``bench data check 3dmatch``: per scene its fragments, pairs, points per fragment and
    gt.log."""
    data = ThreeDMatch(root, flag="--root")
    rows = []
    for scene, frags in data._frags.items():
        n = [data._headers[p].vertices for p in frags.values()]
        rows.append([scene, len(frags), len(data._pairs[scene]), min(n), max(n),
                     str(data._logs[scene].relative_to(data.root))])
    return CheckReport(f"{data.root}: {data.provenance.kind}, version {data.version}, "
                       f"{len(data.scenes)} scenes", rows,
                       ["scene", "fragments", "pairs", "min points", "max points", "gt.log"])


register_dataset(DatasetEntry(
    "3dmatch", "real", "3DMatch geometric-registration test scenes: fragment PLYs and gt.log "
    "ground-truth pairs (T maps j into i)", adapter=ThreeDMatch, check=check_root))
