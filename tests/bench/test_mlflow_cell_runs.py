"""One MLflow run per cell when writers interleave (two machines logging one cell to one
server): the interleavings are forced on a local SQLite store."""

from __future__ import annotations

import pytest
from cli_helpers import toy_record as record

from perloc.bench.store import mlflow_mirror

OLD, NEW = "2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"


def _runs(uri: str) -> list[tuple[str, str]]:
    """(status, record_created) of every active run, sorted."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tdoa")
    return sorted((r.info.status, r.data.tags["record_created"])
                  for r in client.search_runs([experiment.experiment_id]))


@pytest.fixture()
def uri(tmp_path):
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def _meanwhile(monkeypatch, other) -> None:
    """While the first record is being written (its run exists, unfinished), ``other()``
    runs: another machine logging the same cell."""
    real, pending = mlflow_mirror._write_run, [other]

    def write(client, run_id, record):
        if pending:
            pending.pop()()
        return real(client, run_id, record)

    monkeypatch.setattr(mlflow_mirror, "_write_run", write)


def test_a_newer_record_logged_while_an_older_one_is_written_is_the_cells_run(uri, tmp_path,
                                                                             monkeypatch):
    _meanwhile(monkeypatch, lambda: mlflow_mirror.log_records([record(NEW)], uri, tmp_path))
    assert mlflow_mirror.log_records([record(OLD)], uri, tmp_path) == []  # settled away
    assert _runs(uri) == [("FINISHED", NEW)]


def test_one_record_logged_twice_at_once_leaves_one_run(uri, tmp_path, monkeypatch):
    # the second writer looks before the first one's run is finished: both write a run
    second: list[str] = []
    _meanwhile(monkeypatch, lambda: second.extend(
        mlflow_mirror.log_records([record(OLD)], uri, tmp_path)))
    first = mlflow_mirror.log_records([record(OLD)], uri, tmp_path)
    assert len(first) + len(second) == 1
    assert _runs(uri) == [("FINISHED", OLD)]


def test_an_older_record_does_not_replace_a_newer_run(uri, tmp_path):
    assert len(mlflow_mirror.log_records([record(NEW)], uri, tmp_path)) == 1
    assert mlflow_mirror.log_records([record(OLD)], uri, tmp_path) == []
    newer = "2026-01-03T00:00:00"  # no zone: read as UTC
    assert len(mlflow_mirror.log_records([record(newer)], uri, tmp_path)) == 1  # a rerun
    assert _runs(uri) == [("FINISHED", newer)]
