"""A tracking server that dies in the middle of a sweep loses nothing: the cells go on, the
records are written, the summary names the records without a run, and ``bench sync`` mirrors
them once the server is back, once (a second sync logs nothing)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter

import pytest
from cli_helpers import invoke, records_by_key, refused, start_bench
from cli_helpers import toy_record as record
from servers import free_port, mlflow_server, stop_group

from perloc.bench.store import mlflow_mirror, tracking

OLD = "2026-01-01T00:00:00+00:00"
SWEEP = ("run", "tdoa", "--profile", "smoke", "-m", "gcc-phat", "-m", "gcc-cc", "--seeds", "0:2")


def _finished_cells(client) -> list[str]:
    experiment = client.get_experiment_by_name("tdoa")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return [r.data.tags["cell_key"] for r in runs if r.info.status == "FINISHED"]


def test_a_tracking_server_killed_mid_sweep_loses_nothing(capsys, workspace, tmp_path,
                                                          monkeypatch):
    from mlflow.tracking import MlflowClient

    start = time.monotonic()
    with mlflow_server(tmp_path / "server") as server:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        # each cell sleeps 2 s first: the server is killed while the third cell sleeps,
        # after the driver said the second one was written (record and run)
        driver = start_bench({**os.environ, "PERLOC_FAULTS": "sleep=2"}, *SWEEP)
        watchdog = threading.Timer(300, stop_group, (driver, signal.SIGKILL))  # never hang
        watchdog.start()
        said = []
        try:
            while not any("[2/6]" in line for line in said):
                line = driver.stderr.readline()
                assert line or driver.poll() is None, "".join(said)
                said.append(line)
            server.kill()
            _, rest = driver.communicate(timeout=300)
        finally:
            watchdog.cancel()
        err = "".join(said) + rest
        assert driver.returncode == 0, err

        records = records_by_key(workspace / "results")  # every cell ran and was written
        assert len(records) == 6 and all(r["status"] == "ok" for r in records.values())
        assert f"MLflow server {server.url} does not answer" in err
        named = [line.rsplit("(cell ", 1)[1].rstrip(")") for line in err.splitlines()
                 if line.startswith("  not mirrored: ") and "(cell " in line]
        assert len(named) == 4 and set(named) <= records.keys(), err
        assert (f"  not mirrored: 4 records have no MLflow run: {server.url} did not answer"
                in err and "`bench sync tdoa` mirrors them" in err), err

        down = refused(capsys, workspace, "sync", "tdoa")  # still down: one line, exit 2
        assert f"MLFLOW_TRACKING_URI={server.url}: no MLflow server answers" in down.err

        server.start()  # back: same port, same backend store and artifact root
        client = MlflowClient(server.url)
        assert sorted(_finished_cells(client)) == sorted(records.keys() - set(named))
        synced = invoke(capsys, "sync", "tdoa")
        assert synced.code == 0, synced.err
        assert "tdoa: 4 records mirrored, 2 already had their run" in synced.out
        again = invoke(capsys, "sync")  # every task: nothing left to mirror
        assert again.code == 0, again.err
        assert "tdoa: 0 records mirrored, 6 already had their run" in again.out

        experiment = client.get_experiment_by_name("tdoa")
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        assert Counter(r.data.tags["cell_key"] for r in runs) == dict.fromkeys(records, 1)
        for run in runs:
            assert run.info.status == "FINISHED" and "mae_cm" in run.data.metrics
            assert "record.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    print(f"\nwall time: {time.monotonic() - start:.1f} s")


def test_a_refused_connection_is_told_apart_from_other_errors(monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    url = f"http://127.0.0.1:{free_port()}"
    assert "Connection refused" in tracking.server_down(url)
    with pytest.raises(Exception) as raised:
        mlflow_mirror.log_records([record(OLD)], url)
    assert tracking.unreachable(raised.value) == "Connection refused"
    assert tracking.unreachable(ValueError("a bug")) is None


def test_the_sweep_mirror_keeps_a_backlog_while_the_server_is_down(monkeypatch, tmp_path):
    answers = iter(["[Errno 111] Connection refused", "[Errno 111] Connection refused", None])
    logged, said = [], []
    monkeypatch.setattr(tracking, "server_down", lambda uri: next(answers))
    monkeypatch.setattr(tracking, "log_records",
                        lambda records, uri, root: logged.extend(r.seed for r in records))
    mirror = tracking.SweepMirror("http://mlflow:5000", tmp_path, said.append)
    for seed in range(2):
        mirror.log(record(OLD, seed))
    assert logged == [] and [r.seed for r in mirror.unmirrored] == [0, 1]
    assert len(said) == 1 and "does not answer ([Errno 111] Connection refused)" in said[0]
    mirror.log(record(OLD, 2))  # back: the backlog first, in order
    assert logged == [0, 1, 2] and mirror.unmirrored == [] and mirror.down is None
    assert said[1] == ("MLflow server http://mlflow:5000 answers again; the 2 records it "
                       "missed are mirrored")


def test_a_server_that_dies_during_a_write_does_not_stop_the_sweep(monkeypatch, tmp_path):
    import requests
    from mlflow.exceptions import MlflowException

    def dies(records, uri, root):
        try:
            raise requests.exceptions.ConnectionError("('Connection aborted.', "
                                                      "RemoteDisconnected('Remote end closed "
                                                      "connection without response'))")
        except requests.exceptions.ConnectionError as exc:  # as MLflow wraps it
            raise MlflowException(f"API request failed with exception {exc}") from None

    monkeypatch.setattr(tracking, "server_down", lambda uri: None)
    monkeypatch.setattr(tracking, "log_records", dies)
    said = []
    mirror = tracking.SweepMirror("http://mlflow:5000", tmp_path, said.append)
    mirror.log(record(OLD))
    assert mirror.down == "Remote end closed connection without response"
    assert [r.key for r in mirror.unmirrored] == ["cell-0"] and len(said) == 1
    monkeypatch.setattr(tracking, "log_records", lambda *_: 1 / 0)  # a bug is not "down"
    with pytest.raises(ZeroDivisionError):
        mirror.log(record(OLD, 1))
