"""The two on-disk layouts of a LuViRA trajectory folder, read to one :class:`Layout`.

**Published** (the LuViRA release, spec tdoa_ssl.md section 5.1), chosen when the folder has no
``info.json``::

    <trajectory>/Track 1.wav .. Track 12.wav   mono, one rate (96 kHz 16-bit in the release)
    <trajectory>/Sync.wav                      optional: the mocap start signal (not read)
    <trajectory>/<any name>.csv                the processed ground truth: exactly ONE *.csv

The ground-truth file is the folder's only ``*.csv`` (names starting with "." are ignored;
the release's file name is not part of the spec, the raw mocap is TSV): none or several is
an error naming the folder. Its header is the release's ``timestamps, X, Y, Z, Roll, Pitch,
Yaw, Residual, Rot[0] .. Rot[8]`` (names compared after stripping surrounding whitespace);
``timestamps``, ``X``, ``Y``, ``Z`` and ``Residual`` must be there, the orientation columns are
not used. ``X/Y/Z`` is the loudspeaker's rigid body in millimetres, ``timestamps`` in seconds
on the tracks' clock (taken to start at the mocap start that Sync.wav marks). A row whose
X, Y, Z or Residual is empty/NaN is occluded. Track 12 is the microphone next to the
loudspeaker; the 11 static microphones have no columns, their positions are the published
coordinates (``LUVIRA_MICS_MM``, mic 2 z read as 1047.4 mm). The rate comes from the WAV
headers (all tracks alike), the microphone count from the 12 tracks.

**[R-sfs]** (the format of [R-sfs] ``read_experiment_audio``), chosen when ``info.json`` exists::

    <trajectory>/info.json          {"sampling_rate": 96000, "number_of_mics": 12, ...}
    <trajectory>/Track <i>.wav      i = 1 .. number_of_mics
    <trajectory>/gt_positions.csv   time, mic<i>_x/_y/_z (static mics), speaker_x/_y/_z

millimetres unless ``info.json`` says ``"position_unit": "m"``; a static microphone's position
is the median of its finite rows.

Units are checked against the known layout: in the [R-sfs] layout the static microphones'
pairwise distances must be those of the published coordinates (median ratio within
``KNOWN_SCALE``; pairs with mic 2 left out, its z is uncertain), and in both layouts the
speaker's median position must lie near the array (its extent grown by ``SPEAKER_MARGIN_M``
sideways and above, at most ``FLOOR_MARGIN_M`` below the lowest microphone). A file in metres
read as millimetres (1000x too small) is one ``UserError`` naming it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy.signal import resample_poly

from perloc.bench.core.errors import UserError
from perloc.datasets.audio import read_audio

SAMPLE_RATE = 16_000
FRAME = 2048
UNITS = {"mm": 1e-3, "m": 1.0}
PUBLISHED_TRACKS = 12  # 11 static microphones + the one next to the loudspeaker
PUBLISHED_COLUMNS = ("timestamps", "X", "Y", "Z", "Roll", "Pitch", "Yaw", "Residual",
                     *(f"Rot[{k}]" for k in range(9)))
PUBLISHED_NEEDED = ("timestamps", "X", "Y", "Z", "Residual")
KNOWN_SCALE = (0.9, 1.1)  # file / published microphone distances ([R-sfs] layout)
SPEAKER_MARGIN_M = 1.5  # the speaker's median position: array extent + this sideways, above
FLOOR_MARGIN_M = 0.1  # ... and at most this below the lowest microphone (0.14 m high)
# Static microphone positions (mm, LuViRA mocap frame, mean over the Grid1 trajectory) from the
# dataset's microphone_locations.txt; mic 2's z is printed "047.4" there and read as 1047.4.
LUVIRA_MICS_MM = (
    (2446.5, 1739.8, 1153.7), (2878.1, -648.5, 1047.4), (1328.0, -3133.2, 1565.3),
    (-1055.9, -3545.7, 1108.2), (-3076.5, -59.0, 1371.5), (-2411.9, 2477.2, 1545.0),
    (2227.6, -756.3, 213.5), (1789.8, -2376.1, 204.7), (50.2, -3358.9, 212.7),
    (-1920.6, -2820.5, 144.3), (-2923.7, 718.4, 147.0),
)
_TRACK = re.compile(r"Track (\d+)\.wav")


@dataclass(frozen=True)
class Layout:
    """What constructing the adapter checked of one trajectory (no audio decoded)."""

    name: str
    kind: str  # "published" or "r-sfs"
    rate: int  # Hz, of the files
    n_mics: int  # tracks, the last one next to the loudspeaker
    count_file: Path  # what fixes n_mics (info.json, or the folder of tracks)
    tracks: tuple[Path, ...]
    samples: int  # per track, at the file's rate
    gt_file: Path
    mic_pos: np.ndarray  # [M, 3] metres
    gt_time: np.ndarray  # [K]
    gt_speaker: np.ndarray  # [K, 3] metres, NaN where occluded
    n_frames: int = 0  # frames the audio spans (at the loader's hop)
    outside_gt: int = 0  # of those, frames whose centre has no ground-truth position


def read_layout(folder: Path) -> Layout:
    """Headers and ground truth of one trajectory folder in either layout (detected by
    ``info.json``); bad input is one UserError naming the file (or the folder)."""
    if (folder / "info.json").exists():
        return _read_rsfs(folder)
    return _read_published(folder)


def resampled_length(samples: int, rate: int) -> int:
    """Samples at 16 kHz after ``resample_poly`` (ceil(n * up / down))."""
    g = gcd(SAMPLE_RATE, rate)
    return -(-samples * (SAMPLE_RATE // g) // (rate // g))


def read_tracks(layout: Layout) -> np.ndarray:
    """All tracks [n_mics, T] at 16 kHz, float32."""
    tracks = [read_audio(path, layout.rate) for path in layout.tracks]
    for path, track in zip(layout.tracks, tracks, strict=True):
        if len(track) != layout.samples:
            raise UserError(f"{path}: decoded {len(track)} samples, its header says "
                            f"{layout.samples}")
    audio = np.stack(tracks)
    if layout.rate != SAMPLE_RATE:
        g = gcd(SAMPLE_RATE, layout.rate)
        audio = resample_poly(audio, SAMPLE_RATE // g, layout.rate // g, axis=1)
    return audio.astype(np.float32)


# ----------------------------------------------------------------------------- published


def _read_published(folder: Path) -> Layout:
    numbers = sorted(int(m[1]) for p in folder.iterdir() if (m := _TRACK.fullmatch(p.name)))
    if not numbers:
        raise UserError(f"{folder}: neither info.json ([R-sfs] layout) nor 'Track <i>.wav' "
                        "files (published LuViRA layout)")
    extra = [i for i in numbers if not 1 <= i <= PUBLISHED_TRACKS]
    if extra:
        raise UserError(f"{folder / f'Track {extra[0]}.wav'}: the published layout has Track 1 "
                        f"- Track {PUBLISHED_TRACKS} only (no info.json)")
    paths = tuple(folder / f"Track {i}.wav" for i in range(1, PUBLISHED_TRACKS + 1))
    rate, samples = _track_headers(paths, None)
    gt_file = published_csv(folder)
    time, speaker = _read_published_csv(gt_file)
    mic_pos = np.asarray(LUVIRA_MICS_MM, dtype=np.float64) * UNITS["mm"]
    _check_speaker(gt_file, mic_pos, speaker,
                   "values in metres? the published ground truth is in millimetres")
    return Layout(folder.name, "published", rate, PUBLISHED_TRACKS, folder, paths, samples,
                  gt_file, mic_pos, time, speaker)


def published_csv(folder: Path) -> Path:
    """The folder's only ``*.csv`` (dot-files ignored); none or several is an error."""
    found = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() == ".csv" and not p.name.startswith("."))
    if len(found) != 1:
        names = ", ".join(p.name for p in found)
        raise UserError(f"{folder}: expected exactly one ground-truth *.csv (published layout, "
                        f"no info.json), found {len(found)}{': ' + names if found else ''}")
    if not found[0].is_file():
        raise UserError(f"{found[0]}: not a file")
    return found[0]


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, encoding="utf-8")
    except (ValueError, OverflowError) as exc:  # parser, empty, encoding errors
        text = str(exc).strip().splitlines()
        raise UserError(f"{path}: malformed CSV ({text[0] if text else type(exc).__name__})"
                        ) from None
    table.columns = [str(c).strip() for c in table.columns]
    duplicated = sorted({c for c in table.columns if list(table.columns).count(c) > 1})
    if duplicated:
        raise UserError(f"{path}: column {duplicated[0]!r} appears twice")
    return table


