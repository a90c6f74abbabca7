"""An advisory lock on the results folder, so two ``bench`` processes never interleave writes.

Held around each record write and its MLflow logging (a SQLite store takes one writer at a
time), not around whole runs: two sweeps on one results folder proceed side by side.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".perloc.lock"


@contextlib.contextmanager
def results_lock(results: Path) -> Iterator[None]:
    results.mkdir(parents=True, exist_ok=True)
    with open(results / LOCK_NAME, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
