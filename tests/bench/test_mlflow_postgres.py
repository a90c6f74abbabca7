"""MLflow on PostgreSQL as a team runs it: a throwaway PostgreSQL cluster from the machine's
server binaries, an ``mlflow server`` with that backend store and a local artifact root, and
one sweep run at the same time by two ``bench run`` processes (two machines: each its own
results folder, both logging every cell) against that server."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

from cli_helpers import invoke, records_by_key, start_bench
from servers import mlflow_server, postgres_cluster

SWEEP = ("run", "tdoa", "--profile", "smoke", "-m", "gcc-phat", "-m", "gcc-cc", "--seeds", "0:1",
         "--split", "t60")  # 2 methods x 2 seeds x 2 t60 chunks = 8 cells


def test_two_machines_sweep_into_one_mlflow_server_on_postgresql(capsys, workspace, tmp_path,
                                                                 monkeypatch):
    import psycopg
    from mlflow.tracking import MlflowClient

    start = time.monotonic()
    with postgres_cluster() as database, mlflow_server(tmp_path / "server", database) as server:
        up = time.monotonic() - start
        machines = [tmp_path / name / "results" for name in ("machine-a", "machine-b")]
        drivers = [start_bench({**os.environ, "PERLOC_RESULTS": str(results),
                                "MLFLOW_TRACKING_URI": server.url}, *SWEEP)
                   for results in machines]
        for driver in drivers:
            _, err = driver.communicate(timeout=600)
            assert driver.returncode == 0, err
        swept = time.monotonic() - start - up
        records = [records_by_key(results) for results in machines]
        assert len(records[0]) == 8 and records[0].keys() == records[1].keys()

        client = MlflowClient(server.url)
        experiment = client.get_experiment_by_name("tdoa")
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        assert Counter(r.data.tags["cell_key"] for r in runs) == dict.fromkeys(records[0], 1)
        for run in runs:
            key = run.data.tags["cell_key"]
            assert run.info.status == "FINISHED", key
            assert {"mae_cm", "mae_cm.ci_low", "rmse_cm"} <= run.data.metrics.keys(), key
            path = client.download_artifacts(run.info.run_id, "record.json",
                                             str(tmp_path / "downloads" / key))
            logged = json.loads(Path(path).read_text())
            newest = max((r[key] for r in records), key=lambda r: r["created_at"])
            assert logged == newest  # of the cell's two records, the newer one is its run
        with psycopg.connect(database.replace("+psycopg", "")) as connection:  # really there
            (active,), = connection.execute(
                "SELECT count(*) FROM runs WHERE lifecycle_stage = 'active'").fetchall()
        assert active == 8

        monkeypatch.setenv("PERLOC_RESULTS", str(machines[0]))  # machine A's older records:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)  # every cell has its run
        synced = invoke(capsys, "sync", "tdoa")
        assert synced.code == 0, synced.err
        assert "tdoa: 0 records mirrored, 8 already had their run" in synced.out
        assert len(client.search_runs([experiment.experiment_id])) == 8
    print(f"\nwall time: {time.monotonic() - start:.1f} s (PostgreSQL and mlflow server up in "
          f"{up:.1f} s, the two sweeps {swept:.1f} s)")
