"""LuViRA audio-only recordings (Paper VII): one folder per trajectory, in the [R-sfs] layout.

On disk (spec tdoa_ssl.md section 5.1)::

    <root>/<trajectory>/info.json          {"sampling_rate": 96000, "number_of_mics": 12, ...}
    <root>/<trajectory>/Track <i>.wav      i = 1 .. number_of_mics, mono, all the same length
    <root>/<trajectory>/gt_positions.csv   time, mic<i>_x/_y/_z (static mics), speaker_x/_y/_z

Trajectories are ``music0001`` ... ``music0004`` and ``speech0001`` ... ``speech0004``; the last
track is the microphone next to the loudspeaker (the source signal s_0), the others are the
static microphones. Motion-capture coordinates are millimetres unless ``info.json`` says
``"position_unit": "m"``. A static microphone's position is the median of its finite rows;
the speaker position is interpolated linearly to every frame centre.

Audio is resampled to 16 kHz and cut into frames of N = 2048 samples with hop ``hop``
(default 2048; the paper does not state its hop). A frame is silent, and dropped, when its
power averaged over the static microphones lies more than ``silence_db`` (default 30 dB) below
the 95th percentile of the trajectory's frame powers (the paper's threshold is not stated).
Splits are by trajectory: ``test_index`` k holds out musicK and speechK (default 3, the
paper's main split; Table 7 uses the others).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from math import gcd
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import resample_poly

from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import Provenance
from perloc.datasets.audio import read_audio

SAMPLE_RATE = 16_000
FRAME = 2048
LOADER_VERSION = "luvira-loader-1"
STANDIN_MARKER = ".perloc-luvira-sim.json"
TRAJECTORIES = tuple(f"{kind}{k:04d}" for kind in ("music", "speech") for k in range(1, 5))
UNITS = {"mm": 1e-3, "m": 1.0}
# Static microphone positions (mm, LuViRA mocap frame, mean over the Grid1 trajectory) from the
# dataset's microphone_locations.txt; mic 2's z is printed "047.4" there and read as 1047.4.
LUVIRA_MICS_MM = (
    (2446.5, 1739.8, 1153.7), (2878.1, -648.5, 1047.4), (1328.0, -3133.2, 1565.3),
    (-1055.9, -3545.7, 1108.2), (-3076.5, -59.0, 1371.5), (-2411.9, 2477.2, 1545.0),
    (2227.6, -756.3, 213.5), (1789.8, -2376.1, 204.7), (50.2, -3358.9, 212.7),
    (-1920.6, -2820.5, 144.3), (-2923.7, 718.4, 147.0),
)


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
        """Speaker positions [len(t), 3] interpolated linearly (NaN outside the mocap span)."""
        ok = np.isfinite(self.gt_speaker).all(axis=1)
        time, pos = self.gt_time[ok], self.gt_speaker[ok]
        out = np.stack([np.interp(t, time, pos[:, k]) for k in range(3)], axis=1)
        out[(t < time[0]) | (t > time[-1])] = np.nan
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


def _read_info(folder: Path) -> dict:
    path = folder / "info.json"
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        info = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: malformed JSON ({exc})") from None
    if not isinstance(info, dict):
        raise UserError(f"{path}: expected a JSON object")
    for key in ("sampling_rate", "number_of_mics"):
        value = info.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise UserError(f"{path}: '{key}' must be a positive integer, got {value!r}")
    if info["number_of_mics"] < 6:
        raise UserError(f"{path}: number_of_mics {info['number_of_mics']} < 6 (5 static + source)")
    if info.get("position_unit", "mm") not in UNITS:
        raise UserError(f"{path}: position_unit must be one of {sorted(UNITS)}")
    return info


def _read_tracks(folder: Path, info: dict) -> np.ndarray:
    rate, n = info["sampling_rate"], info["number_of_mics"]
    tracks = [read_audio(folder / f"Track {i}.wav", rate) for i in range(1, n + 1)]
    lengths = {len(t) for t in tracks}
    if len(lengths) > 1:
        raise UserError(f"{folder}: tracks differ in length ({min(lengths)} to {max(lengths)} "
                        "samples); the microphones must be synchronised")
    audio = np.stack(tracks)
    if rate != SAMPLE_RATE:
        g = gcd(SAMPLE_RATE, rate)
        audio = resample_poly(audio, SAMPLE_RATE // g, rate // g, axis=1)
    return audio.astype(np.float32)


def _read_positions(folder: Path, n_static: int, unit: float) -> tuple[np.ndarray, ...]:
    path = folder / "gt_positions.csv"
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: malformed CSV ({str(exc).splitlines()[0]})") from None
    mic_cols = [f"mic{i}_{a}" for i in range(1, n_static + 1) for a in "xyz"]
    needed = ["time", *mic_cols, "speaker_x", "speaker_y", "speaker_z"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise UserError(f"{path}: missing columns {', '.join(missing[:6])}"
                        f"{' ...' if len(missing) > 6 else ''}")
    try:
        values = table[needed].astype(np.float64).to_numpy()
    except (ValueError, TypeError):
        raise UserError(f"{path}: non-numeric values in the position columns") from None
    time = values[:, 0]
    if len(time) < 2 or not np.isfinite(time).all() or np.any(np.diff(time) <= 0):
        raise UserError(f"{path}: 'time' must be finite and strictly increasing (>= 2 rows)")
    mics = values[:, 1:1 + 3 * n_static].reshape(len(time), n_static, 3) * unit
    with np.errstate(all="ignore"):
        mic_pos = np.nanmedian(np.where(np.isfinite(mics), mics, np.nan), axis=0)
    if not np.isfinite(mic_pos).all():
        raise UserError(f"{path}: a microphone has no finite position")
    speaker = values[:, -3:] * unit
    if np.isfinite(speaker).all(axis=1).sum() < 2:
        raise UserError(f"{path}: fewer than two finite speaker positions")
    return mic_pos, time, speaker


def frame_power_db(signals: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Mean power (dB) over channels of each frame of ``signals [M, T]``."""
    starts = np.arange(0, signals.shape[1] - frame + 1, hop)
    windows = np.lib.stride_tricks.sliding_window_view(signals, frame, axis=1)[:, starts]
    power = np.mean(windows.astype(np.float64) ** 2, axis=(0, 2))
    return 10.0 * np.log10(power + 1e-20)


