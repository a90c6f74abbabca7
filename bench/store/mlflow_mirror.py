"""MLflow mirror of run records: one experiment per task, one run per cell, batched writes.

The JSON record is the source of truth; this writes params, overall and per-slice metrics
and tags in one ``log_batch`` call and attaches the record as an artifact. Only the driver
process calls it (a SQLite store must have one writer).

Logging is idempotent per cell: a run carries its cell's key (``cell_key``) and its record's
creation time (``record_created``). A record already logged (same key and creation time, run
terminated) is skipped; any other run of that cell (an older record, a run left unfinished by
a killed driver) is deleted before the new one is logged, so a cell has exactly one run.
Works against a local SQLite store and an ``http://`` tracking server alike; with a server,
artifacts go where the server says (its ``--artifacts-destination``). A full disk while
logging is one ``UserError`` line; the record is already saved. ``mlflow_prepare`` checks the
URI and mends a local store before any work.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import sqlite3
import tempfile
import time
from pathlib import Path

from perloc.bench.core.errors import UserError
from perloc.bench.core.record import RunRecord
from perloc.bench.store import record_files

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
        raise UserError(f"MLflow store {store_name(uri)}: cannot write ({reason}); the records are "
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
# what a failed write means, and how stores are named


_SPACE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_SQLITE_FULL, _SQLITE_IOERR = 13, 10  # primary result codes (the low byte of extended ones)


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


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for an in-memory one)."""
    path = uri.split("://", 1)[1][1:].split("?", 1)[0] if "://" in uri else ""
    return Path(path) if path and path != ":memory:" else None


def is_sqlite(uri: str) -> bool:
    """True for a ``sqlite:`` URI (any driver)."""
    return uri.split(":", 1)[0].split("+", 1)[0] == "sqlite"


def store_name(uri: str) -> str:
    """How messages name a store: its file for SQLite, else the URI."""
    path = sqlite_file(uri) if is_sqlite(uri) else None
    return str(path) if path else uri


def record_counts(runs: Path) -> dict[str, int]:
    """How many record files each task has (not read: counted)."""
    if not runs.is_dir():
        return {}
    counts = {task.name: sum(1 for _ in task.glob("*/*.json")) for task in runs.iterdir()
              if task.is_dir()}
    return {task: n for task, n in counts.items() if n}


def mirror_all(uri: str, runs: Path, artifact_root: Path | None = None,
               tasks: list[str] | None = None) -> int:
    """Log every readable record (of ``tasks``, default all) not yet in MLflow; how many
    records were looked at."""
    names = tasks if tasks is not None else sorted(record_counts(runs))
    records = [r for task in names for r in record_files.load_all(runs, task)]
    log_records(records, uri, artifact_root)
    return len(records)
