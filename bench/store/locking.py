"""An advisory lock on the results folder, so two ``bench`` processes never interleave writes.

Held around each record write and its MLflow logging (a SQLite store takes one writer at a
time), and while the MLflow store is checked or rebuilt, not around whole runs: two sweeps on
one results folder proceed side by side. A ``flock`` dies with its process, so a held lock
belongs to a live process: it is waited for, and the wait is said (with the holder's pid).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)
LOCK_NAME = ".perloc.lock"
SAY_EVERY_S = 60.0


def _holder(fd: int) -> str:
    pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return f"pid {pid}" if pid.isdigit() else "another process"


@contextlib.contextmanager
def results_lock(results: Path) -> Iterator[None]:
    results.mkdir(parents=True, exist_ok=True)
    with open(results / LOCK_NAME, "a+") as handle:
        start, said, delay = time.monotonic(), None, 0.02
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if said is None or waited - said >= SAY_EVERY_S:
                    log.warning("waiting for the results folder %s: %s is writing to it "
                                "(%.0f s so far)", results, _holder(handle.fileno()), waited)
                    said = waited
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        if said is not None:
            log.warning("results folder %s: lock released after %.1f s; continuing", results,
                        time.monotonic() - start)
        with contextlib.suppress(OSError):  # unbuffered: a full disk cannot fail the close
            os.ftruncate(handle.fileno(), 0)
            os.write(handle.fileno(), f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