class Luvira:
    """The eight audio-only LuViRA trajectories under ``root`` (real or the luvira-sim stand-in)."""

    name = "luvira"

    def __init__(self, root: Path, *, hop: int = FRAME, silence_db: float = 30.0,
                 test_index: int = 3) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise UserError(f"--data-root: {self.root} does not exist")
        if test_index not in (1, 2, 3, 4):
            raise UserError(f"test_index must be 1..4, got {test_index!r}")
        self.hop, self.silence_db, self.test_index = hop, silence_db, test_index
        self._recordings: dict[str, Recording] = {}

    def splits(self) -> dict[str, tuple[str, ...]]:
        test = (f"music{self.test_index:04d}", f"speech{self.test_index:04d}")
        return {"train": tuple(t for t in TRAJECTORIES if t not in test), "test": test}

    def folder(self, name: str) -> Path:
        folder = self.root / name
        if not folder.is_dir():
            raise UserError(f"{folder}: trajectory folder not found")
        return folder

    @cached_property
    def version(self) -> str:
        digest = hashlib.sha1(f"{LOADER_VERSION}|{self.hop}|{self.silence_db}".encode())
        for name in TRAJECTORIES:
            for path in sorted(self.folder(name).iterdir()):
                if path.is_file():
                    digest.update(f"{name}/{path.name}:{path.stat().st_size}".encode())
        return digest.hexdigest()[:12]

    @cached_property
    def provenance(self) -> Provenance:
        synthetic = (self.root / STANDIN_MARKER).is_file()
        return Provenance("synthetic" if synthetic else "real", str(self.root),
                          len(TRAJECTORIES), "luvira-sim (pyroomacoustics)" if synthetic else "")

    def recording(self, name: str) -> Recording:
        if name not in self._recordings:
            folder = self.folder(name)
            info = _read_info(folder)
            audio = _read_tracks(folder, info)
            unit = UNITS[info.get("position_unit", "mm")]
            mic_pos, time, speaker = _read_positions(folder, info["number_of_mics"] - 1, unit)
            self._recordings[name] = Recording(name, audio[:-1], audio[-1], mic_pos, time, speaker)
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
    """``bench data check luvira``: split, length and non-silent frames per trajectory."""
    data = Luvira(root)
    rows = []
    for name in TRAJECTORIES:
        frames = data.frames(name)
        rec = data.recording(name)
        split = "test" if name in data.splits()["test"] else "train"
        rows.append([name, split, f"{rec.mics.shape[1] / SAMPLE_RATE:.1f}", len(frames)])
    return CheckReport(f"{data.root}: {data.provenance.kind}, version {data.version}", rows,
                       ["trajectory", "split", "seconds", "non-silent frames"])


register_dataset(DatasetEntry(
    "luvira", "real", "LuViRA audio-only: 8 trajectories, 12 mics at 96 kHz, motion capture",
    adapter=Luvira, check=check_root))
