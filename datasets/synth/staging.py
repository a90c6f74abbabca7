"""Write a generated dataset folder atomically: build it in a hidden sibling, then rename.

A stand-in generator calls :func:`write_folder` with a ``generate(tmp)`` callback that fills
``tmp`` and writes the marker file (JSON with a ``version`` field) last. Readers therefore
never see a partial dataset; a stale one (marker of another version) is replaced, and a
non-empty folder without a marker is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def read_marker(root: Path, marker_name: str) -> dict | None:
    try:
        marker = json.loads((Path(root) / marker_name).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def write_marker(folder: Path, marker_name: str, **fields) -> None:
    """Write the stand-in's marker (JSON of ``fields``, which hold its ``version``) into
    ``folder``; a generator calls it last, inside ``write_folder``'s ``generate``."""
    (Path(folder) / marker_name).write_text(json.dumps(fields, indent=2) + "\n")


def _publish(tmp: Path, dest: Path, marker_name: str, version: str) -> None:
    """Atomically move the finished ``tmp`` onto ``dest`` (replacing a stale dataset)."""
    old = None
    if dest.exists() and read_marker(dest, marker_name) is not None:
        old = dest.with_name(f".{dest.name}.stale-{uuid.uuid4().hex[:8]}")
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except OSError:
        marker = read_marker(dest, marker_name)
        if marker is None or marker.get("version") != version:
            raise
        shutil.rmtree(tmp, ignore_errors=True)   # another process published the same data
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_folder(out_root: Path | str, marker_name: str, version: str,
                 generate: Callable[[Path], None]) -> Path:
    """Run ``generate(tmp)`` and rename ``tmp`` to ``out_root``; a no-op when up to date."""
    dest = Path(out_root).absolute()
    marker = read_marker(dest, marker_name)
    if marker is not None and marker.get("version") == version:
        return dest
    if marker is None and dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest} exists, is not empty and holds no {marker_name}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        generate(tmp)
        _publish(tmp, dest, marker_name, version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
