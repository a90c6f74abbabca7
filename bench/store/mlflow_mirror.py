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
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import time
from pathlib import Path

from perloc.bench.core.record import RunRecord

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
    """Log each record as one MLflow run; returns the run ids."""
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # no store set-up chatter on stderr
    logging.getLogger("alembic").setLevel(logging.WARNING)
    client = MlflowClient(tracking_uri=uri)
    run_ids = []
    for record in records:
        experiment = _experiment_id(client, record.task, artifact_root, uri)
        if record.key and _already_logged(client, experiment, record):
            continue
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
        run_ids.append(run.info.run_id)
    return run_ids


def _plots(record: RunRecord, folder: Path) -> list[Path]:
    """The figures the task's reports draw for one record (confusion matrix, error CDF)."""
    from perloc.bench.core.registry import TASKS

    task = TASKS.get(record.task)
    return [path for report in task.reports for path in report.artifacts(record, folder)]
