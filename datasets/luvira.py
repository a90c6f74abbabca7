"""LuViRA audio-only recordings (Paper VII): one folder per trajectory, in the [R-sfs] layout.

On disk (spec tdoa_ssl.md section 5.1)::

    <root>/<trajectory>/info.json          {"sampling_rate": 96000, "number_of_mics": 12, ...}
    <root>/<trajectory>/Track <i>.wav      i = 1 .. number_of_mics, mono, all the same length
    <root>/<trajectory>/gt_positions.csv   time, mic<i>_x/_y/_z (static mics), speaker_x/_y/_z

Trajectories are ``music0001`` ... ``music0004`` and ``speech0001`` ... ``speech0004``; the last
track is the microphone next to the loudspeaker (the source signal s_0), the others are the
static microphones. Motion-capture coordinates are millimetres unless ``info.json`` says
``"position_unit": "m"``. A static microphone's position is the median of its finite rows;
the speaker position is interpolated linearly to every frame centre, except across a
motion-capture gap longer than ``MAX_GT_GAP_S`` (0.5 s: a walking speaker moves up to half a
metre in it, more than the 30 cm accuracy radius), where the frame has no position.

Audio is resampled to 16 kHz and cut into frames of N = 2048 samples with hop ``hop``
(default 2048; the paper does not state its hop). A frame is silent, and dropped, when its
power averaged over the static microphones lies more than ``silence_db`` (default 30 dB) below
the 95th percentile of the trajectory's frame powers (the paper's threshold is not stated).
Splits are by trajectory: ``test_index`` k holds out musicK and speechK (default 3, the
paper's main split; Table 7 uses the others).

Constructing :class:`Luvira` checks every trajectory the ssl task reads (test and training)
without decoding audio: ``info.json``, each track's header (rate, channels, length, all tracks
of a trajectory equally long and at least one frame), ``gt_positions.csv``, the same
``number_of_mics`` in all eight, plausible positions for the unit (the static array must span
0.1-100 m: millimetre values read as metres, or the reverse, are 1000x off), and ground-truth
coverage: a frame whose centre the motion capture does not cover is dropped, and when more than
``MAX_OUTSIDE_GT`` (10 %) of the frames a trajectory's audio spans are dropped so, that is an
error naming ``gt_positions.csv`` (shifted or truncated mocap, wrong time unit); fewer is a
logged warning, and ``frames_outside_gt`` in ``describe()``. Any bad file is one ``UserError``
naming it, before a run plans a cell.

``version`` digests every file of the eight trajectory folders by content
(:class:`perloc.datasets.digest.ContentDigests`, remembered under the cache), so a file changed
in place gives a new version, never a stale cached result.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from math import gcd
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy.signal import resample_poly

from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import Provenance
from perloc.datasets.audio import dataset_folder, read_audio
from perloc.datasets.digest import ContentDigests

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
FRAME = 2048
LOADER_VERSION = "luvira-loader-2"
MAX_OUTSIDE_GT = 0.10  # share of a trajectory's frames the ground truth may leave uncovered
MAX_GT_GAP_S = 0.5  # no interpolation across a longer motion-capture gap
ARRAY_SPAN_M = (0.1, 100.0)  # plausible largest distance between two static microphones
SPEAKER_RANGE_M = 100.0  # plausible largest distance of the speaker from the array's centre
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


@dataclass(frozen=True)
class Layout:
    """What constructing :class:`Luvira` checked of one trajectory (no audio decoded)."""

    name: str
    info: dict
    tracks: tuple[Path, ...]
    samples: int  # per track, at the file's rate
    mic_pos: np.ndarray  # [M, 3] metres
    gt_time: np.ndarray  # [K]
    gt_speaker: np.ndarray  # [K, 3] metres
    n_frames: int  # frames the audio spans (at the loader's hop)
    outside_gt: int  # of those, frames whose centre has no ground-truth position


def _read_info(folder: Path) -> dict:
    path = folder / "info.json"
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
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


def _resampled_length(samples: int, rate: int) -> int:
    """Samples at 16 kHz after ``resample_poly`` (ceil(n * up / down))."""
    g = gcd(SAMPLE_RATE, rate)
    return -(-samples * (SAMPLE_RATE // g) // (rate // g))


def _track_lengths(folder: Path, info: dict) -> tuple[tuple[Path, ...], int]:
    """The track paths and their common length, from the headers: one rate, mono, equally
    long (the odd one named), at least one frame at 16 kHz."""
    rate, n = info["sampling_rate"], info["number_of_mics"]
    paths = tuple(folder / f"Track {i}.wav" for i in range(1, n + 1))
    lengths = []
    for path in paths:
        if not path.is_file():
            raise UserError(f"{path}: file not found")
        with path.open("rb") as handle:
            magic = handle.read(12)
        if magic[:4] not in (b"RIFF", b"RIFX", b"RF64") or magic[8:12] != b"WAVE":
            raise UserError(f"{path}: not a WAV file (no RIFF/WAVE header)")
        try:
            header = sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            text = str(exc).strip().splitlines()
            raise UserError(f"{path}: cannot decode audio ({text[0] if text else 'bad header'})"
                            ) from None
        if header.samplerate != rate:
            raise UserError(f"{path}: sample rate {header.samplerate} Hz, expected {rate} Hz "
                            f"(info.json)")
        if header.channels != 1:
            raise UserError(f"{path}: {header.channels} channels, expected 1")
        if header.frames <= 0:
            raise UserError(f"{path}: no audio samples")
        lengths.append(int(header.frames))
    common = Counter(lengths).most_common(1)[0][0]
    for path, length in zip(paths, lengths, strict=True):
        if length != common:
            raise UserError(f"{path}: {length} samples where the other tracks have {common}"
                            f"{' (truncated?)' if length < common else ''}; the microphones "
                            "must be synchronised")
    if _resampled_length(common, rate) < FRAME:
        raise UserError(f"{paths[0]}: the tracks last {1000 * common / rate:.0f} ms, shorter than "
                        f"one {FRAME}-sample frame at {SAMPLE_RATE // 1000} kHz "
                        f"({1000 * FRAME / SAMPLE_RATE:.0f} ms)")
    return paths, common


def _read_tracks(layout: Layout) -> np.ndarray:
    rate = layout.info["sampling_rate"]
    tracks = [read_audio(path, rate) for path in layout.tracks]
    for path, track in zip(layout.tracks, tracks, strict=True):
        if len(track) != layout.samples:
            raise UserError(f"{path}: decoded {len(track)} samples, its header says "
                            f"{layout.samples}")
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
        table = pd.read_csv(path, encoding="utf-8")
    except (ValueError, OverflowError) as exc:  # parser, empty, encoding errors
        text = str(exc).strip().splitlines()
        raise UserError(f"{path}: malformed CSV ({text[0] if text else type(exc).__name__})"
                        ) from None
    mic_cols = [f"mic{i}_{a}" for i in range(1, n_static + 1) for a in "xyz"]
    needed = ["time", *mic_cols, "speaker_x", "speaker_y", "speaker_z"]
    missing = [c for c in needed if c not in table.columns]
    if missing:
        raise UserError(f"{path}: missing columns {', '.join(missing[:6])}"
                        f"{' ...' if len(missing) > 6 else ''}")
    try:
        values = table[needed].astype(np.float64).to_numpy()
    except (ValueError, TypeError, OverflowError):
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


def _check_units(path: Path, info: dict, mic_pos: np.ndarray, speaker: np.ndarray) -> None:
    """Positions 1000x off (metres read as millimetres or the reverse) are one error line."""
    unit = info.get("position_unit", "mm")
    span = float(np.max(np.linalg.norm(mic_pos[:, None] - mic_pos[None], axis=-1)))
    other = "m" if unit == "mm" else "mm"
    hint = (f"values in {'metres' if other == 'm' else 'millimetres'}? "
            f"info.json position_unit is '{unit}'; set \"position_unit\": \"{other}\" if so")
    if not ARRAY_SPAN_M[0] <= span <= ARRAY_SPAN_M[1]:
        raise UserError(f"{path}: the static microphones span {span:.3g} m, outside the "
                        f"plausible {ARRAY_SPAN_M[0]:g}-{ARRAY_SPAN_M[1]:g} m: {hint}")
    finite = speaker[np.isfinite(speaker).all(axis=1)]
    far = float(np.max(np.linalg.norm(finite - mic_pos.mean(axis=0), axis=1)))
    if far > SPEAKER_RANGE_M:
        raise UserError(f"{path}: the speaker is up to {far:.3g} m from the array's centre "
                        f"(plausible: {SPEAKER_RANGE_M:g} m): {hint}")


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
    """Everything of one trajectory but its audio samples; bad input is one UserError naming
    the file. Logs a warning when some (at most ``MAX_OUTSIDE_GT``) frames lack a position."""
    info = _read_info(folder)
    tracks, samples = _track_lengths(folder, info)
    csv = folder / "gt_positions.csv"
    mic_pos, time, speaker = _read_positions(folder, info["number_of_mics"] - 1,
                                             UNITS[info.get("position_unit", "mm")])
    _check_units(csv, info, mic_pos, speaker)
    rate = info["sampling_rate"]
    centres = (frame_starts(_resampled_length(samples, rate), FRAME, hop) + FRAME / 2) / SAMPLE_RATE
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
    return Layout(folder.name, info, tracks, samples, mic_pos, time, speaker, len(centres),
                  outside)


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
        """The trajectories agree on number_of_mics (training mixes them); the odd one is named."""
        counts = [layout.info["number_of_mics"] for layout in self.layouts.values()]
        common = Counter(counts).most_common(1)[0][0]
        for name, layout in self.layouts.items():
            if layout.info["number_of_mics"] != common:
                raise UserError(f"{self.root / name / 'info.json'}: number_of_mics "
                                f"{layout.info['number_of_mics']} where the other trajectories "
                                f"have {common}")

    @property
    def n_static(self) -> int:
        """Static microphones per trajectory (all trajectories agree)."""
        return next(iter(self.layouts.values())).info["number_of_mics"] - 1

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
            audio = _read_tracks(layout)
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
    """``bench data check luvira``: split, length and non-silent frames per trajectory."""
    data = Luvira(root, flag="--root")
    rows = []
    for name in TRAJECTORIES:
        frames = data.frames(name)
        rec = data.recording(name)
        split = "test" if name in data.splits()["test"] else "train"
        rows.append([name, split, f"{rec.mics.shape[1] / SAMPLE_RATE:.1f}", len(frames),
                     data.layouts[name].outside_gt])
    return CheckReport(f"{data.root}: {data.provenance.kind}, version {data.version}", rows,
                       ["trajectory", "split", "seconds", "non-silent frames",
                        "frames without ground truth"])


register_dataset(DatasetEntry(
    "luvira", "real", "LuViRA audio-only: 8 trajectories, 12 mics at 96 kHz, motion capture",
    adapter=Luvira, check=check_root))
