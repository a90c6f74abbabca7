"""Sweeps: executors agree, finished cells are reused, failures are recorded and retried."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import REPO, invoke, mlflow_runs
from cli_helpers import records_by_key as _records
from cli_helpers import start_bench as _bench

CLASSICAL = ("-m", "gcc-phat", "-m", "gcc-scot")


def _scores(records: dict[str, dict]) -> dict[str, dict]:
    return {k: (r["status"], r["scores"]) for k, r in records.items()}


def _mlflow_cells(results: Path) -> list[str]:
    _, runs = mlflow_runs(results, "tdoa")
    return [r.data.tags["cell_key"] for r in runs]


def _sweep(capsys, *extra: str):
    return invoke(capsys, "run", "tdoa", "--profile", "smoke", *CLASSICAL, "--seeds", "0:1",
                  "--split", "t60", *extra)


def test_process_pool_gives_the_same_scores_as_in_process(capsys, workspace, monkeypatch):
    first = _sweep(capsys)
    assert first.code == 0, first.err
    in_process = _records(workspace / "results")
    assert len(in_process) == 2 * 2 * 2  # methods x seeds x t60 chunks
    monkeypatch.setenv("PERLOC_RESULTS", str(workspace / "pool"))
    pooled = _sweep(capsys, "--jobs", "2")
    assert pooled.code == 0, pooled.err
    assert "2 worker processes" in pooled.err
    assert _scores(_records(workspace / "pool")) == _scores(in_process)


def test_finished_cells_are_reused_and_rerun_recomputes(capsys, workspace):
    assert _sweep(capsys).code == 0
    before = {k: r["created_at"] for k, r in _records(workspace / "results").items()}
    again = _sweep(capsys)
    assert again.code == 0 and "8 of 8 cells already finished" in again.err
    assert {k: r["created_at"] for k, r in _records(workspace / "results").items()} == before
    forced = _sweep(capsys, "--rerun")
    assert forced.code == 0
    after = _records(workspace / "results")
    assert all(after[k]["created_at"] != before[k] for k in before)
    cells = _mlflow_cells(workspace / "results")
    assert sorted(cells) == sorted(before)  # one MLflow run per cell, even after --rerun


def test_a_raising_cell_is_recorded_failed_and_retried_alone(capsys, workspace, monkeypatch):
    monkeypatch.setenv("PERLOC_FAULTS", "raise=gcc-scot@1")
    outcome = _sweep(capsys)
    assert outcome.code == 1
    records = _records(workspace / "results")
    failed = [r for r in records.values() if r["status"] == "failed"]
    assert len(failed) == 2 and {r["method"] for r in failed} == {"gcc-scot"}
    assert "injected fault" in failed[0]["reason"] and "Traceback" in failed[0]["traceback"]
    assert "failed: gcc-scot seed=1" in outcome.err
    status = invoke(capsys, "status", "tdoa")
    assert status.code == 0 and "injected fault" in status.out
    monkeypatch.delenv("PERLOC_FAULTS")
    retry = _sweep(capsys)
    assert retry.code == 0 and "6 of 8 cells already finished" in retry.err
    assert all(r["status"] == "ok" for r in _records(workspace / "results").values())
    assert sorted(_mlflow_cells(workspace / "results")) == sorted(records)


def test_a_killed_worker_fails_only_its_cell(capsys, workspace, monkeypatch):
    monkeypatch.setenv("PERLOC_FAULTS", "kill=gcc-phat@0")
    outcome = _sweep(capsys, "--jobs", "2")
    assert outcome.code == 1, outcome.err
    records = _records(workspace / "results")
    failed = [r for r in records.values() if r["status"] == "failed"]
    assert len(records) == 8 and len(failed) == 2  # the two t60 chunks of gcc-phat seed 0
    assert all("died (signal SIGKILL)" in r["reason"] for r in failed)
    monkeypatch.delenv("PERLOC_FAULTS")
    retry = _sweep(capsys, "--jobs", "2")
    assert retry.code == 0 and "running 2 cells" in retry.err


def test_kill_9_of_the_driver_then_the_same_command_resumes(workspace, tmp_path):
    env = {**os.environ, "PERLOC_FAULTS": "sleep=0.3"}
    args = ("run", "tdoa", "--profile", "smoke", *CLASSICAL, "--seeds", "0:3", "--split", "t60")
    driver = _bench(env, *args)
    runs = workspace / "results" / "runs" / "tdoa" / "smoke"
    deadline = time.time() + 120
    while len(list(runs.glob("*.json"))) < 3:
        assert driver.poll() is None and time.time() < deadline, driver.communicate()
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    survived = {k: r["created_at"] for k, r in _records(workspace / "results").items()}
    assert 3 <= len(survived) < 16
    again = _bench({**os.environ}, *args)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    final = _records(workspace / "results")
    assert len(final) == 16 and all(r["status"] == "ok" for r in final.values())
    assert all(final[k]["created_at"] == created for k, created in survived.items())
    assert sorted(_mlflow_cells(workspace / "results")) == sorted(final)


def test_sigint_finishes_running_cells_and_leaves_the_rest_pending(workspace):
    env = {**os.environ, "PERLOC_FAULTS": "sleep=0.5"}
    driver = _bench(env, "run", "tdoa", "--profile", "smoke", *CLASSICAL, "--seeds", "0:3")
    runs = workspace / "results" / "runs" / "tdoa" / "smoke"
    deadline = time.time() + 120
    while not list(runs.glob("*.json")):
        assert driver.poll() is None and time.time() < deadline, driver.communicate()
        time.sleep(0.05)
    driver.send_signal(signal.SIGINT)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 130, err
    assert "no new cells are started" in err
    done = _records(workspace / "results")
    assert 1 <= len(done) < 8 and all(r["status"] == "ok" for r in done.values())
    status = subprocess.run([sys.executable, "-m", "perloc.bench.cli.main", "status", "--json"],
                            capture_output=True, text=True, cwd=REPO, check=True)
    (state,) = json.loads(status.stdout)
    assert state["ok"] == len(done) and state["pending"] == 8 - len(done)


def test_two_sweeps_on_one_results_folder_do_not_corrupt_it(workspace):
    procs = [_bench({**os.environ}, "run", "tdoa", "--profile", "smoke", "-m", method,
                    "--seeds", "0:2") for method in ("gcc-phat", "gcc-roth")]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    records = _records(workspace / "results")
    assert len(records) == 6
    assert sorted(_mlflow_cells(workspace / "results")) == sorted(records)


@pytest.mark.parametrize("argv,needle", [
    (("--seeds", "3:1"), "--seeds"), (("--seeds", "a,b"), "--seeds"),
    (("--split", "mics"), "--split"), (("--jobs", "0"), "--jobs"),
    (("--executor", "slurm"), "--executor"), (("--split", "snr", "--publish"), "--publish"),
])
def test_bad_sweep_flags(capsys, workspace, argv, needle):
    outcome = invoke(capsys, "run", "tdoa", "--profile", "smoke", "-m", "gcc-phat", *argv)
    assert outcome.code == 2 and needle in outcome.err
    assert len(outcome.err.strip().splitlines()) == 1
    assert not (workspace / "results" / "runs").exists()
