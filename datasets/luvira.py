"""LuViRA audio-only recordings (Paper VII): one folder per trajectory, published or [R-sfs].

Each trajectory folder is read in the layout it has (:mod:`perloc.datasets.luvira_layouts`,
detected per folder by ``info.json``): the **published** LuViRA layout (``Track 1.wav`` ..
``Track 12.wav``, optional ``Sync.wav``, one processed ground-truth ``*.csv`` with
``timestamps, X, Y, Z, Roll, Pitch, Yaw, Residual, Rot[0..8]``; the static microphones at the
published coordinates of spec section 5.1) or the **[R-sfs]** layout (``info.json``, ``Track
<i>.wav``, ``gt_positions.csv`` with per-frame mic and speaker columns). Both give the same
frames for the same content.

Trajectories are ``music0001`` ... ``music0004`` and ``speech0001`` ... ``speech0004``; the last
track is the microphone next to the loudspeaker (the source signal s_0), the others are the
static microphones. Motion capture is in millimetres (the [R-sfs] ``info.json`` may say
``"position_unit": "m"``) and checked against the known microphone coordinates. The speaker
position is interpolated linearly to every frame centre, except across a motion-capture gap
(occluded rows) longer than ``MAX_GT_GAP_S`` (0.5 s: a walking speaker moves up to half a
metre in it, more than the 30 cm accuracy radius), where the frame has no position.

Audio is resampled to 16 kHz and cut into frames of N = 2048 samples with hop ``hop``
(default 2048; the paper does not state its hop). A frame is silent, and dropped, when its
power averaged over the static microphones lies more than ``silence_db`` (default 30 dB) below
the 95th percentile of the trajectory's frame powers (the paper's threshold is not stated).
Splits are by trajectory: ``test_index`` k holds out musicK and speechK (default 3, the
paper's main split; Table 7 uses the others).

Constructing :class:`Luvira` checks every trajectory the ssl task reads (test and training)
without decoding audio: the layout's files, each track's header (rate, channels, length, all
tracks of a trajectory equally long and at least one frame), the ground truth, the same
number of microphones in all eight, units against the known layout (a file in metres read as
millimetres is 1000x off), and ground-truth coverage: a frame whose centre the motion capture
does not cover is dropped, and when more than ``MAX_OUTSIDE_GT`` (10 %) of the frames a
trajectory's audio spans are dropped so, that is an error naming the ground-truth file
(shifted or truncated mocap, wrong time unit); fewer is a logged warning, and
``frames_outside_gt`` in ``describe()``. Any bad file is one ``UserError`` naming it, before a
run plans a cell.

``version`` digests every file of the eight trajectory folders by content
(:class:`perloc.datasets.digest.ContentDigests`, remembered under the cache), so a file changed
in place gives a new version, never a stale cached result.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import Provenance
from perloc.datasets.audio import dataset_folder
from perloc.datasets.digest import ContentDigests
from perloc.datasets.luvira_layouts import (
    FRAME,
    LUVIRA_MICS_MM,
    SAMPLE_RATE,
    Layout,
    read_layout,
    read_tracks,
    resampled_length,
)

__all__ = ["FRAME", "LUVIRA_MICS_MM", "SAMPLE_RATE", "Frames", "Layout", "Luvira", "Recording"]

log = logging.getLogger(__name__)

LOADER_VERSION = "luvira-loader-3"
MAX_OUTSIDE_GT = 0.10  # share of a trajectory's frames the ground truth may leave uncovered
MAX_GT_GAP_S = 0.5  # no interpolation across a longer motion-capture gap
STANDIN_MARKER = ".perloc-luvira-sim.json"
TRAJECTORIES = tuple(f"{kind}{k:04d}" for kind in ("music", "speech") for k in range(1, 5))
SIM_ROOM_DIMS = (7.0, 8.0, 2.0)  # Paper VII's simulation room around the LuViRA array


def simulation_room_origin(mic_pos: np.ndarray, dims=SIM_ROOM_DIMS) -> np.ndarray:
    """Corner (mocap frame, metres) of the simulation room: the array's x/y extent centred in
    the floor, floor at z = 0 (the paper gives no placement)."""
    mic_pos = np.asarray(mic_pos, dtype=np.float64)
    lo, hi = mic_pos[:, :2].min(axis=0), mic_pos[:, :2].max(axis=0)
    return np.array([*((lo + hi - np.asarray(dims[:2])) / 2), 0.0])


@dataclass
class Recording:
    """One trajectory at 16 kHz: static mics, source mic, positions in metres."""

    name: str
    mics: np.ndarray  # [M, T] float32
    source: np.ndarray  # [T] float32 (the microphone next to the loudspeaker)
    mic_pos: np.ndarray  # [M, 3]
    gt_time: np.ndarray  # [K] seconds
    gt_speaker: np.ndarray  # [K, 3]

    def speaker_at(self, t: np.ndarray) -> np.ndarray:
        """Speaker positions [len(t), 3] interpolated linearly (NaN outside the mocap span and
        inside gaps between finite rows longer than ``MAX_GT_GAP_S``)."""
        return interpolate_speaker(self.gt_time, self.gt_speaker, t)


def interpolate_speaker(gt_time: np.ndarray, gt_speaker: np.ndarray,
                        t: np.ndarray) -> np.ndarray:
    """See :meth:`Recording.speaker_at`."""
    t = np.asarray(t, dtype=np.float64)
    ok = np.isfinite(gt_speaker).all(axis=1)
    time, pos = gt_time[ok], gt_speaker[ok]
    out = np.stack([np.interp(t, time, pos[:, k]) for k in range(3)], axis=1)
    after = np.clip(np.searchsorted(time, t), 1, len(time) - 1)
    in_gap = (time[after] - time[after - 1] > MAX_GT_GAP_S) & (t > time[after - 1]) \
        & (t < time[after])
    out[(t < time[0]) | (t > time[-1]) | in_gap] = np.nan
    return out


@dataclass
class Frames:
    """Non-silent frames of one or more trajectories."""

    signals: np.ndarray  # [F, M, N]
    source: np.ndarray  # [F, N]
    position: np.ndarray  # [F, 3]
    mic_pos: np.ndarray  # [F, M, 3]
    time: np.ndarray  # [F] frame centre, seconds
    trajectory: np.ndarray  # [F] names

    def __len__(self) -> int:
        return len(self.time)

    @staticmethod
    def concat(parts: list[Frames]) -> Frames:
        return Frames(*(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("signals", "source", "position", "mic_pos", "time", "trajectory")))


def frame_starts(samples_16k: int, frame: int, hop: int) -> np.ndarray:
    """Start samples of the frames a 16 kHz signal of ``samples_16k`` samples spans."""
    return np.arange(0, samples_16k - frame + 1, hop)


def frame_power_db(signals: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Mean power (dB) over channels of each frame of ``signals [M, T]``."""
    starts = frame_starts(signals.shape[1], frame, hop)
    windows = np.lib.stride_tricks.sliding_window_view(signals, frame, axis=1)[:, starts]
    power = np.mean(windows.astype(np.float64) ** 2, axis=(0, 2))
    return 10.0 * np.log10(power + 1e-20)


