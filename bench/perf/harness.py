"""Harness overhead of a sweep: cells that only sleep, many at a time, local pool and Ray.

``cells`` cells of tdoa's smoke profile (the four classical GCC methods x seeds x the 2 x 2
(snr, t60) chunks: about 40 ms of compute each), every one made to sleep ``sleep`` seconds
first (``PERLOC_FAULTS=sleep=S``), are run ``slots`` at a time by each executor in turn, in
one command: ``local`` is the forkserver pool with ``slots`` workers (``--jobs``), ``ray`` a
local Ray cluster of ``slots`` CPUs, one per cell. Per executor:

* start s: the executor's start before the sweep (a Ray cluster's start-up; none for the
  pool), and wall s: the sweep itself (``execute``: the workers' start, the cells, and their
  records and MLflow runs written by the driver), not counting the plan (cached data) nor
  the MLflow store's one-time creation;
* ideal s = cells x sleep / slots, and ratio = wall / ideal;
* first cell s: when the first result reached the driver (the fixed start-up: workers, their
  imports and data; ideally ``sleep``);
* overhead ms/cell = (wall - ideal) x slots / cells: the slot time a cell costs beyond its
  sleep, everything included (workers' start, the cell's compute, waiting for the driver);
* driver ms/cell: the driver's own time per finished cell (writing its record and its MLflow
  run), measured in ``execute``. The driver is one process: when this exceeds sleep / slots,
  the driver, not the slots, sets the pace;
* cell ms: a cell's mean compute (its record's ``durations.total_s``: data, predict, score;
  the sleep is outside it).

Each executor writes to a scratch results folder with its own SQLite MLflow store (the
stand-in data come from the workspace's cache), removed afterwards: the workspace's records
and MLflow store are not touched. The figures depend on the machine and its load; the output
ends with the CPU count and the 1-minute load average before and after the run.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import numpy as np
from tabulate import tabulate

from perloc.bench.core.errors import UserError
from perloc.bench.perf import benchmark
from perloc.bench.run.cells import plan
from perloc.bench.run.driver import execute
from perloc.bench.run.executors import EXECUTORS, make_executor
from perloc.bench.store import mlflow_mirror
from perloc.bench.store.workspace import Workspace

TASK, PROFILE, SPLIT = "tdoa", "smoke", ("snr", "t60")
METHODS = ("gcc-phat", "gcc-scot", "gcc-roth", "gcc-cc")
PER_SEED = len(METHODS) * 4  # the smoke grid is 2 SNRs x 2 T60s


@contextmanager
def scratch_workspace(folder: Path, sleep: float) -> Iterator[Workspace]:
    """The environment of one measured sweep: results and MLflow store under ``folder``, the
    workspace's cache, every cell sleeping ``sleep`` s; the caller's environment afterwards."""
    wanted = {"PERLOC_RESULTS": str(folder), "PERLOC_CACHE": str(Workspace.from_env().cache),
              "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
              "PERLOC_FAULTS": f"sleep={sleep:g}"}
    saved = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield Workspace.from_env()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _clock_results(executor, arrivals: list[float]) -> None:
    """Note the time each result reaches the driver (wraps this executor's ``run``)."""
    run = executor.run

    def timed(cells, work):
        for item in run(cells, work):
            arrivals.append(time.perf_counter())
            yield item

    executor.run = timed


def measure(executor_name: str, cells: int, sleep: float, slots: int, folder: Path) -> dict:
    """Run ``cells`` sleeping cells ``slots`` at a time on one executor; the figures above."""
    with scratch_workspace(folder, sleep) as workspace:
        executor = make_executor(executor_name, jobs=slots)
        started = time.perf_counter()
        if hasattr(executor, "start"):
            executor.start()
        start_s = time.perf_counter() - started
        seeds = list(range(math.ceil(cells / PER_SEED)))
        todo = plan(TASK, list(METHODS), profile=PROFILE, seeds=seeds, where={}, split=SPLIT,
                    overrides={}, data_root=None, workspace=workspace)[:cells]
        mlflow_mirror.log_records([], workspace.tracking_uri)  # the store's one-time creation
        arrivals: list[float] = []
        _clock_results(executor, arrivals)
        began = time.perf_counter()
        outcome = execute(todo, executor, workspace)
        wall = time.perf_counter() - began
    ideal = cells * sleep / slots
    ok = [r for r in outcome.records if r.status == "ok"]
    return {"executor": executor.describe(), "cells": cells, "slots": slots, "sleep": sleep,
            "ok": len(ok), "start_s": start_s, "wall_s": wall, "ideal_s": ideal,
            "ratio": wall / ideal if ideal else float("nan"),
            "first_s": arrivals[0] - began if arrivals else float("nan"),
            "overhead_ms": 1e3 * (wall - ideal) * slots / cells,
            "driver_ms": 1e3 * outcome.driver_seconds / max(outcome.ran, 1),
            "cell_ms": 1e3 * float(np.mean([r.durations.get("total_s", np.nan) for r in ok]))
            if ok else float("nan")}


def run_harness_perf(executors: tuple[str, ...], cells: int, sleep: float, slots: int) -> dict:
    """Each executor's figures, measured one after the other in this process."""
    load = os.getloadavg()[0]
    rows = []
    for name in executors:
        with tempfile.TemporaryDirectory(prefix=f"perloc-harness-{name}-") as folder:
            rows.append(measure(name, cells, sleep, slots, Path(folder)))
    return {"rows": rows, "cpus": os.cpu_count(), "load": load, "load_after": os.getloadavg()[0]}


def format_harness_perf(result: dict) -> str:
    rows = [[r["executor"], f"{r['ok']}/{r['cells']}", r["slots"], f"{r['sleep']:g}",
             f"{r['start_s']:.1f}", f"{r['wall_s']:.1f}", f"{r['ideal_s']:.1f}",
             f"{r['ratio']:.2f}", f"{r['first_s']:.1f}", f"{r['overhead_ms']:.0f}",
             f"{r['driver_ms']:.0f}",
             f"{r['cell_ms']:.0f}"] for r in result["rows"]]
    table = tabulate(rows, headers=["executor", "cells ok", "slots", "sleep s", "start s",
                                    "wall s", "ideal s", "wall/ideal", "first cell s",
                                    "overhead ms/cell",
                                    "driver ms/cell", "cell ms"], disable_numparse=True)
    return (f"{table}\n({result['cpus']} CPUs, 1-min load average {result['load']:.1f} before "
            f"the run, {result['load_after']:.1f} after; ideal = cells x sleep / slots, "
            "overhead = (wall - ideal) x slots / cells)")


def _executors(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in EXECUTORS]
    if not names or unknown:
        raise UserError(f"--executors: {text!r} is not a comma-separated list of executors "
                        f"(known: {', '.join(EXECUTORS)})")
    return names


@benchmark("harness")
@click.option("--executors", default="local,ray", show_default=True,
              help="Comma-separated executors to measure, one after the other.")
@click.option("--cells", default=64, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--sleep", default=1.0, show_default=True, type=click.FloatRange(0.0, 3600.0),
              help="Seconds each cell sleeps.")
@click.option("--slots", default=16, show_default=True, type=click.IntRange(1, 256),
              help="Cells at a time: local --jobs, Ray CPUs (one per cell).")
def perf_harness_cmd(executors: str, cells: int, sleep: float, slots: int) -> None:
    """Harness overhead per cell: sleeping cells on the local pool and on Ray, wall vs ideal."""
    click.echo(format_harness_perf(run_harness_perf(_executors(executors), cells, sleep, slots)))
