"""HDF5 cache files shared by processes: many readers, one writer, damaged files replaced.

Who may open a cache is decided by a lock file next to it, ``<name>.lock`` (``flock``):
readers hold it shared, the one writer exclusive, and the writer writes its pid into it. A
``flock`` dies with its process, so a lock that is held is held by a live process: that is
waited for (saying so, with the writer's pid), never broken. Once the lock is ours, a file
that HDF5 cannot open (truncated, not HDF5, left half-written by a killed writer) is damaged,
whatever HDF5's message says, and the writer replaces it; so is a file that opens but whose
index or data cannot be read back (random bytes in the middle). HDF5's own file lock stays on
(``best-effort``) for processes outside this protocol (an ``h5py.File`` left open in a
notebook): its ``EAGAIN`` is waited for like ours. Nothing here reads an error message.

``read(path, what, keys)``: the arrays under ``keys`` when the file holds them all, else None.
``fill(path, what, keys, make)``: under the exclusive lock, the arrays the file holds, plus
those ``make(missing)`` yields as ``(key, array, attrs)``, each written as it comes.
``holds(path, what, keys)``: whether the file holds every key (without reading them).
A call made while this thread holds the file's lock (an entry computed from another entry of
the same file) shares that lock and replaces nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import h5py
import numpy as np

from perloc.bench.core.errors import UserError

log = logging.getLogger(__name__)
LOCK_WAIT_S = 3600.0  # a live holder is waited for this long before giving up
SAY_EVERY_S = 60.0  # while waiting, say so again this often
_HELD_ELSEWHERE = (errno.EAGAIN, errno.EWOULDBLOCK)
_NO_LOCKS_HERE = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)
_DENIED = (errno.EACCES, errno.EPERM, errno.EROFS)
_held = threading.local()  # lock files this thread holds: nested calls share them

Make = Callable[[list[str]], Iterable[tuple[str, np.ndarray, dict]]]


class Damaged(Exception):
    """The file opened but its index or data could not be read back."""


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _holder(lock: Path) -> str:
    """Who holds the lock file: the writer's pid when a writer holds it, else readers."""
    probe = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return "other processes are reading it"
    except OSError:
        pid = os.pread(probe, 32, 0).decode(errors="replace").strip()
        return f"pid {pid} is writing it" if pid.isdigit() else "another process is writing it"
    finally:
        os.close(probe)


class _Waiter:
    """Polls for something a live process holds; says it waits; gives up after LOCK_WAIT_S."""

    def __init__(self, what: str, path: Path) -> None:
        self.what, self.path = what, path
        self.start = time.monotonic()
        self.said = 0.0
        self.delay = 0.02

    def wait(self, holder: Callable[[], str]) -> None:
        waited = time.monotonic() - self.start
        if waited > LOCK_WAIT_S:
            raise UserError(f"{self.what} {self.path}: still locked after {waited:.0f} s "
                            f"({holder()}); let that process finish or stop it")
        if self.said == 0.0 or waited - self.said >= SAY_EVERY_S:
            log.warning("waiting for %s %s: %s (%.0f s so far)", self.what, self.path, holder(),
                        waited)
            self.said = max(waited, 1e-9)
        time.sleep(self.delay)
        self.delay = min(self.delay * 2, 0.5)

    def done(self) -> None:
        if self.said:
            log.warning("%s %s: lock released after %.1f s; continuing", self.what, self.path,
                        time.monotonic() - self.start)


def _open_lock_file(lock: Path) -> int | None:
    try:
        return os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        if exc.errno not in _DENIED:
            raise
    try:
        return os.open(lock, os.O_RDONLY)  # a read-only cache folder: readers still lock
    except OSError:
        return None  # no lock file and none can be made: nobody can write here either