def _numeric(path: Path, table: pd.DataFrame, columns: list[str], expected: str) -> np.ndarray:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise UserError(f"{path}: missing columns {', '.join(missing[:6])}"
                        f"{' ...' if len(missing) > 6 else ''} (expected {expected})")
    try:
        values = table[columns].astype(np.float64).to_numpy()
    except (ValueError, TypeError, OverflowError):
        raise UserError(f"{path}: non-numeric values in the position columns") from None
    time = values[:, 0]
    if len(time) < 2 or not np.isfinite(time).all() or np.any(np.diff(time) <= 0):
        raise UserError(f"{path}: {columns[0]!r} must be finite and strictly increasing "
                        "(>= 2 rows)")
    return values


def _read_published_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    values = _numeric(path, _read_csv(path), list(PUBLISHED_NEEDED),
                      "no info.json, so the published header: " + ", ".join(PUBLISHED_COLUMNS))
    speaker = values[:, 1:4] * UNITS["mm"]
    speaker[~np.isfinite(values[:, 1:5]).all(axis=1)] = np.nan  # occluded: no residual
    if np.isfinite(speaker).all(axis=1).sum() < 2:
        raise UserError(f"{path}: fewer than two finite speaker positions")
    return values[:, 0], speaker


# ----------------------------------------------------------------------------- [R-sfs]


