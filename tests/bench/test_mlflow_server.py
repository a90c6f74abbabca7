"""The team path: a real ``mlflow server`` on 127.0.0.1, a smoke sweep logged to it over HTTP."""

from __future__ import annotations

import json

import pytest
from cli_helpers import invoke
from servers import mlflow_server as start_server


@pytest.fixture()
def mlflow_server(tmp_path):
    with start_server(tmp_path / "server") as server:
        yield server.url


def test_a_smoke_sweep_logs_to_a_tracking_server(capsys, workspace, monkeypatch, mlflow_server):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    argv = ("run", "tdoa", "--profile", "smoke", "-m", "gcc-phat", "-m", "gcc-cc", "--seeds",
            "0:1")
    outcome = invoke(capsys, *argv, "--json")
    assert outcome.code == 0, outcome.err
    assert len(json.loads(outcome.out)) == 4  # stdout: the records only, no "View run" links
    assert invoke(capsys, *argv).code == 0  # reused cells: no second run on the server
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("tdoa")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4 and len({r.data.tags["cell_key"] for r in runs}) == 4
    assert all(r.info.status == "FINISHED" and "mae_cm" in r.data.metrics for r in runs)
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert "record.json" in artifacts
    assert not (workspace / "results" / "mlflow.db").exists()
