"""3DMatch training fragments: PLYs with per-fragment poses, and the overlapping pairs.

The layout (spec dold_pointtnt.md §6.2, the 3DMatch toolbox's training fragments)::

    <root>/<scene>/cloud_bin_<i>.ply        (or <root>/<scene>/01_Data/cloud_bin_<i>.ply)
    <root>/<scene>/cloud_bin_<i>.info.txt   one header line, then the 4 x 4 pose

The pose ``G_i`` maps fragment ``i`` into the scene's frame, so ``T = G_i^-1 G_j`` maps
fragment ``j`` into ``i``'s frame (the gt.log convention of the test set). DIP takes the
overlapping pairs from 3DMatch's ``Correspondences`` folder and recomputes the point
correspondences with ICP at 2 cm; here a pair overlaps when at least ``min_overlap`` of one
fragment's points (a random 2,000 of them) have a point of the other within ``radius`` once
mapped by T (:meth:`ThreeDMatchTrain.overlapping_pairs`; no ICP: the poses are taken as exact).
The radius is 2 cm, or 1.5 times the fragments' median nearest-neighbour spacing where that is
larger (sparse stand-in fragments), see :func:`match_radius`.

Checked when the adapter is constructed, each failure one ``UserError`` naming the file: every
PLY header (as the test adapter checks it), every ``.info.txt`` (a header line, then four rows
of four numbers, a rigid matrix) and a pose for every fragment.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from perloc.bench.core.datasets import DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.datasets.audio import dataset_folder, require_file
from perloc.datasets.digest import ContentDigests, MarkedFiles
from perloc.datasets.threedmatch import Pair, _fragments, check_rigid, read_ply_header, read_ply_xyz

__all__ = ["TRAIN_MARKER", "ThreeDMatchTrain", "match_radius", "read_info_txt"]

LOADER_VERSION = "3dmatch-train-loader-1"
TRAIN_MARKER = ".perloc-3dmatch-train-sim.json"
OVERLAP_RADIUS_M = 0.02
OVERLAP_SAMPLE = 2000


def match_radius(*clouds: np.ndarray, floor: float = OVERLAP_RADIUS_M) -> float:
    """max(floor, 1.5 x the largest median nearest-neighbour spacing of ``clouds``)."""
    spacing = [float(np.median(cKDTree(c).query(c[:OVERLAP_SAMPLE], k=2)[0][:, 1]))
               for c in clouds if len(c) > 1]
    return max([floor] + [1.5 * s for s in spacing])


def read_info_txt(path: Path) -> np.ndarray:
    """The 4 x 4 pose of a ``cloud_bin_<i>.info.txt`` (a header line, then four rows),
    checked rigid; else a UserError naming ``path`` and the line."""
    require_file(path)
    try:
        lines = [(k + 1, line.split()) for k, line in enumerate(path.read_text().splitlines())
                 if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    if len(lines) != 5:
        raise UserError(f"{path}: {len(lines)} non-empty lines, expected 5 (a header and the "
                        "4 x 4 pose)")
    rows = []
    for line, words in lines[1:]:
        try:
            values = [float(w) for w in words]
        except ValueError:
            values = []
        if len(values) != 4 or not np.isfinite(values).all():
            raise UserError(f"{path}:{line}: pose row {' '.join(words)!r} is not four finite "
                            "numbers")
        rows.append(values)
    pose = np.array(rows, dtype=np.float64)
    check_rigid(pose, f"{path}:2")
    return pose


class ThreeDMatchTrain(MarkedFiles):
    """Training scenes under ``root`` (module doc): fragments, poses and overlapping pairs."""

    name = "3dmatch-train"
    loader_version = LOADER_VERSION
    marker = TRAIN_MARKER
    standin = "3dmatch-train-sim (procedural rooms cut into fragments)"

    def __init__(self, root: Path, *, digests: ContentDigests | None = None,
                 flag: str = "--data-root") -> None:
        self.root = dataset_folder(Path(root), flag)
        self.digests = digests if digests is not None else ContentDigests(None)
        self._frags: dict[str, dict[int, Path]] = {}
        self._poses: dict[str, dict[int, np.ndarray]] = {}
        for scene in sorted(p for p in self.root.iterdir()
                            if p.is_dir() and not p.name.startswith(".")):
            frags = _fragments(scene / "01_Data") or _fragments(scene)
            if not frags:
                continue
            self._frags[scene.name] = frags
            self._poses[scene.name] = {}
            for i, ply in frags.items():
                read_ply_header(ply)
                info = ply.with_name(f"cloud_bin_{i}.info.txt")
                self._poses[scene.name][i] = read_info_txt(info)
        if not self._frags:
            raise UserError(f"{flag}: {self.root} holds no training scene with "
                            "cloud_bin_<i>.ply and cloud_bin_<i>.info.txt fragments")

    @property
    def scenes(self) -> tuple[str, ...]:
        return tuple(self._frags)

    def fragments(self, scene: str) -> list[int]:
        return list(self._frags[scene])

    def cloud(self, scene: str, i: int) -> np.ndarray:
        """float64 [N, 3]: fragment ``i`` of ``scene`` in its own frame."""
        return read_ply_xyz(self._frags[scene][i])

    def pose(self, scene: str, i: int) -> np.ndarray:
        """G_i: fragment ``i``'s frame -> the scene's."""
        return self._poses[scene][i]

    def overlapping_pairs(self, scene: str, min_overlap: float = 0.3,
                          radius: float | None = None) -> list[Pair]:
        """Pairs i < j of ``scene`` whose overlap (module doc) reaches ``min_overlap``, with
        T = G_i^-1 G_j."""
        frags = self.fragments(scene)
        world = {i: self._world(scene, i) for i in frags}
        trees = {i: cKDTree(p) for i, p in world.items()}
        radius = match_radius(*world.values()) if radius is None else radius
        probes = {i: p[np.random.default_rng(i).permutation(len(p))[:OVERLAP_SAMPLE]]
                  for i, p in world.items()}
        pairs = []
        for a, i in enumerate(frags):
            for j in frags[a + 1:]:
                near = [np.mean(trees[o].query(probes[s], distance_upper_bound=radius)[0]
                                < radius) for s, o in ((i, j), (j, i))]
                if max(near) >= min_overlap:
                    T = np.linalg.inv(self.pose(scene, i)) @ self.pose(scene, j)
                    pairs.append(Pair(i, j, T))
        return pairs

    def _world(self, scene: str, i: int) -> np.ndarray:
        pose = self.pose(scene, i)
        return self.cloud(scene, i) @ pose[:3, :3].T + pose[:3, 3]

    def files(self) -> list[Path]:
        plys = [p for f in self._frags.values() for p in f.values()]
        return sorted(plys + [p.with_name(p.name[:-4] + ".info.txt") for p in plys])

    @cached_property
    def n_fragments(self) -> dict[str, int]:
        return {s: len(f) for s, f in self._frags.items()}

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version,
                "provenance": self.provenance.__dict__, "scenes": list(self.scenes),
                "n_fragments": self.n_fragments}


register_dataset(DatasetEntry(
    "3dmatch-train", "real", "3DMatch training fragments: PLYs with cloud_bin_<i>.info.txt "
    "poses (the overlapping pairs train the matching descriptors)", adapter=ThreeDMatchTrain))
