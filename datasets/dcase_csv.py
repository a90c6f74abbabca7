"""DCASE SELD label and prediction CSVs (STARSS23 / DCASE2024 Task 3), read and written.

* Reference (``metadata_dev/**.csv``): no header, one row per active event per 100 ms frame:
  ``frame, class, source, azimuth, elevation, distance`` with angles in degrees and the
  distance in **centimetres** (read as metres: / 100).
* Prediction, as the baseline writes it: 7 columns ``frame, class, track, x, y, z, distance``
  with the distance in **metres**; or 6 polar columns ``frame, class, track, azimuth,
  elevation, distance`` whose distance the official code reads as metres (``distance_unit``
  says otherwise: spec gotcha 2).

Directions become unit vectors (x front, y left, z up; azimuth counter-clockwise from the
front): x = cos(el) cos(az), y = cos(el) sin(az), z = sin(el). A Cartesian prediction goes
through polar and back, as the official loader does, so its length is dropped. A malformed row
is one UserError naming the file and line.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import numpy as np

from perloc.bench.core.errors import UserError

REFERENCE_COLUMNS = "frame, class, source, azimuth, elevation, distance in cm"
PREDICTION_COLUMNS = ("frame, class, track, x, y, z, distance in m (Cartesian) or frame, "
                      "class, track, azimuth, elevation, distance (polar)")


class DcaseEvents(NamedTuple):
    """Events of one file: frame, class and track ids [N], unit directions [N, 3], metres [N]."""

    frame: np.ndarray
    cls: np.ndarray
    track: np.ndarray
    xyz: np.ndarray
    dist: np.ndarray

    @classmethod
    def empty(cls) -> DcaseEvents:
        ints = np.zeros(0, dtype=np.int64)
        return cls(ints, ints, ints, np.zeros((0, 3)), np.zeros(0))


def polar_to_unit(azimuth_deg, elevation_deg) -> np.ndarray:
    """Unit vectors [..., 3] of azimuth/elevation in degrees.

    >>> polar_to_unit(90.0, 0.0).round(12).tolist()
    [0.0, 1.0, 0.0]
    """
    az, el = np.radians(np.asarray(azimuth_deg, float)), np.radians(np.asarray(elevation_deg, float))
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def unit_to_polar(xyz) -> tuple[np.ndarray, np.ndarray]:
    """(azimuth, elevation) in degrees of direction vectors [..., 3] (any length)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    azimuth = np.degrees(np.arctan2(xyz[..., 1], xyz[..., 0]))
    elevation = np.degrees(np.arctan2(xyz[..., 2], np.hypot(xyz[..., 0], xyz[..., 1])))
    return azimuth, elevation


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    try:
        with open(path, newline="") as handle:
            return [(i, row) for i, row in enumerate(csv.reader(handle), start=1)
                    if any(cell.strip() for cell in row)]
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path}: cannot read it as CSV ({exc})") from None


def _parse(path: Path, line: int, row: list[str], n_classes: int) -> tuple[int, int, int, list[float]]:
    try:
        frame, cls, track = (int(cell) for cell in row[:3])
        values = [float(cell) for cell in row[3:]]
    except ValueError:
        raise UserError(f"{path}:{line}: not a number in {','.join(row)!r}") from None
    if frame < 0:
        raise UserError(f"{path}:{line}: negative frame index {frame}")
    if not 0 <= cls < n_classes:
        raise UserError(f"{path}:{line}: class index {cls} is not in 0..{n_classes - 1}")
    if not np.all(np.isfinite(values)):
        raise UserError(f"{path}:{line}: a value is not finite in {','.join(row)!r}")
    if values[-1] < 0:
        raise UserError(f"{path}:{line}: negative distance {values[-1]}")
    return frame, cls, track, values


def _events(parsed: list[tuple[int, int, int, list[float]]], xyz: np.ndarray,
            dist: np.ndarray) -> DcaseEvents:
    if not parsed:
        return DcaseEvents.empty()
    ids = np.asarray([p[:3] for p in parsed], dtype=np.int64)
    return DcaseEvents(ids[:, 0], ids[:, 1], ids[:, 2], xyz, dist)


def read_reference(path: Path, n_classes: int = 13) -> DcaseEvents:
    """A 6-column reference CSV (distance in cm) as events in metres."""
    parsed = []
    for line, row in _rows(path):
        if len(row) != 6:
            raise UserError(f"{path}:{line}: {len(row)} columns where the reference format has "
                            f"6 ({REFERENCE_COLUMNS})")
        parsed.append(_parse(path, line, row, n_classes))
    values = np.asarray([p[3] for p in parsed], dtype=np.float64).reshape(-1, 3)
    return _events(parsed, polar_to_unit(values[:, 0], values[:, 1]), values[:, 2] / 100.0)


def read_prediction(path: Path, n_classes: int = 13, distance_unit: str = "m") -> DcaseEvents:
    """A 7-column Cartesian or 6-column polar prediction CSV as events in metres; a folder's
    missing file is no predictions (the caller decides)."""
    if distance_unit not in ("m", "cm"):
        raise UserError(f"--pred-distance-unit: {distance_unit!r} is not m or cm")
    parsed, widths = [], set()
    for line, row in _rows(path):
        if len(row) not in (6, 7):
            raise UserError(f"{path}:{line}: {len(row)} columns where a prediction has 7 or 6 "
                            f"({PREDICTION_COLUMNS})")
        widths.add(len(row))
        if len(widths) > 1:
            raise UserError(f"{path}:{line}: mixes 6- and 7-column rows")
        parsed.append(_parse(path, line, row, n_classes))
    if not parsed:
        return DcaseEvents.empty()
    values = np.asarray([p[3] for p in parsed], dtype=np.float64)
    if widths == {7}:
        azimuth, elevation = unit_to_polar(values[:, :3])  # the official round trip
        dist = values[:, 3]
    else:
        azimuth, elevation = values[:, 0], values[:, 1]
        dist = values[:, 2] / (100.0 if distance_unit == "cm" else 1.0)
    return _events(parsed, polar_to_unit(azimuth, elevation), dist)


def write_reference(path: Path, events: DcaseEvents) -> None:
    """The 6-column reference format: integer degrees and centimetres."""
    azimuth, elevation = unit_to_polar(events.xyz)
    rows = zip(events.frame, events.cls, events.track, np.rint(azimuth), np.rint(elevation),
               np.rint(np.asarray(events.dist) * 100.0), strict=True)
    _write(path, [[int(v) for v in row] for row in rows])


def write_prediction(path: Path, events: DcaseEvents) -> None:
    """The baseline's 7-column Cartesian format, distance in metres."""
    rows = zip(events.frame, events.cls, events.track, *np.asarray(events.xyz).T, events.dist,
               strict=True)
    _write(path, [[int(f), int(c), int(t), *(f"{v:.6f}" for v in rest)]
                  for f, c, t, *rest in rows])


def _write(path: Path, rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def csv_files(folder: Path, flag: str) -> dict[str, Path]:
    """Every ``*.csv`` under ``folder`` (recursively: a flat folder and the ``metadata_dev/``
    layout both work) by file stem; two files with one stem are an error."""
    if not folder.is_dir():
        raise UserError(f"{flag} {folder}: not a folder")
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.csv")):
        if path.stem in found:
            raise UserError(f"{flag} {folder}: two files named {path.stem}.csv "
                            f"({found[path.stem]} and {path})")
        found[path.stem] = path
    return found
