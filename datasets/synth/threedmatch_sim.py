"""3dmatch-sim: procedural rooms cut into overlapping fragments, WRITTEN in the 3DMatch layout.

3DMatch cannot be downloaded at run time; this stand-in is written as DIP's copy of the test
set is laid out (spec dold_pointtnt.md §6.2, §7) and read back by
:class:`perloc.datasets.threedmatch.ThreeDMatch`::

    <out>/<scene>/01_Data/cloud_bin_<i>.ply      binary little-endian PLY (plyfile's writer),
                                                 one ``vertex`` element of float x, y, z
    <out>/<scene>/01_Data/gt.log                 3DMatch text format, T maps j into i's frame
    <out>/.perloc-3dmatch-sim.json               marker, written last (poses and overlaps)

``ply="ascii"`` writes ASCII PLYs instead (the spec's stand-in table says ASCII; the real
fragments are binary, and binary is what ``bench data synth`` writes).

**Scenes** (named after the 8 benchmark test scenes, :data:`~perloc.datasets.threedmatch.
TEST_SCENES`, in order; each its own room): a floor and four walls of a W x D x H room
(W U[4, 7] m, D U[3.5, 6] m, H U[2.4, 3]), 4-8 boxes standing on the floor, 2-4 spheres
(on the floor or on a box) and 2-3 vertical cylinders, every surface sampled uniformly by area
into one dense point set of the room (no sensor noise).

**Fragments**: a camera walks through the room (1-1.5 m from the walls' line, 1.2-1.7 m high,
looking 15-30 degrees down); fragment k holds the room's points inside its view cone (30
degrees half-angle, 0.3-4.5 m range; no occlusion). Each step turns and moves the camera so
that the new fragment overlaps the previous one by 35-65 % (overlap = shared points / the
smaller fragment), chosen among candidate steps. A fragment larger than the size's point count
is subsampled to it at random. Each fragment is then expressed in its own random rigid frame
(a uniform random rotation; the origin within 0.3 m of its centroid): pose G_k maps fragment
coordinates to the room, and gt.log holds, for every pair i < j whose overlap is at least
30 % (the benchmark's nominal threshold), T = G_i^-1 G_j. Fragments share **identical** room
points (subsampling aside), so T applied to fragment j puts its shared points onto fragment
i's within float32 rounding (the PLYs are float32; T is written with 9 significant digits).

Sizes: smoke 1 scene x 3 fragments of 3,000 points; default 8 scenes x 10 fragments of
20,000; paper 8 scenes x 20 fragments of 50,000 (the spec gives 1,623 test pairs over the 8
scenes but no fragment count; the real scenes hold 37-66 fragments). Deterministic for a seed;
written atomically through :func:`perloc.datasets.synth.staging.write_folder`.

**Training rooms** (``3dmatch-train-sim``, :func:`write_threedmatch_train_sim`): the same
generator, seeded apart from the test rooms and named after real 3DMatch training scenes
(:data:`TRAIN_SCENES`), written in the toolbox's training layout
(``<scene>/cloud_bin_<i>.ply`` + ``cloud_bin_<i>.info.txt`` holding pose_i) and read by
:class:`perloc.datasets.threedmatch_train.ThreeDMatchTrain`; sizes :data:`TRAIN_SIZES`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import plyfile

from perloc.bench.core.datasets import DatasetEntry, SynthRequest, register_dataset
from perloc.datasets.synth.staging import write_folder, write_marker
from perloc.datasets.threedmatch import MARKER, TEST_SCENES, ThreeDMatch
from perloc.datasets.threedmatch_train import TRAIN_MARKER, ThreeDMatchTrain

__all__ = ["SIZES", "SimSize", "random_rotation", "room_points", "write_threedmatch_sim"]

GENERATOR_VERSION = 1
HALF_ANGLE, NEAR, FAR = np.deg2rad(30), 0.3, 4.5
MIN_OVERLAP = 0.3


@dataclass(frozen=True)
class SimSize:
    name: str
    scenes: int
    fragments: int
    points: int


SIZES = {"smoke": SimSize("smoke", 1, 3, 3_000), "default": SimSize("default", 8, 10, 20_000),
         "paper": SimSize("paper", 8, 20, 50_000)}
TRAIN_SIZES = {"smoke": SimSize("smoke", 1, 3, 3_000),
               "default": SimSize("default", 8, 10, 20_000),
               "paper": SimSize("paper", 14, 20, 50_000)}
# real 3DMatch training scenes (the benchmark has 54), named so the layout reads as the real one
TRAIN_SCENES = ("7-scenes-chess", "7-scenes-fire", "7-scenes-heads", "7-scenes-office",
                "7-scenes-pumpkin", "7-scenes-stairs", "sun3d-brown_bm_1-brown_bm_1",
                "sun3d-brown_bm_4-brown_bm_4", "sun3d-harvard_c11-hv_c11_2",
                "sun3d-hotel_nips2012-nips_4", "sun3d-mit_32_d507-d507_2",
                "rgbd-scenes-v2-scene_01", "analysis-by-synthesis-apt1-kitchen",
                "bundlefusion-apt0")


# ------------------------------------------------------------------------------------- room


def _rect(o, u, v, n, rng):
    a, b = rng.random((2, n, 1))
    return np.asarray(o) + a * np.asarray(u) + b * np.asarray(v)


def _box(lo, hi, n, rng, floor_face=False):
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    h = hi - lo
    faces = np.array([h[1] * h[2], h[1] * h[2], h[0] * h[2], h[0] * h[2], h[0] * h[1],
                      0.0 if not floor_face else h[0] * h[1]])
    face = rng.choice(6, n, p=faces / faces.sum())
    p = lo + rng.random((n, 3)) * h
    axis, top = face // 2, face % 2 == 0
    p[np.arange(n), axis] = np.where(top, hi[axis], lo[axis])
    return p


def _sphere(c, r, n, rng):
    d = rng.standard_normal((n, 3))
    return np.asarray(c) + r * d / np.linalg.norm(d, axis=1, keepdims=True)


def _cylinder(c, r, h, n, rng):
    side, cap = 2 * np.pi * r * h, np.pi * r * r
    on_cap = rng.random(n) < cap / (side + cap)
    t = rng.uniform(0, 2 * np.pi, n)
    rad = np.where(on_cap, r * np.sqrt(rng.random(n)), r)
    z = np.where(on_cap, h, rng.uniform(0, h, n))
    return np.column_stack([c[0] + rad * np.cos(t), c[1] + rad * np.sin(t), z])


def room_points(rng: np.random.Generator, density: float,
                layout: dict | None = None) -> tuple[np.ndarray, dict]:
    """The room's surface points (float64 [M, 3], ``density`` per m²) and its layout (drawn
    from ``rng`` unless given, so one room can be sampled at two densities)."""
    if layout is None:
        W, D, H = rng.uniform(4, 7), rng.uniform(3.5, 6), rng.uniform(2.4, 3.0)
        boxes = []
        for _ in range(rng.integers(4, 9)):
            size = rng.uniform([0.3, 0.3, 0.3], [1.2, 1.0, 1.5])
            lo = rng.uniform([0.1, 0.1], [W - size[0] - 0.1, D - size[1] - 0.1])
            boxes.append([*lo, 0.0, *(lo + size[:2]), size[2]])
        spheres = []
        for _ in range(rng.integers(2, 5)):
            r = rng.uniform(0.15, 0.4)
            if rng.random() < 0.5:
                b = boxes[rng.integers(len(boxes))]
                spheres.append([(b[0] + b[3]) / 2, (b[1] + b[4]) / 2, b[5] + r, r])
            else:
                spheres.append([*rng.uniform([r, r], [W - r, D - r]), r, r])
        cylinders = [[*rng.uniform([0.4, 0.4], [W - 0.4, D - 0.4]), rng.uniform(0.1, 0.3),
                      rng.uniform(0.4, 1.8)] for _ in range(rng.integers(2, 4))]
        layout = {"room": [W, D, H], "boxes": boxes, "spheres": spheres,
                  "cylinders": cylinders}
    W, D, H = layout["room"]

    def count(area: float) -> int:
        return max(1, int(rng.poisson(density * area)))

    parts = [_rect((0, 0, 0), (W, 0, 0), (0, D, 0), count(W * D), rng),
             _rect((0, 0, 0), (W, 0, 0), (0, 0, H), count(W * H), rng),
             _rect((0, D, 0), (W, 0, 0), (0, 0, H), count(W * H), rng),
             _rect((0, 0, 0), (0, D, 0), (0, 0, H), count(D * H), rng),
             _rect((W, 0, 0), (0, D, 0), (0, 0, H), count(D * H), rng)]
    for b in layout["boxes"]:
        h = np.subtract(b[3:], b[:3])
        parts.append(_box(b[:3], b[3:], count(2 * (h[0] * h[2] + h[1] * h[2]) + h[0] * h[1]),
                          rng))
    for *c, r in layout["spheres"]:
        parts.append(_sphere(c, r, count(4 * np.pi * r * r), rng))
    for x, y, r, h in layout["cylinders"]:
        parts.append(_cylinder((x, y), r, h, count(2 * np.pi * r * h + np.pi * r * r), rng))
    return np.concatenate(parts), layout


# ------------------------------------------------------------------------------------- views


def _view(points: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """Indices of the points inside the view cone of ``cam`` = (x, y, z, yaw, pitch)."""
    x, y, z, yaw, pitch = cam
    f = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
    d = points - np.array([x, y, z])
    dist = np.linalg.norm(d, axis=1)
    inside = (dist > NEAR) & (dist < FAR) & (d @ f > np.cos(HALF_ANGLE) * dist)
    return np.flatnonzero(inside)


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Shared indices over the smaller set."""
    return len(np.intersect1d(a, b, assume_unique=True)) / max(1, min(len(a), len(b)))


