"""MLflow mirror of run records: one experiment per task, one run per cell, batched writes.

The JSON record is the source of truth; this writes params, overall and per-slice metrics
and tags in one ``log_batch`` call and attaches the record as an artifact. Within one results
folder only the driver process calls it, under the results lock (a SQLite store must have one
writer); several machines (results folders) may log to one tracking server at once.

A cell has exactly one run, that of its newest record. A run carries its cell's key
(``cell_key``) and its record's creation time (``record_created``). A record is skipped when
its cell already has a terminated run of this record or a newer one. After logging, the writer
settles the cell: it keeps the terminated run of the newest record (equal times: the
greatest run id, so every process keeps the same run) and deletes the cell's other runs
that are not newer (an older record, the same record logged twice at once, a run left
unfinished by a killed driver). Runs of newer records still being written are left to their
writer, which settles after it; a writer whose run was deleted meanwhile stops (the cell has
a run at least as new). As each writer settles after terminating its run, the last one sees
every terminated run: the cell ends with one, whatever the interleaving.

Works against a local SQLite store and an ``http://`` tracking server alike; with a server,
artifacts go where the server says (its ``--artifacts-destination``). A full disk while
logging is one ``UserError`` line; the record is already saved. ``mlflow_prepare`` checks the
URI and mends a local store before any work; ``tracking`` keeps a sweep going when a server
stops answering.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from perloc.bench.core.errors import UserError
from perloc.bench.core.record import RunRecord
from perloc.bench.store import record_files

BATCH_METRICS = 800  # MLflow accepts at most 1000 entities per log_batch call
_KEY_CHARS = re.compile(r"[^0-9A-Za-z_\-. /]")


@contextlib.contextmanager
def env_defaults(values: dict[str, str]) -> Iterator[None]:
    """Set MLflow's environment settings in ``values`` for the block, where the user set
    none (MLflow reads them at each call)."""
    added = [name for name in values if name not in os.environ]
    os.environ.update({name: values[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


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
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(task)
    if found is not None:
        return found.experiment_id
    local = artifact_root and not uri.startswith(("http://", "https://", "databricks"))
    location = (artifact_root / task).as_uri() if local else None
    try:
        return client.create_experiment(task, artifact_location=location)
    except MlflowException as exc:  # another machine created it since the lookup
        found = client.get_experiment_by_name(task)
        if exc.error_code != "RESOURCE_ALREADY_EXISTS" or found is None:
            raise
        return found.experiment_id


_TERMINATED = ("FINISHED", "FAILED")
_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


def _created(text: str) -> dt.datetime:
    """A record's creation time (ISO 8601, UTC when it has no zone); unreadable: the oldest."""
    try:
        when = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return _NEVER
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _run_created(run) -> dt.datetime:
    return _created(run.data.tags.get("record_created", ""))


def _cell_runs(client, experiment: str, key: str) -> list:
    """The cell's active runs (deleted ones are not searched)."""
    return client.search_runs([experiment], filter_string=f"tags.cell_key = '{key}'",
                              max_results=1000)


def _covered(client, experiment: str, record: RunRecord) -> bool:
    """True when the cell has a terminated run of this record or a newer one (the cell is
    settled on the way)."""
    runs = _cell_runs(client, experiment, record.key)
    mine = _created(record.created_at)
    if any(r.info.status in _TERMINATED and _run_created(r) >= mine for r in runs):
        _settle(client, runs)
        return True
    return False


def _settle(client, runs: list) -> None:
    """Keep the terminated run of the newest record (equal times: the greatest run id) and
    delete the other runs that are not newer; runs of newer records still being written are
    their writer's to settle."""
    done = [r for r in runs if r.info.status in _TERMINATED]
    if not done:
        return
    keep = max(done, key=lambda r: (_run_created(r), r.info.run_id))
    for run in runs:
        if run.info.run_id != keep.info.run_id and _run_created(run) <= _run_created(keep):
            client.delete_run(run.info.run_id)


def _deleted(client, run_id: str) -> bool:
    """True when another writer deleted this run while it was being logged."""
    try:
        return client.get_run(run_id).info.lifecycle_stage == "deleted"
    except Exception:  # noqa: BLE001  (cannot tell: the original error is raised)
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
    try:  # no "View run at" links on stdout, which carries results and --json
        with env_defaults({"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}):
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
    experiment = _experiment_id(client, record.task, artifact_root, uri)
    if record.key and _covered(client, experiment, record):
        return []
    run = client.create_run(experiment, tags=_tags(record))
    try:
        _write_run(client, run.info.run_id, record)
    except Exception:
        if record.key and _deleted(client, run.info.run_id):
            return []  # settled away by a writer of the same or a newer record
        raise
    if record.key:
        _settle(client, _cell_runs(client, experiment, record.key))
    return [run.info.run_id]


def _write_run(client, run_id: str, record: RunRecord) -> None:
    """Params, metrics, tags, the record and its figures, then the terminal status."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    metrics = [Metric(k, float(v), now, 0) for k, v in _metrics(record).items()]
    metrics += [Metric(f"train/{name}", float(v), now, step)
                for name, values in record.series.items()
                for step, v in enumerate(values, start=1)]
    client.log_batch(run_id, metrics=metrics[:BATCH_METRICS],
                     params=[Param(k, v) for k, v in _flat_params(record).items()],
                     tags=[RunTag(k, v) for k, v in _tags(record).items()])
    for start in range(BATCH_METRICS, len(metrics), BATCH_METRICS):
        client.log_batch(run_id, metrics=metrics[start:start + BATCH_METRICS])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "record.json"
        path.write_text(record.to_json())
        client.log_artifact(run_id, str(path))
        for plot in _plots(record, Path(tmp)):
            client.log_artifact(run_id, str(plot))
    client.set_terminated(run_id, "FINISHED" if record.status == "ok" else "FAILED")


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


def causes(exc: BaseException):
    """``exc``, its causes and contexts, and the driver errors SQLAlchemy wraps."""
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
    for link in causes(exc):
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
