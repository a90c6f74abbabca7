"""MLflow mirror of run records: one experiment per task, one run per cell, batched writes.

The JSON record is the source of truth; this writes params, overall and per-slice metrics
and tags in one ``log_batch`` call and attaches the record as an artifact. Only the driver
process calls it (a SQLite store must have one writer).

Logging is idempotent per cell: a run carries its cell's key (``cell_key``) and its record's
creation time (``record_created``). A record already logged (same key and creation time, run
terminated) is skipped; any other run of that cell (an older record, a run left unfinished by
a killed driver) is deleted before the new one is logged, so a cell has exactly one run.
Works against a local SQLite store and an ``http://`` tracking server alike; with a server,
artifacts go where the server says (its ``--artifacts-destination``).

``prepare`` runs before any work. It rejects a tracking URI MLflow has no store for and a
server that does not answer (one ``UserError`` line), and makes a local SQLite store whole:
one that is not a database, fails SQLite's check, or was left half-built (a full disk during
the first write: tables missing, no or another alembic revision) is moved aside with its
journal (``mlflow.db.broken-<time>``) and rebuilt from the JSON records, which are the
source of truth; a store that lacks runs for some records (a run that failed while logging)
gets them. A full disk while logging is one ``UserError`` line; the record is already saved.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import sqlite3
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from perloc.bench.core.errors import UserError
from perloc.bench.core.record import RunRecord
from perloc.bench.store import record_files
from perloc.bench.store.locking import results_lock

log = logging.getLogger(__name__)
BATCH_METRICS = 800  # MLflow accepts at most 1000 entities per log_batch call
_KEY_CHARS = re.compile(r"[^0-9A-Za-z_\-. /]")


def metric_key(slice_name: str, metric: str) -> str:
    """``snr=6|t60=0.4`` + ``mae_cm`` -> ``snr_6/t60_0.4/mae_cm`` (MLflow-safe)."""
    path = "/".join(part.replace("=", "_") for part in slice_name.split("|"))
    return _KEY_CHARS.sub("_", f"{path}/{metric}")


def _flat_params(record: RunRecord) -> dict[str, str]:
    params = {f"param.{k}": json.dumps(v) for k, v in record.params.items()}
    params.update({"method": record.method, "profile": record.profile, "seed": str(record.seed),
                   "where": json.dumps(record.where, sort_keys=True)})
    return {k: v[:6000] for k, v in params.items()}


def _metrics(record: RunRecord) -> dict[str, float]:
    out = {}
    for name, score in record.scores.items():
        out[name] = score.value
        out[f"{name}.ci_low"], out[f"{name}.ci_high"] = score.ci_low, score.ci_high
    for slice_name, table in record.slices.items():
        out.update({metric_key(slice_name, m): s.value for m, s in table.items()})
    out.update({f"time.{k}": v for k, v in record.durations.items()})
    return out


def _tags(record: RunRecord) -> dict[str, str]:
    provenance = record.dataset.get("provenance", {})
    return {"dataset": record.dataset.get("name", ""), "dataset_version": record.dataset.get("version", ""),
            "provenance": provenance.get("kind", ""), "profile": record.profile,
            "git_sha": record.git_sha, "cell_key": record.key, "status": record.status,
            "record_created": record.created_at,
            "mlflow.runName": f"{record.method}-{record.profile}-s{record.seed}"}


def _experiment_id(client, task: str, artifact_root: Path | None, uri: str) -> str:
    found = client.get_experiment_by_name(task)
    if found is not None:
        return found.experiment_id
    local = artifact_root and not uri.startswith(("http://", "https://", "databricks"))
    location = (artifact_root / task).as_uri() if local else None
    return client.create_experiment(task, artifact_location=location)


def _already_logged(client, experiment: str, record: RunRecord) -> bool:
    """True when this record's run exists; other runs of the same cell are deleted."""
    runs = client.search_runs([experiment], filter_string=f"tags.cell_key = '{record.key}'",
                              max_results=50)
    for run in runs:
        if (run.data.tags.get("record_created") == record.created_at
                and run.info.status in ("FINISHED", "FAILED")):
            for other in runs:
                if other.info.run_id != run.info.run_id:
                    client.delete_run(other.info.run_id)
            return True
    for run in runs:
        client.delete_run(run.info.run_id)
    return False


def log_records(records: list[RunRecord], uri: str, artifact_root: Path | None = None) -> list[str]:
    """Log each record as one MLflow run; returns the run ids. A full disk (or a file size
    limit) is one UserError line: the records are saved, the next run mirrors them."""
    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # no store set-up chatter on stderr
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # MLflow logs each failed SQL commit with its traceback before raising it: what is raised
    # here is reported once (one line, or the traceback kept in results/logs)
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    try:
        client = MlflowClient(tracking_uri=uri)
        return [run_id for record in records
                for run_id in _log_one(client, record, uri, artifact_root)]
    except Exception as exc:
        reason = _write_failure(exc)
        if reason is None:
            raise
        raise UserError(f"MLflow store {_where(uri)}: cannot write ({reason}); the records are "
                        "saved, the next run mirrors them") from None


