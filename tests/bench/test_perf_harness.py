"""``bench perf harness``: sleeping cells measured on an executor, with the table's figures
computed as documented (plumbing at tiny sizes; no speed is asserted); the caller's
environment and workspace are left as they were; bad flags are refused."""

from __future__ import annotations

import importlib.util
import os

import pytest
from cli_helpers import invoke, refused

from perloc.bench.perf.harness import measure


def test_figures_of_sleeping_cells_in_process(workspace, tmp_path):
    keys = ("PERLOC_RESULTS", "PERLOC_CACHE", "PERLOC_FAULTS", "MLFLOW_TRACKING_URI")
    before = {k: os.environ.get(k) for k in keys}
    r = measure("local", cells=2, sleep=0.05, slots=1, folder=tmp_path / "scratch")
    assert r["ok"] == 2 and r["executor"] == "local, in-process"
    assert r["ideal_s"] == pytest.approx(0.1) and r["wall_s"] >= 0.1  # the cells slept
    assert r["ratio"] == pytest.approx(r["wall_s"] / 0.1)
    assert r["overhead_ms"] == pytest.approx(1e3 * (r["wall_s"] - 0.1) * 1 / 2)
    assert 0 < r["first_s"] <= r["wall_s"]
    assert r["driver_ms"] > 0 and r["cell_ms"] > 0
    assert {k: os.environ.get(k) for k in keys} == before
    assert len(list((tmp_path / "scratch" / "runs").rglob("*.json"))) == 2


@pytest.mark.parametrize("executor,described", [
    ("local", "local, 2 worker processes"),
    pytest.param("ray", "ray on a local Ray cluster", marks=[
        pytest.mark.slow, pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                             reason="the ray extra is part of the dev install")]),
])
def test_the_command_measures_an_executor_in_a_scratch_folder(capsys, workspace, executor,
                                                              described):
    outcome = invoke(capsys, "perf", "harness", "--executors", executor, "--cells", "3",
                     "--sleep", "0.05", "--slots", "2")
    assert outcome.code == 0, outcome.err
    header, _, row, note = outcome.out.splitlines()
    assert "wall/ideal" in header and "driver ms/cell" in header
    assert row.startswith(described) and " 3/3 " in row
    assert "load average" in note
    assert not (workspace / "results" / "runs").exists()


@pytest.mark.parametrize("argv,needle", [
    (("--executors", "local,slurm"), "--executors"), (("--executors", ","), "--executors"),
    (("--slots", "0"), "--slots"), (("--sleep", "-1"), "--sleep"),
])
def test_bad_flags_are_one_line(capsys, workspace, argv, needle):
    assert needle in refused(capsys, workspace, "perf", "harness", *argv).err