_WARNED: set[tuple[str, int]] = set()  # (gt file, frames outside) already logged here


def check_trajectory(folder: Path, hop: int = FRAME) -> Layout:
    """Everything of one trajectory but its audio samples, in the layout it has; bad input is
    one UserError naming the file. Logs a warning when some (at most ``MAX_OUTSIDE_GT``)
    frames lack a position."""
    layout = read_layout(folder)
    time, speaker, csv = layout.gt_time, layout.gt_speaker, layout.gt_file
    samples, rate = layout.samples, layout.rate
    centres = (frame_starts(resampled_length(samples, rate), FRAME, hop) + FRAME / 2) / SAMPLE_RATE
    outside = int((~np.isfinite(interpolate_speaker(time, speaker, centres)).all(axis=1)).sum())
    finite = time[np.isfinite(speaker).all(axis=1)]
    share = outside / len(centres)
    if outside:
        what = (f"{outside} of the {len(centres)} frames of the audio (0-{samples / rate:.2f} s) "
                f"have no ground-truth position (motion capture {finite[0]:.2f}-{finite[-1]:.2f} "
                f"s, gaps over {MAX_GT_GAP_S:g} s not interpolated): {100 * share:.1f} %")
        if share > MAX_OUTSIDE_GT:
            raise UserError(f"{csv}: {what}, more than {100 * MAX_OUTSIDE_GT:g} % (mocap times "
                            "shifted or truncated?)")
        if (str(csv), outside) not in _WARNED:
            _WARNED.add((str(csv), outside))
            log.warning("%s: %s; those frames are dropped", csv, what)
    return dataclasses.replace(layout, n_frames=len(centres), outside_gt=outside)


