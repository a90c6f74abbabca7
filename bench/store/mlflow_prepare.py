"""Before any work: a tracking URI MLflow has a store for, a server that answers, and a whole
local SQLite store.

``prepare`` rejects a tracking URI MLflow has no store for and a server that does not answer
(one ``UserError`` line), and makes a local SQLite store whole: one that is not a database,
fails SQLite's check, or was left half-built (a full disk during the first write: tables
missing, no or another alembic revision) is moved aside with its journal
(``mlflow.db.broken-<time>``) and rebuilt from the JSON records, which are the source of
truth; a store that lacks runs for some records (a run that failed while logging) gets them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from perloc.bench.core.errors import UserError
from perloc.bench.store.locking import results_lock
from perloc.bench.store.mlflow_mirror import (
    is_sqlite,
    mirror_all,
    record_counts,
    sqlite_file,
    store_name,
)
from perloc.bench.store.tracking import is_server, server_down

log = logging.getLogger(__name__)


_SQLITE_DAMAGED = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
_SQLITE_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
BUSY_WAIT_S = 60.0


def _named(uri: str) -> str:
    return (f"MLFLOW_TRACKING_URI={uri}" if os.environ.get("MLFLOW_TRACKING_URI") == uri
            else f"MLflow tracking URI {uri}")


def _check_scheme(uri: str) -> None:
    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry
        from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException
    except ImportError:  # another MLflow layout: the first write will tell
        return
    try:
        _tracking_store_registry.get_store_builder(uri)
    except UnsupportedModelRegistryStoreURIException:
        known = ", ".join(f"{s}://" for s in sorted(_tracking_store_registry._registry) if s)
        scheme = uri.split("://", 1)[0] if "://" in uri else uri
        raise UserError(f"{_named(uri)}: MLflow has no tracking store for '{scheme}' "
                        f"(it knows {known})") from None


def _check_server(uri: str) -> None:
    reason = server_down(uri, timeout=10)
    if reason is not None:
        raise UserError(f"{_named(uri)}: no MLflow server answers ({reason})")


def _schema() -> tuple[str | None, set[str]]:
    """The alembic head revision this MLflow expects and its table names (None, set() when
    this MLflow cannot tell)."""
    try:
        import mlflow.store.model_registry.dbmodels.models  # noqa: F401  (fills the metadata)
        import mlflow.store.tracking.dbmodels.models  # noqa: F401
        from mlflow.store.db.base_sql_model import Base
        from mlflow.store.db.utils import _get_latest_schema_revision
    except ImportError:
        return None, set()
    return _get_latest_schema_revision(), set(Base.metadata.tables)


def _sqlite_state(path: Path) -> tuple[str, str]:
    """("empty" | "ok" | "broken", why) for the SQLite store at ``path``."""
    if not path.exists() or path.stat().st_size == 0:
        return "empty", "no store yet"
    try:
        connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=BUSY_WAIT_S)
    except sqlite3.Error as exc:
        return _sqlite_error(path, exc)
    try:
        checked = [row[0] for row in connection.execute("PRAGMA quick_check")]
        if checked != ["ok"]:
            return "broken", f"SQLite finds it damaged: {checked[0]}"
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return "empty", "no tables yet"
        head, expected = _schema()
        if "alembic_version" not in tables:
            return "broken", "half-built: it has no alembic_version table"
        found = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
        if head is not None and found != [head]:
            return "broken", (f"half-built or made by another MLflow: schema revision "
                              f"{', '.join(found) or 'none'}, this MLflow expects {head}")
        missing = sorted(expected - tables)
        if missing:
            return "broken", f"half-built: tables {', '.join(missing[:3])} missing"
        return "ok", ""
    except sqlite3.Error as exc:
        return _sqlite_error(path, exc)
    finally:
        connection.close()


def _sqlite_error(path: Path, exc: sqlite3.Error) -> tuple[str, str]:
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in _SQLITE_DAMAGED:
        return "broken", f"not a whole SQLite database: {exc}"
    if code in _SQLITE_BUSY:
        raise UserError(f"MLflow store {path}: locked by another process for "
                        f"{BUSY_WAIT_S:.0f} s ({exc}); run again when it is done") from None
    raise UserError(f"MLflow store {path}: cannot be opened ({exc})") from None


def _move_aside(path: Path) -> Path:
    """Move the store and its journal files to ``<name>.broken-<time>[-journal|-wal|-shm]`` (a
    hot journal left next to a new database would be rolled back into it)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while any(Path(f"{aside}{s}").exists() for s in ("", "-journal", "-wal", "-shm")):
        n += 1
        aside = path.with_name(f"{path.name}.broken-{stamp}-{n}")
    for suffix in ("", "-journal", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            source.rename(f"{aside}{suffix}")
    return aside


def _forget_store(uri: str) -> None:
    """Drop what MLflow keeps per process for this URI (its store objects and pooled
    connections): they would go on using the file that was moved aside or deleted."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from mlflow.tracking._tracking_service.registry import TrackingStoreRegistry
    except ImportError:
        return
    cached = getattr(TrackingStoreRegistry._get_store_with_resolved_uri, "cache_clear", None)
    if cached is not None:
        cached()
    engines = getattr(SqlAlchemyStore, "_engine_map", None)
    engine = engines.pop(uri, None) if isinstance(engines, dict) else None
    if engine is not None:
        engine.dispose()


def _run_counts(path: Path) -> dict[str, int] | None:
    """Finished or failed runs per experiment in the SQLite store (None when it cannot tell)."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_WAIT_S)
        try:
            rows = connection.execute(
                "SELECT e.name, count(*) FROM runs r JOIN experiments e "
                "ON r.experiment_id = e.experiment_id WHERE r.lifecycle_stage = 'active' "
                "AND r.status IN ('FINISHED', 'FAILED') GROUP BY e.name").fetchall()
        finally:
            connection.close()
    except sqlite3.Error:
        return None
    return dict(rows)


def check_uri(uri: str) -> None:
    """Without writing anything: MLflow has a store for the URI's scheme, and a server URI
    answers (one UserError line naming MLFLOW_TRACKING_URI otherwise)."""
    _check_scheme(uri)
    if is_server(uri):
        _check_server(uri)


def prepare(uri: str, runs: Path, *, artifact_root: Path | None = None,
            say: Callable[[str], None] | None = None) -> None:
    """Before any work: a tracking URI MLflow has a store for, a server that answers, and a
    local SQLite store that is whole and holds a run for every record in ``runs`` (rebuilt
    from the records when it is damaged or half-built). ``runs`` is ``<results>/runs``; the
    results folder's lock is held while the store is checked and mended; artifacts of the
    runs it logs go to ``artifact_root`` (default ``<results>/mlartifacts``, as ``bench``)."""
    say = say or log.warning
    artifact_root = artifact_root or runs.parent / "mlartifacts"
    _check_scheme(uri)
    if is_server(uri):
        _check_server(uri)
        return
    path = sqlite_file(uri) if is_sqlite(uri) else None
    if path is None:
        return
    path = path.absolute()
    counts = record_counts(runs)
    if not path.exists() and not counts:
        return  # nothing to check and nothing to mirror: the first write creates the store
    with results_lock(runs.parent):
        state, why = _sqlite_state(path)
        if state != "ok":
            _forget_store(uri)
        if state == "broken":
            aside = _move_aside(path)
            say(f"MLflow store {path}: {why}; moved to {aside.name}, rebuilding it from the "
                f"records in {runs}")
            n = _mirror(uri, runs, artifact_root, sorted(counts))
            say(f"MLflow store {path}: rebuilt, {n} records mirrored")
            return
        if not counts:
            return
        logged = _run_counts(path) if state == "ok" else {}
        behind = sorted(t for t, n in counts.items() if logged is not None
                        and logged.get(t, 0) < n)
        if behind:
            n = _mirror(uri, runs, artifact_root, behind)
            say(f"MLflow store {path}: mirrored the records it lacked ({', '.join(behind)}: "
                f"{n} records looked at)")


def _mirror(uri: str, runs: Path, artifact_root: Path | None, tasks: list[str]) -> int:
    try:
        return mirror_all(uri, runs, artifact_root, tasks)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001  (one line; the moved-aside store is kept)
        raise UserError(f"MLflow store {store_name(uri)}: cannot be rebuilt from {runs} "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                        ) from exc
