"""The team path: a real ``mlflow server`` on 127.0.0.1, a smoke sweep logged to it over HTTP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cli_helpers import invoke


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def mlflow_server(tmp_path):
    if shutil.which("mlflow", path=str(Path(sys.executable).parent)) is None:
        pytest.fail("the mlflow server CLI is missing (dev extra)")
    port = _free_port()
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if server.poll() is not None or time.time() > deadline:
            server.kill()
            pytest.fail("mlflow server did not start:\n" + (tmp_path / "server.log").read_text())
        time.sleep(0.5)
    yield url
    os.killpg(server.pid, 15)
    server.wait(timeout=30)
    log.close()


def test_a_smoke_sweep_logs_to_a_tracking_server(capsys, workspace, monkeypatch, mlflow_server):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    argv = ("run", "tdoa", "--profile", "smoke", "-m", "gcc-phat", "-m", "gcc-cc", "--seeds",
            "0:1")
    outcome = invoke(capsys, *argv)
    assert outcome.code == 0, outcome.err
    assert invoke(capsys, *argv).code == 0  # reused cells: no second run on the server
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("tdoa")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4 and len({r.data.tags["cell_key"] for r in runs}) == 4
    assert all(r.info.status == "FINISHED" and "mae_cm" in r.data.metrics for r in runs)
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert "record.json" in artifacts
    assert not (workspace / "results" / "mlflow.db").exists()