class Luvira:
    """The eight audio-only LuViRA trajectories under ``root`` (real or the luvira-sim stand-in).

    ``digests`` remembers file content digests (e.g. under the cache); without it they are
    computed in this process."""

    name = "luvira"

    def __init__(self, root: Path, *, hop: int = FRAME, silence_db: float = 30.0,
                 test_index: int = 3, digests: ContentDigests | None = None,
                 flag: str = "--data-root") -> None:
        self.root = dataset_folder(Path(root), flag)
        if test_index not in (1, 2, 3, 4):
            raise UserError(f"test_index must be 1..4, got {test_index!r}")
        if isinstance(hop, bool) or not isinstance(hop, int) or hop <= 0:
            raise UserError(f"hop must be a positive integer, got {hop!r}")
        self.hop, self.silence_db, self.test_index = hop, silence_db, test_index
        self.digests = digests if digests is not None else ContentDigests(None)
        self._recordings: dict[str, Recording] = {}
        self.layouts = {name: check_trajectory(self.folder(name), hop) for name in TRAJECTORIES}
        self._check_consistent()

    def _check_consistent(self) -> None:
        """The trajectories agree on the number of microphones (training mixes them); the odd
        one is named (its info.json, or its folder in the published layout)."""
        common = Counter(layout.n_mics for layout in self.layouts.values()).most_common(1)[0][0]
        for layout in self.layouts.values():
            if layout.n_mics != common:
                what = "number_of_mics" if layout.kind == "r-sfs" else "tracks"
                raise UserError(f"{layout.count_file}: {what} {layout.n_mics} where the other "
                                f"trajectories have {common}")

    @property
    def n_static(self) -> int:
        """Static microphones per trajectory (all trajectories agree)."""
        return next(iter(self.layouts.values())).n_mics - 1

    def splits(self) -> dict[str, tuple[str, ...]]:
        test = (f"music{self.test_index:04d}", f"speech{self.test_index:04d}")
        return {"train": tuple(t for t in TRAJECTORIES if t not in test), "test": test}

    def folder(self, name: str) -> Path:
        folder = self.root / name
        if not folder.is_dir():
            raise UserError(f"{folder}: trajectory folder not found")
        return folder

    def files(self) -> list[Path]:
        """Every file of the eight trajectory folders (what ``version`` digests)."""
        return [path for name in TRAJECTORIES for path in sorted(self.folder(name).iterdir())
                if path.is_file()]

    @cached_property
    def version(self) -> str:
        return self.digests.version(self.root, self.files(),
                                    extra=(LOADER_VERSION, self.hop, self.silence_db))

    @cached_property
    def provenance(self) -> Provenance:
        synthetic = (self.root / STANDIN_MARKER).is_file()
        return Provenance("synthetic" if synthetic else "real", str(self.root),
                          len(TRAJECTORIES), "luvira-sim (pyroomacoustics)" if synthetic else "")

    def frames_outside_gt(self) -> dict[str, int]:
        """Per trajectory: frames dropped because the ground truth does not cover them."""
        return {name: layout.outside_gt for name, layout in self.layouts.items()}

    def recording(self, name: str) -> Recording:
        if name not in self._recordings:
            layout = self.layouts[name]
            audio = read_tracks(layout)
            self._recordings[name] = Recording(name, audio[:-1], audio[-1], layout.mic_pos,
                                               layout.gt_time, layout.gt_speaker)
        return self._recordings[name]

    def frames(self, name: str, frame: int = FRAME) -> Frames:
        """The non-silent frames of one trajectory with their interpolated speaker positions."""
        rec = self.recording(name)
        power = frame_power_db(rec.mics, frame, self.hop)
        starts = np.arange(len(power)) * self.hop
        centre = (starts + frame / 2) / SAMPLE_RATE
        position = rec.speaker_at(centre)
        keep = (power >= np.percentile(power, 95) - self.silence_db) & np.isfinite(position).all(1)
        starts = starts[keep]
        index = starts[:, None] + np.arange(frame)
        return Frames(
            signals=np.ascontiguousarray(rec.mics[:, index].transpose(1, 0, 2)),
            source=rec.source[index], position=position[keep].astype(np.float32),
            mic_pos=np.broadcast_to(rec.mic_pos, (len(starts), *rec.mic_pos.shape)).astype(
                np.float32),
            time=centre[keep], trajectory=np.full(len(starts), name))

    def split_frames(self, split: str) -> Frames:
        if split not in self.splits():
            raise UserError(f"unknown split {split!r} (train, test)")
        return Frames.concat([self.frames(name) for name in self.splits()[split]])


def check_root(root: Path) -> CheckReport:
    """``bench data check luvira``: layout, ground-truth file, split, length and non-silent
    frames per trajectory."""
    data = Luvira(root, flag="--root")
    rows = []
    for name in TRAJECTORIES:
        frames = data.frames(name)
        rec = data.recording(name)
        split = "test" if name in data.splits()["test"] else "train"
        layout = data.layouts[name]
        rows.append([name, layout.kind, layout.gt_file.name, split,
                     f"{rec.mics.shape[1] / SAMPLE_RATE:.1f}", len(frames), layout.outside_gt])
    return CheckReport(f"{data.root}: {data.provenance.kind}, version {data.version}", rows,
                       ["trajectory", "layout", "ground truth", "split", "seconds",
                        "non-silent frames", "frames without ground truth"])


register_dataset(DatasetEntry(
    "luvira", "real", "LuViRA audio-only: 8 trajectories, 12 mics at 96 kHz, motion capture",
    adapter=Luvira, check=check_root))