def _cameras(points: np.ndarray, layout: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` camera poses, each view overlapping the previous one by 35-65 %."""
    W, D, _ = layout["room"]
    lo, hi = np.array([1.0, 1.0]), np.array([W - 1.0, D - 1.0])
    cams = [np.array([*rng.uniform(lo, hi), rng.uniform(1.2, 1.7), rng.uniform(0, 2 * np.pi),
                      -rng.uniform(0.26, 0.52)])]
    views = [_view(points, cams[0])]
    turn = rng.choice([-1.0, 1.0])
    for _ in range(1, n):
        target = rng.uniform(0.4, 0.6)
        best = None
        for step in np.deg2rad(np.arange(10, 75, 5)):
            cam = cams[-1].copy()
            cam[:2] = np.clip(cam[:2] + rng.normal(0, 0.25, 2), lo, hi)
            cam[2] = np.clip(cam[2] + rng.normal(0, 0.05), 1.2, 1.7)
            cam[3] += turn * step
            cam[4] = np.clip(cam[4] + rng.normal(0, 0.05), -0.52, -0.26)
            view = _view(points, cam)
            score = abs(overlap(views[-1], view) - target) if len(view) > 100 else np.inf
            if best is None or score < best[0]:
                best = (score, cam, view)
        cams.append(best[1])
        views.append(best[2])
    return np.array(cams)


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniform random proper rotation (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


# ------------------------------------------------------------------------------------- files


def write_ply(path: Path, xyz: np.ndarray, text: bool = False) -> None:
    """x, y, z as float32 vertices, binary little endian (or ASCII with ``text``)."""
    rows = np.empty(len(xyz), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    rows["x"], rows["y"], rows["z"] = xyz.T
    plyfile.PlyData([plyfile.PlyElement.describe(rows, "vertex")], text=text,
                    byte_order="<").write(str(path))


def write_info_txt(path: Path, scene: str, k: int, pose: np.ndarray) -> None:
    """The toolbox's fragment info: a header line (scene, fragment, frame), then the pose."""
    with path.open("w") as out:
        out.write(f"{scene}\t{k}\t{50 * k}\n")
        for row in pose:
            out.write("\t".join(f"{v:.8e}" for v in row) + "\t\n")


def write_gt_log(path: Path, pairs: list[tuple[int, int, np.ndarray]], n: int) -> None:
    """3DMatch text format: ``i\\tj\\tn`` then four tab-separated rows (trailing tab)."""
    with path.open("w") as out:
        for i, j, T in pairs:
            out.write(f"{i}\t{j}\t{n}\n")
            for row in T:
                out.write("\t".join(f"{v:.8e}" for v in row) + "\t\n")


def _fragments(folder: Path, size: SimSize, rng: np.random.Generator, text: bool):
    """Write one room's fragments to ``folder`` (each in its own random frame); their views,
    poses and the marker fields."""
    coarse, layout = room_points(rng, 600.0)
    cams = _cameras(coarse, layout, size.fragments, rng)
    fewest = min(len(_view(coarse, c)) for c in cams)
    density = 600.0 * max(1.0, 1.3 * size.points / max(fewest, 1))
    points, _ = room_points(rng, density, layout)
    views = [_view(points, c) for c in cams]
    folder.mkdir(parents=True)
    poses, kept = [], []
    for k, view in enumerate(views):
        keep = np.sort(rng.choice(view, size.points, replace=False)) if len(view) > size.points \
            else view
        world = points[keep]
        R, origin = random_rotation(rng), world.mean(axis=0) + rng.uniform(-0.3, 0.3, 3)
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = R, origin
        write_ply(folder / f"cloud_bin_{k}.ply", (world - origin) @ R, text)
        poses.append(pose)
        kept.append(len(keep))
    fields = {"layout": layout, "density": round(density, 1), "points": kept,
              "cameras": np.round(cams, 6).tolist(), "poses": [p.tolist() for p in poses]}
    return views, poses, fields


def write_scene(folder: Path, size: SimSize, rng: np.random.Generator, text: bool) -> dict:
    """Write one test scene's fragments and gt.log; its marker entry."""
    views, poses, fields = _fragments(folder / "01_Data", size, rng, text)
    pairs, overlaps = [], {}
    for i in range(len(views)):
        for j in range(i + 1, len(views)):
            ov = overlap(views[i], views[j])
            if ov >= MIN_OVERLAP:
                pairs.append((i, j, np.linalg.inv(poses[i]) @ poses[j]))
                overlaps[f"{i},{j}"] = round(ov, 4)
    write_gt_log(folder / "01_Data" / "gt.log", pairs, len(views))
    return {**fields, "overlaps": overlaps}


def write_training_scene(folder: Path, size: SimSize, rng: np.random.Generator) -> dict:
    """Write one training scene: fragments with ``cloud_bin_<i>.info.txt`` poses."""
    views, poses, fields = _fragments(folder, size, rng, False)
    for k, pose in enumerate(poses):
        write_info_txt(folder / f"cloud_bin_{k}.info.txt", folder.name, k, pose)
    overlaps = {f"{i},{j}": round(overlap(views[i], views[j]), 4)
                for i in range(len(views)) for j in range(i + 1, len(views))}
    return {**fields, "overlaps": overlaps}


def sim_version(size: SimSize, seed: int, ply: str) -> str:
    blob = json.dumps([GENERATOR_VERSION, asdict(size), seed, ply], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def write_threedmatch_sim(out_root: Path | str, size: SimSize | str = "default", seed: int = 0,
                          ply: str = "binary_little_endian") -> Path:
    """Write 3dmatch-sim of ``size`` to ``out_root`` (atomically; a no-op when up to date).
    ``ply``: ``binary_little_endian`` or ``ascii``."""
    size = SIZES[size] if isinstance(size, str) else size
    if ply not in ("binary_little_endian", "ascii"):
        raise ValueError(f"ply must be binary_little_endian or ascii, not {ply!r}")
    if size.scenes > len(TEST_SCENES):
        raise ValueError(f"at most {len(TEST_SCENES)} scenes")
    version = sim_version(size, seed, ply)

    def generate(tmp: Path) -> None:
        scenes = {name: write_scene(tmp / name, size, np.random.default_rng([seed, k]),
                                    ply == "ascii")
                  for k, name in enumerate(TEST_SCENES[:size.scenes])}
        write_marker(tmp, MARKER, version=version, generator_version=GENERATOR_VERSION,
                     seed=seed, size=asdict(size), ply=ply,
                     convention="T = inv(pose_i) @ pose_j maps fragment j into i's frame; "
                                   "pose_k maps fragment k to room coordinates",
                     scenes=scenes)

    return write_folder(out_root, MARKER, version, generate)


def write_threedmatch_train_sim(out_root: Path | str, size: SimSize | str = "default",
                                seed: int = 0) -> Path:
    """Write 3dmatch-train-sim of ``size`` (:data:`TRAIN_SIZES`) to ``out_root``: training
    rooms (seeded apart from the test rooms) in the toolbox's training layout, each fragment
    with its ``cloud_bin_<i>.info.txt`` pose (atomically; a no-op when up to date)."""
    size = TRAIN_SIZES[size] if isinstance(size, str) else size
    if size.scenes > len(TRAIN_SCENES):
        raise ValueError(f"at most {len(TRAIN_SCENES)} training scenes")
    version = sim_version(size, seed, "train")

    def generate(tmp: Path) -> None:
        scenes = {name: write_training_scene(tmp / name, size,
                                             np.random.default_rng([seed, 1000 + k]))
                  for k, name in enumerate(TRAIN_SCENES[:size.scenes])}
        write_marker(tmp, TRAIN_MARKER, version=version, generator_version=GENERATOR_VERSION,
                     seed=seed, size=asdict(size),
                     convention="cloud_bin_<i>.info.txt holds pose_i: fragment i -> room",
                     scenes=scenes)

    return write_folder(out_root, TRAIN_MARKER, version, generate)


def _synth(request: SynthRequest) -> Path:
    """``bench data synth 3dmatch-sim``."""
    return write_threedmatch_sim(request.out, request.size, seed=request.seed)


def _synth_train(request: SynthRequest) -> Path:
    """``bench data synth 3dmatch-train-sim``."""
    return write_threedmatch_train_sim(request.out, request.size, seed=request.seed)


register_dataset(DatasetEntry(
    "3dmatch-sim", "stand-in", "Procedural rooms cut into overlapping fragments in random "
    "frames, in the 3DMatch test layout with gt.log (stands in for 3dmatch)",
    adapter=ThreeDMatch, synth=_synth, sizes=tuple(SIZES)))
register_dataset(DatasetEntry(
    "3dmatch-train-sim", "stand-in", "Procedural training rooms cut into overlapping "
    "fragments with cloud_bin_<i>.info.txt poses (stands in for 3dmatch-train)",
    adapter=ThreeDMatchTrain, synth=_synth_train, sizes=tuple(TRAIN_SIZES)))