def _log_one(client, record: RunRecord, uri: str, artifact_root: Path | None) -> list[str]:
    from mlflow.entities import Metric, Param, RunTag

    experiment = _experiment_id(client, record.task, artifact_root, uri)
    if record.key and _already_logged(client, experiment, record):
        return []
    run = client.create_run(experiment, tags=_tags(record))
    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, 0) for k, v in _metrics(record).items()]
    metrics += [Metric(f"train/{name}", float(v), now, step)
                for name, values in record.series.items()
                for step, v in enumerate(values, start=1)]
    client.log_batch(run.info.run_id, metrics=metrics[:BATCH_METRICS],
                     params=[Param(k, v) for k, v in _flat_params(record).items()],
                     tags=[RunTag(k, v) for k, v in _tags(record).items()])
    for start in range(BATCH_METRICS, len(metrics), BATCH_METRICS):
        client.log_batch(run.info.run_id, metrics=metrics[start:start + BATCH_METRICS])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "record.json"
        path.write_text(record.to_json())
        client.log_artifact(run.info.run_id, str(path))
        for plot in _plots(record, Path(tmp)):
            client.log_artifact(run.info.run_id, str(plot))
    client.set_terminated(run.info.run_id, "FINISHED" if record.status == "ok" else "FAILED")
    return [run.info.run_id]


def _plots(record: RunRecord, folder: Path) -> list[Path]:
    """The figures the task's reports draw for one record (confusion matrix, error CDF)."""
    from perloc.bench.core.registry import TASKS

    try:
        task = TASKS.get(record.task)
    except (KeyError, UserError):  # a record of a plug-in task not installed here: no figures
        return []
    return [path for report in task.reports for path in report.artifacts(record, folder)]


# ---------------------------------------------------------------------------------------------
# prepare: a usable tracking URI and a whole SQLite store, before any work


_SPACE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_SQLITE_FULL, _SQLITE_IOERR = 13, 10  # primary result codes (the low byte of extended ones)
_SQLITE_DAMAGED = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
_SQLITE_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
BUSY_WAIT_S = 60.0


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        orig = getattr(exc, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's error
        if isinstance(orig, BaseException):
            yield orig
        exc = exc.__cause__ or exc.__context__


def _write_failure(exc: BaseException) -> str | None:
    """Why a write failed when the disk is full (or a file size limit reached, or the disk
    failed), else None; told by errno and SQLite result codes, not by messages."""
    for link in _chain(exc):
        if isinstance(link, OSError) and link.errno in _SPACE_ERRNOS:
            return os.strerror(link.errno)
        code = getattr(link, "sqlite_errorcode", None)
        if isinstance(link, sqlite3.Error) and code is not None:
            if code & 0xFF == _SQLITE_FULL:
                return "database or disk is full"
            if code & 0xFF == _SQLITE_IOERR:
                return f"disk I/O error, {link.sqlite_errorname}"
    return None


def _sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for an in-memory one)."""
    path = uri.split("://", 1)[1][1:].split("?", 1)[0] if "://" in uri else ""
    return Path(path) if path and path != ":memory:" else None


def _is_sqlite(uri: str) -> bool:
    return uri.split(":", 1)[0].split("+", 1)[0] == "sqlite"


def _where(uri: str) -> str:
    path = _sqlite_file(uri) if _is_sqlite(uri) else None
    return str(path) if path else uri


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
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=10):
            return
    except urllib.error.HTTPError:  # it answered: a server is there (auth, proxies, prefixes)
        return
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, ssl.SSLError):  # it answered; trusting it is MLflow's setting
            return
        raise UserError(f"{_named(uri)}: no MLflow server answers ({reason})") from None


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


def _record_counts(runs: Path) -> dict[str, int]:
    """How many record files each task has (not read: counted)."""
    if not runs.is_dir():
        return {}
    counts = {task.name: sum(1 for _ in task.glob("*/*.json")) for task in runs.iterdir()
              if task.is_dir()}
    return {task: n for task, n in counts.items() if n}


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


def mirror_all(uri: str, runs: Path, artifact_root: Path | None = None,
               tasks: list[str] | None = None) -> int:
    """Log every readable record (of ``tasks``, default all) not yet in MLflow; how many
    records were looked at."""
    names = tasks if tasks is not None else sorted(_record_counts(runs))
    records = [r for task in names for r in record_files.load_all(runs, task)]
    log_records(records, uri, artifact_root)
    return len(records)


def check_uri(uri: str) -> None:
    """Without writing anything: MLflow has a store for the URI's scheme, and a server URI
    answers (one UserError line naming MLFLOW_TRACKING_URI otherwise)."""
    _check_scheme(uri)
    if uri.startswith(("http://", "https://")):
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
    if uri.startswith(("http://", "https://")):
        _check_server(uri)
        return
    path = _sqlite_file(uri) if _is_sqlite(uri) else None
    if path is None:
        return
    path = path.absolute()
    counts = _record_counts(runs)
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
        raise UserError(f"MLflow store {_where(uri)}: cannot be rebuilt from {runs} "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                        ) from exc
