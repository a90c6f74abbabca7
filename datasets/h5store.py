"""Open an HDF5 cache file for appending; an unreadable one is replaced by a new file."""

from __future__ import annotations

import logging
from pathlib import Path

import h5py

log = logging.getLogger(__name__)


def open_store(path: Path, what: str) -> h5py.File:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return h5py.File(path, "a")
    except OSError:
        log.warning("%s %s is unreadable; starting a new one", what, path)
        path.unlink(missing_ok=True)
        return h5py.File(path, "a")