def _read_info(folder: Path) -> dict:
    path = folder / "info.json"
    if not path.is_file():
        raise UserError(f"{path}: not a file")
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


def _read_rsfs(folder: Path) -> Layout:
    info = _read_info(folder)
    n = info["number_of_mics"]
    paths = tuple(folder / f"Track {i}.wav" for i in range(1, n + 1))
    rate, samples = _track_headers(paths, info["sampling_rate"])
    path = folder / "gt_positions.csv"
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    unit = info.get("position_unit", "mm")
    columns = ["time", *(f"mic{i}_{a}" for i in range(1, n) for a in "xyz"),
               "speaker_x", "speaker_y", "speaker_z"]
    values = _numeric(path, _read_csv(path), columns, "time, mic<i>_x/_y/_z, speaker_x/_y/_z")
    mics = values[:, 1:1 + 3 * (n - 1)].reshape(len(values), n - 1, 3) * UNITS[unit]
    with np.errstate(all="ignore"):
        mic_pos = np.nanmedian(np.where(np.isfinite(mics), mics, np.nan), axis=0)
    if not np.isfinite(mic_pos).all():
        raise UserError(f"{path}: a microphone has no finite position")
    speaker = values[:, -3:] * UNITS[unit]
    if np.isfinite(speaker).all(axis=1).sum() < 2:
        raise UserError(f"{path}: fewer than two finite speaker positions")
    other = "m" if unit == "mm" else "mm"
    hint = (f"values in {'metres' if other == 'm' else 'millimetres'}? info.json "
            f"position_unit is '{unit}'; set \"position_unit\": \"{other}\" if so")
    _check_known_layout(path, mic_pos, hint)
    _check_speaker(path, mic_pos, speaker, hint)
    return Layout(folder.name, "r-sfs", rate, n, folder / "info.json", paths, samples, path,
                  mic_pos, values[:, 0], speaker)


