"""Open HDF5 cache files shared by processes: readers read, one writer appends.

``read_store`` opens read-only (None when the file does not exist yet), so many worker
processes can read a cache the driver filled. ``open_store`` opens for appending. A file
another process holds open (HDF5's file lock) is waited for, never replaced; only a file that
cannot be read at all (truncated, not HDF5) is replaced by a new one.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import h5py

log = logging.getLogger(__name__)
LOCK_WAIT_S = 120.0


def _locked(exc: OSError) -> bool:
    text = str(exc).lower()
    return "lock" in text or "errno = 11" in text or "resource temporarily unavailable" in text


def _open(path: Path, mode: str) -> h5py.File:
    deadline = time.monotonic() + LOCK_WAIT_S
    delay = 0.05
    while True:
        try:
            return h5py.File(path, mode)
        except OSError as exc:
            if not _locked(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def read_store(path: Path) -> h5py.File | None:
    """The file opened read-only, or None when it is absent or unreadable."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return _open(path, "r")
    except OSError:
        return None


def open_store(path: Path, what: str) -> h5py.File:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _open(path, "a")
    except OSError as exc:
        if _locked(exc):
            raise
        log.warning("%s %s is unreadable; starting a new one", what, path)
        path.unlink(missing_ok=True)
        return h5py.File(path, "a")
