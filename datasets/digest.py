"""Content digests of dataset files, so that a dataset version changes when any byte does.

``ContentDigests.version(files)`` is a digest over (relative path, content digest) of every
file; each file's content digest (BLAKE2b of its bytes, streamed) is remembered by
(path, size, mtime_ns, inode) in a small SQLite table under the cache folder, so a warm run
costs one ``stat`` per file and a changed file (new size, new mtime) is read again. Rewriting a
file in place with the same size and the same mtime (to the nanosecond) is the one change this
does not see; ``PERLOC_DIGEST=full`` re-reads every file.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from perloc.bench.core.errors import UserError
from perloc.bench.core.protocols import Provenance

CHUNK = 1 << 20
SCHEMA = "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, size INTEGER, " \
         "mtime_ns INTEGER, inode INTEGER, digest TEXT)"


def file_digest(path: Path) -> str:
    """BLAKE2b-128 of the file's bytes, read in 1 MiB chunks."""
    h = hashlib.blake2b(digest_size=16)
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                h.update(chunk)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return h.hexdigest()


class ContentDigests:
    """Per-file content digests remembered in ``store`` (None: only in this process)."""

    def __init__(self, store: Path | None) -> None:
        self.store = store
        self._memory: dict[str, tuple[tuple[int, int, int], str]] = {}
        self.full = os.environ.get("PERLOC_DIGEST", "") == "full"

    def _connect(self) -> sqlite3.Connection | None:
        if self.store is None:
            return None
        try:
            self.store.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.store, timeout=60)
            db.execute(SCHEMA)
            return db
        except sqlite3.DatabaseError:  # a corrupt digest store is only a cache: start again
            self.store.unlink(missing_ok=True)
            db = sqlite3.connect(self.store, timeout=60)
            db.execute(SCHEMA)
            return db

    def digests(self, files: Iterable[Path]) -> dict[Path, str]:
        """path -> content digest, reading only files whose (size, mtime, inode) changed."""
        files = list(files)
        db = self._connect()
        known = {} if db is None or self.full else _lookup(db, [os.path.abspath(p) for p in files])
        known.update(self._memory if not self.full else {})
        out, fresh = {}, []
        for path in files:
            key = os.path.abspath(path)
            try:
                st = path.stat()
            except OSError as exc:
                raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
            stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
            cached = known.get(key)
            if cached is not None and tuple(cached[0]) == stamp:
                out[path] = cached[1]
                continue
            out[path] = file_digest(path)
            fresh.append((key, *stamp, out[path]))
            self._memory[key] = (stamp, out[path])
        if db is not None:
            with db:
                db.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)", fresh)
            db.close()
        return out

    def version(self, root: Path, files: Iterable[Path], extra: object = None) -> str:
        """One digest over the files' paths relative to ``root`` and their contents."""
        h = hashlib.sha1(repr(extra).encode())
        for path, digest in sorted(self.digests(files).items()):
            h.update(f"{path.relative_to(root).as_posix()}\0{digest}\n".encode())
        return h.hexdigest()[:12]


def _lookup(db: sqlite3.Connection, keys: list[str]) -> dict[str, tuple[tuple, str]]:
    """The stored (stamp, digest) of ``keys`` only (the table may hold other datasets)."""
    out = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.execute("SELECT path, size, mtime_ns, inode, digest FROM digests "
                              f"WHERE path IN ({marks})", chunk):
            out[row[0]] = ((row[1], row[2], row[3]), row[4])
    return out


def marked_provenance(folder: Path, marker_dirs: Iterable[Path], marker: str, files: int,
                      generator: str) -> Provenance:
    """``synthetic`` (by ``generator``) when a stand-in's ``marker`` file sits in one of
    ``marker_dirs``, else ``real``; ``folder`` and ``files`` as the adapter read them."""
    found = any((Path(d) / marker).is_file() for d in marker_dirs)
    return Provenance("synthetic" if found else "real", str(folder), files,
                      generator if found else "")


class MarkedFiles:
    """``version`` (the content digest of ``files()`` and ``loader_version``) and
    ``provenance`` (``synthetic`` by ``standin`` when the stand-in's ``marker`` sits in
    ``root``) for an adapter with ``root``, ``digests`` and ``files()``."""

    loader_version: ClassVar[str]
    marker: ClassVar[str]
    standin: ClassVar[str]
    root: Path
    digests: ContentDigests

    def files(self) -> list[Path]:
        raise NotImplementedError

    @cached_property
    def version(self) -> str:
        return self.digests.version(self.root, self.files(), extra=self.loader_version)

    @cached_property
    def provenance(self) -> Provenance:
        return marked_provenance(self.root, (self.root,), self.marker, len(self.files()),
                                 self.standin)
