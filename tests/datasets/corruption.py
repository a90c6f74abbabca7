"""Ways to break a dataset file, for property-style tests over every adapter.

Each corruption takes a file and a ``numpy.random.Generator`` and rewrites the file in place;
``corrupt_copy`` copies a dataset folder and applies one corruption to one chosen file, so
a test can run the same command on many broken copies of a stand-in.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

Corruption = Callable[[Path, np.random.Generator], None]


def linked_copy(source: Path, dest: Path) -> Path:
    """A hard-linked copy of a generated stand-in that a test may damage (helpers here unlink
    a file before writing it, so the shared original stays intact)."""
    shutil.copytree(source, dest, copy_function=os.link)
    return dest


def truncate(path: Path, rng: np.random.Generator) -> None:
    """Keep a random 0-90 % prefix of the bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * rng.uniform(0.0, 0.9))])


def random_bytes(path: Path, rng: np.random.Generator) -> None:
    """Overwrite a random middle stretch (up to half the file) with random bytes; same size."""
    data = bytearray(path.read_bytes())
    if len(data) < 8:
        data = bytearray(rng.integers(0, 256, 64, dtype=np.uint8).tobytes())
    start = int(rng.integers(0, len(data) // 2))
    stop = min(len(data), start + max(1, int(rng.integers(1, len(data) // 2 + 2))))
    data[start:stop] = rng.integers(0, 256, stop - start, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def wrong_header(path: Path, rng: np.random.Generator) -> None:
    """Replace the first 16 bytes (a format's magic number and header fields)."""
    data = bytearray(path.read_bytes())
    data[:16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def wrong_encoding(path: Path, rng: np.random.Generator) -> None:
    """Text files: a byte that is not UTF-8 in a random line; binary files: UTF-16 of its
    Latin-1 reading (every byte doubled)."""
    data = path.read_bytes()
    try:
        lines = data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        path.write_bytes(data.decode("latin-1").encode("utf-16"))
        return
    at = int(rng.integers(0, max(1, len(lines))))
    lines.insert(at, "\udcff")
    path.write_bytes("".join(lines).encode("utf-8", "surrogateescape"))


CORRUPTIONS: dict[str, Corruption] = {
    "truncate": truncate, "random_bytes": random_bytes, "wrong_header": wrong_header,
    "wrong_encoding": wrong_encoding}


def corrupt_copy(root: Path, out: Path, relative: str, how: str,
                 rng: np.random.Generator) -> Path:
    """A copy of the dataset folder ``root`` at ``out`` with ``relative`` broken by ``how``."""
    shutil.copytree(root, out, symlinks=True)
    CORRUPTIONS[how](out / relative, rng)
    return out
