"""The JSON record store: one file per run under results/runs/<task>/<profile>/.

Records are the source of truth (the MLflow store is rebuilt from them). A record is written
whole or not at all: to a temporary sibling, flushed to disk, then renamed over the old one,
so a full disk (ENOSPC, or EFBIG under a file size limit) leaves the previous state and no
half-written file. Files get the folder's usual permissions (0666 less the umask). A record
file that cannot be read back (empty, truncated, not a record) is skipped with a warning
naming it: its cell counts as not run, and running it again writes the file anew.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

from perloc.bench.core.errors import UserError
from perloc.bench.core.record import SCHEMA_VERSION, RunRecord

log = logging.getLogger(__name__)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary sibling and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:  # os.open applies the umask to 0o666, as open() does (mkstemp would give 0o600)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())  # a full disk fails here, before the rename
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def stored_path(runs: Path, task: str, profile: str, method: str, seed: int, key: str) -> Path:
    """Where the record of (task, profile, method, seed) with run ``key`` is stored."""
    return runs / task / profile / f"{method}__seed{seed}__{key}.json"


def record_path(runs: Path, record: RunRecord) -> Path:
    return stored_path(runs, record.task, record.profile, record.method, record.seed, record.key)


def save(runs: Path, record: RunRecord) -> Path:
    path = record_path(runs, record)
    write_atomic(path, record.to_json() + "\n")
    return path


def read(path: Path) -> RunRecord | None:
    """The record in ``path``; None (and a warning naming the file) when it cannot be read.
    A record of a newer schema is a UserError: running its cell again would overwrite it."""
    try:
        raw = json.loads(path.read_text())
        version = raw.get("schema_version") if isinstance(raw, dict) else None
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise UserError(f"record {path}: schema_version {version} is newer than this "
                            f"perloc reads ({SCHEMA_VERSION}); upgrade perloc")
        return RunRecord.from_dict(raw)
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        reason = "empty file" if _empty(path) else f"{type(exc).__name__}: {exc}"
        log.warning("record %s cannot be read (%s); ignored, its cell counts as not run",
                    path, reason)
        return None


def _empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def load_all(runs: Path, task: str, profile: str | None = None) -> list[RunRecord]:
    """Records of ``task`` (optionally one profile), oldest first; unreadable files skipped."""
    folder = runs / task
    pattern = f"{profile}/*.json" if profile else "*/*.json"
    records = [r for r in (read(p) for p in sorted(folder.glob(pattern))) if r is not None]
    return sorted(records, key=lambda r: r.created_at)