# ----------------------------------------------------------------------------- shared checks


def _track_headers(paths: tuple[Path, ...], rate: int | None) -> tuple[int, int]:
    """The tracks' common rate and length, from the headers: one rate (``rate`` from
    info.json, else the tracks' own), mono, equally long (the odd one named), at least one
    frame at 16 kHz."""
    headers = []
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
        if header.channels != 1:
            raise UserError(f"{path}: {header.channels} channels, expected 1")
        if header.frames <= 0:
            raise UserError(f"{path}: no audio samples")
        headers.append((int(header.samplerate), int(header.frames)))
    source = "info.json"
    if rate is None:
        rate, source = Counter(r for r, _ in headers).most_common(1)[0][0], "the other tracks"
    for path, (got, _) in zip(paths, headers, strict=True):
        if got != rate:
            raise UserError(f"{path}: sample rate {got} Hz, expected {rate} Hz ({source})")
    common = Counter(n for _, n in headers).most_common(1)[0][0]
    for path, (_, length) in zip(paths, headers, strict=True):
        if length != common:
            raise UserError(f"{path}: {length} samples where the other tracks have {common}"
                            f"{' (truncated?)' if length < common else ''}; the microphones "
                            "must be synchronised")
    if resampled_length(common, rate) < FRAME:
        raise UserError(f"{paths[0]}: the tracks last {1000 * common / rate:.0f} ms, shorter than "
                        f"one {FRAME}-sample frame at {SAMPLE_RATE // 1000} kHz "
                        f"({1000 * FRAME / SAMPLE_RATE:.0f} ms)")
    return rate, common


def _check_known_layout(path: Path, mic_pos: np.ndarray, hint: str) -> None:
    """The file's static microphones at the published LuViRA distances (any frame): the median
    ratio of their pairwise distances (pairs with mic 2 left out) within ``KNOWN_SCALE``."""
    known = np.asarray(LUVIRA_MICS_MM, dtype=np.float64) * UNITS["mm"]
    n = min(len(mic_pos), len(known))
    ratios = [np.linalg.norm(mic_pos[i] - mic_pos[j]) / np.linalg.norm(known[i] - known[j])
              for i in range(n) for j in range(i + 1, n) if 1 not in (i, j)]
    scale = float(np.median(ratios))
    if not KNOWN_SCALE[0] <= scale <= KNOWN_SCALE[1]:
        raise UserError(f"{path}: the static microphones lie {scale:.3g} x as far apart as in "
                        f"the published LuViRA layout (spec 5.1; expected "
                        f"{KNOWN_SCALE[0]:g}-{KNOWN_SCALE[1]:g}): {hint}")


def _check_speaker(path: Path, mic_pos: np.ndarray, speaker: np.ndarray, hint: str) -> None:
    """The speaker's median position near the array (see the module docstring)."""
    median = np.median(speaker[np.isfinite(speaker).all(axis=1)], axis=0)
    lo = mic_pos.min(axis=0) - np.array([SPEAKER_MARGIN_M, SPEAKER_MARGIN_M, FLOOR_MARGIN_M])
    hi = mic_pos.max(axis=0) + SPEAKER_MARGIN_M
    if not ((median >= lo) & (median <= hi)).all():
        where = ", ".join(f"{v:.3g}" for v in median)
        raise UserError(f"{path}: the speaker's median position ({where}) m lies outside the "
                        f"microphone array's extent grown by {SPEAKER_MARGIN_M:g} m "
                        f"({FLOOR_MARGIN_M:g} m below): {hint}")