@contextlib.contextmanager
def locked(path: Path, what: str, *, shared: bool) -> Iterator[bool]:
    """Hold ``<path>.lock`` shared (readers) or exclusive (the writer) while the body runs;
    yields False when this thread already held it (a cache read while computing an entry of
    the same file): then nothing more is locked, and the file must not be replaced."""
    path = Path(path).absolute()
    lock = lock_path(path)
    held = getattr(_held, "paths", None)
    if held is None:
        held = _held.paths = {}
    if lock in held:
        if held[lock] == "shared" and not shared:  # would wait for itself forever
            raise RuntimeError(f"{lock}: this thread holds it shared and asks to write")
        yield False
        return
    if not shared:
        lock.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_lock_file(lock)
    if fd is None:
        yield True
        return
    operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    waiter = _Waiter(what, path)
    try:
        while True:
            try:
                fcntl.flock(fd, operation | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno in _NO_LOCKS_HERE:  # a file system without flock
                    break
                if exc.errno not in _HELD_ELSEWHERE:
                    raise
            waiter.wait(lambda: _holder(lock))
        waiter.done()
        if not shared:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        held[lock] = "shared" if shared else "exclusive"
        try:
            yield True
        finally:
            held.pop(lock, None)
            with contextlib.suppress(OSError):  # explicitly: a forked child may share the fd
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open(path: Path, mode: str, what: str) -> h5py.File:
    """``h5py.File``, waiting while HDF5's own lock says another live process has it open."""
    waiter = _Waiter(what, path)
    while True:
        try:
            handle = h5py.File(path, mode, locking="best-effort")
        except OSError as exc:
            if exc.errno not in _HELD_ELSEWHERE:
                raise
            waiter.wait(lambda: "another process has it open (HDF5 file lock)")
            continue
        waiter.done()
        return handle


def _denied(exc: OSError, what: str, path: Path) -> None:
    if exc.errno in _DENIED:
        raise UserError(f"{what} {path}: cannot open ({os.strerror(exc.errno)})") from None


def _read(store: h5py.File, keys: Iterable[str]) -> dict[str, np.ndarray]:
    """The arrays of the keys the store holds; ``Damaged`` when one cannot be read back."""
    return {key: entry[0] for key, entry in _entries(store, keys).items()}


def _entries(store: h5py.File, keys: Iterable[str], *, walk: bool = False
             ) -> dict[str, tuple[np.ndarray, dict]]:
    """(array, attrs) of the keys the store holds; ``Damaged`` when the store's index (all of
    it with ``walk``) or one of them cannot be read back."""
    found = {}
    try:
        if walk:
            for _ in store:  # every link: a damaged index is found before it is written to
                pass
        for key in keys:
            if key not in found and key in store:
                found[key] = (store[key][()], dict(store[key].attrs))
    except Exception as exc:  # noqa: BLE001  (any failure to read an opened file is damage)
        raise Damaged(f"{type(exc).__name__}: {exc}") from exc
    return found


def read(path: Path, what: str, keys: list[str]) -> dict[str, np.ndarray] | None:
    """Every key's array, read under a shared lock; None when the file is absent, misses a
    key or is damaged (then ``fill`` replaces it)."""
    path = Path(path)
    if not path.exists():
        return None
    with locked(path, what, shared=True):
        try:
            store = _open(path, "r", what)
        except FileNotFoundError:
            return None
        except OSError as exc:
            _denied(exc, what, path)
            log.info("%s %s cannot be opened (%s); a writer replaces it", what, path, exc)
            return None
        with store:
            try:
                if not all(key in store for key in keys):
                    return None
                return _read(store, keys)
            except Exception as exc:  # noqa: BLE001  (Damaged, or the index unreadable)
                log.info("%s %s cannot be read (%s); a writer replaces it", what, path, exc)
                return None


def holds(path: Path, what: str, keys: list[str]) -> bool:
    """Whether the file holds every key (a damaged or absent file holds none)."""
    path = Path(path)
    if not path.exists():
        return False
    with locked(path, what, shared=True):
        try:
            with _open(path, "r", what) as store:
                return all(key in store for key in keys)
        except Exception:  # noqa: BLE001  (unopenable or damaged: ``fill`` replaces it)
            return False


def _replace(path: Path, what: str, reason: str) -> h5py.File:
    log.warning("%s %s is damaged (%s); replacing it with a new one", what, path, reason)
    path.unlink(missing_ok=True)
    return h5py.File(path, "w", locking="best-effort")


def _writable(path: Path, what: str) -> h5py.File:
    """The file opened for appending (created when absent); one HDF5 cannot open is replaced."""
    try:
        return _open(path, "a", what)
    except OSError as exc:
        _denied(exc, what, path)
        return _replace(path, what, f"{type(exc).__name__}: {exc}")


def _write(store: h5py.File, entries: dict[str, tuple[np.ndarray, dict]]) -> None:
    for key, (values, attrs) in entries.items():
        dataset = store.create_dataset(key, data=values, compression="gzip", compression_opts=1)
        dataset.attrs.update(attrs)


def fill(path: Path, what: str, keys: list[str], make: Make) -> dict[str, np.ndarray]:
    """Under the exclusive lock: the keys the file holds, read; ``make(missing)`` for the rest,
    each written as it is yielded, then read back. A file that cannot be opened, whose index
    cannot be walked, or whose entries cannot be read back is replaced (and what was read or
    made is written to the new one). Called again while ``make`` runs (an entry computed
    from another of the same file), it shares the outer call's lock and replaces nothing."""
    path = Path(path)
    with locked(path, what, shared=False) as outermost:
        store = _writable(path, what) if outermost else _open(path, "a", what)
        try:
            entries = _entries(store, keys, walk=outermost)
        except Damaged as exc:
            store.close()
            if not outermost:  # the outer call has the file open: it is the one to replace it
                raise
            store, entries = _replace(path, what, str(exc)), {}
        with store:
            made = {}
            missing = [key for key in dict.fromkeys(keys) if key not in entries]
            for key, values, attrs in make(missing) if missing else ():
                made[key] = (np.asarray(values), attrs)
                _write(store, {key: made[key]})
            store.flush()
            try:
                _entries(store, made)
            except Damaged as exc:  # written into an index that was damaged where not walked
                store.close()
                if not outermost:
                    raise
                with _replace(path, what, f"{exc}, after writing") as fresh:
                    _write(fresh, {**entries, **made})
        return {key: values for key, (values, _) in {**entries, **made}.items()}
