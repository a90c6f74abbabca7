"""Sweeps: a benchmark as a grid of cells, run by an executor, resumable and fault-tolerant.

A cell is (task, method, profile, seed, condition chunk, parameter overrides). Its key is the
run key of its record (task, method, params, profile, seed, selection, dataset version,
training recipe), known before it runs, so:

* records are written atomically as cells finish (by the driver only, under the results lock),
  and the same command run again skips every cell with an ``ok`` record (``rerun`` forces),
  retrying failed and missing ones;
* each cell has exactly one MLflow run, found by its ``cell_key`` tag (see ``tracking``);
* a cell that raises is recorded as ``failed`` with the reason and the traceback, a cell
  whose worker died likewise; the rest of the sweep goes on;
* the sweep's manifest (``results/sweeps/<id>.json``) lists its cells, so ``bench status``
  can tell finished, failed and pending cells apart.

The driver prepares every (seed, chunk) dataset first: stand-in data and RIRs are generated
and bad input is reported (one error line, exit 2) before any cell runs or anything is
written. Workers then only read the caches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import multiprocessing as mp
import os
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.core.record import RunRecord
from perloc.bench.core.registry import METHODS, TASKS
from perloc.bench.run.evaluate import evaluate, expected_key, git_sha, prepare_dataset
from perloc.bench.run.executors import CellFailure, CellInputError
from perloc.bench.run.training import (
    build_method,
    forget_training_data,
    resolve_params,
    training_data,
)
from perloc.bench.store import record_files
from perloc.bench.store.workspace import Workspace

MANIFEST_VERSION = 1
_DATASETS: dict[tuple, Any] = {}  # per process: datasets prepared for cells, reused
_SAY: list = [None, False]  # the driver's printer and progress switch for in-process cells


def set_progress_printer(say, progress: bool = False) -> None:
    """Cells run in the driver print training progress through ``say`` and report the
    progress of their long steps when ``progress`` (workers stay quiet)."""
    _SAY[0], _SAY[1] = say, progress


@dataclass(frozen=True)
class Cell:
    task: str
    method: str
    profile: str
    seed: int
    where: tuple[tuple[str, tuple], ...] = ()  # sorted (condition, selection) pairs
    overrides: tuple[tuple[str, Any], ...] = ()
    data_root: Path | None = None  # absolute; None: the stand-in
    key: str = ""  # the run key, computed once here (see ``evaluate.run_key``)
    data_version: str = ""  # the dataset version the key was computed from
    placement: device.Placement = device.CPU  # the device and precision it runs on

    @property
    def where_dict(self) -> dict[str, tuple]:
        return dict(self.where)

    @property
    def overrides_dict(self) -> dict[str, Any]:
        return dict(self.overrides)

    @property
    def affinity(self) -> tuple:
        """The dataset this cell needs (executors keep such cells on one worker)."""
        return (self.task, self.profile, self.seed, self.where, self.data_root)

    def label(self) -> str:
        chunk = ",".join(f"{k}={_show(v)}" for k, v in self.where)
        return f"{self.method} seed={self.seed}" + (f" [{chunk}]" if chunk else "")


def _show(selection: tuple) -> str:
    if selection and all(isinstance(v, str) for v in selection):
        return "|".join(selection)
    return f"{selection[0]:g}" if selection[0] == selection[1] else f"{selection[0]}:{selection[1]}"


def _frozen(mapping: dict) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in mapping.items()))


def cell_dataset(task: str, profile: str, seed: int, where: dict, data_root: Path | None,
                 workspace: Workspace, progress: bool = False):
    """The dataset of a (seed, chunk), prepared once per process."""
    key = (task, profile, seed, json.dumps({k: list(v) for k, v in sorted(where.items())}),
           data_root, workspace.cache)
    if key not in _DATASETS:
        dataset = prepare_dataset(TASKS.get(task), profile, seed, where, data_root=data_root,
                                  workspace=workspace, progress=progress)
        if hasattr(dataset, "prepared"):
            dataset.prepared  # noqa: B018  (audio, RIRs and features now, not in a cell)
        _DATASETS[key] = dataset
    return _DATASETS[key]


def chunks(task_name: str, profile: str, where: dict, split: tuple[str, ...]) -> list[dict]:
    """The condition selections of the cells: one per combination of the ``split`` columns'
    selected grid values (each pinned to a single value), the rest of ``where`` kept."""
    task = TASKS.get(task_name)
    grid = task.select_grid(task.profile(profile), where)
    for column in split:
        if column not in grid:
            raise UserError(f"--split: task {task_name} has no condition {column!r} "
                            f"(conditions: {', '.join(grid) or 'none'})")
    values = [grid[c] for c in split]
    out = []
    for combo in itertools.product(*values):
        chunk = dict(where)
        for column, value in zip(split, combo, strict=True):
            chunk[column] = (value,) if isinstance(value, str) else (value, value)
        out.append(chunk)
    return out


def plan(task_name: str, methods: list[str], *, profile: str, seeds: list[int], where: dict,
         split: tuple[str, ...], overrides: dict, data_root: Path | None, workspace: Workspace,
         progress: bool = False, placement: device.Placement = device.CPU
         ) -> list[Cell]:
    """Every cell of the sweep with its key, to run under ``placement``. On the way,
    everything the cells will read is built and checked (on the CPU: the driver of a Ray
    sweep may have no GPU): parameters (by value), methods (checkpoints loaded), every test
    dataset and, for learned methods, the training data of every seed. Bad input fails here,
    before any cell runs or anything is written."""
    task = TASKS.get(task_name)
    spec = task.profile(profile)
    root = Path(data_root).resolve() if data_root else None
    _DATASETS.clear()  # a new command: files may have changed since the last one
    forget_training_data()
    classes = [METHODS.get(m) for m in methods]
    for cls in classes:
        build_method(cls, resolve_params(cls, spec, overrides), seeds[0])
    learned = any(cls.card.kind == "learned" for cls in classes)
    split = tuple(dict.fromkeys((*split, *task.training_conditions)))  # one model per value
    cells = []
    for seed in seeds:
        for chunk in chunks(task_name, profile, where, split):
            if learned:
                training_data(task, spec, seed, root, workspace, progress, chunk)
            dataset = cell_dataset(task_name, profile, seed, chunk, root, workspace, progress)
            for method in methods:
                key = expected_key(task, method, profile, seed, chunk, dataset.version, overrides,
                                   placement)
                cells.append(Cell(task_name, method, profile, seed, _frozen(chunk),
                                  _frozen(overrides), root, key, dataset.version, placement))
    return cells


def _fault_items() -> list[tuple[str, str]]:
    """(action, target) of each ``PERLOC_FAULTS`` item."""
    spec = os.environ.get("PERLOC_FAULTS", "")
    return [part.strip().partition("=")[::2] for part in spec.split(",") if part.strip()]


def inject_faults(cell: Cell) -> None:
    """Fault injection for resilience tests: ``PERLOC_FAULTS`` lists ``ACTION=METHOD@SEED``
    items (comma-separated). ``kill`` SIGKILLs the worker process running that cell (never
    the driver), ``raise`` raises RuntimeError in it, ``sleep=SECONDS`` delays every cell
    (``trace=DIR``: see :func:`trace_cell`)."""
    for action, target in _fault_items():
        if action == "sleep":
            time.sleep(float(target))
        elif target == f"{cell.method}@{cell.seed}":
            if action == "raise":
                raise RuntimeError(f"injected fault in {cell.label()}")
            if action == "kill" and mp.parent_process() is not None:
                os.kill(os.getpid(), signal.SIGKILL)


def trace_cell(cell: Cell) -> None:
    """Test instrumentation, not results: with a ``trace=DIR`` item in ``PERLOC_FAULTS``, each
    cell, once evaluated, writes ``DIR/<cell key>.json`` naming the process that ran it: host,
    pid, the Ray node (in a Ray worker) and whether that process ever imported mlflow (only the
    driver logs MLflow runs, so a worker never needs it). Tests use it to see where cells ran."""
    for action, target in _fault_items():
        if action == "trace":
            ray = sys.modules.get("ray")  # never imported for this: only asked when present
            node = (ray.get_runtime_context().get_node_id()
                    if ray is not None and ray.is_initialized() else None)
            where = {"key": cell.key, "host": socket.gethostname(), "pid": os.getpid(),
                     "ray_node": node, "mlflow_imported": "mlflow" in sys.modules}
            record_files.write_atomic(Path(target) / f"{cell.key}.json", json.dumps(where))


def run_cell(cell: Cell) -> RunRecord | CellInputError:
    """Evaluate one cell (in a worker or the driver); an exception becomes a failed record,
    bad input (a UserError) a CellInputError that stops the sweep."""
    workspace = Workspace.from_env()
    try:
        inject_faults(cell)
        dataset = cell_dataset(cell.task, cell.profile, cell.seed, cell.where_dict,
                               cell.data_root, workspace)
        if dataset.version != cell.data_version:  # data changed since the plan: key unsound
            return failed_record(cell, f"dataset version {dataset.version} differs from the "
                                       f"planned {cell.data_version}")
        with device.using(device.for_worker(cell.placement)):
            return evaluate(cell.task, cell.method, cell.profile, cell.seed, cell.where_dict,
                            data_root=cell.data_root, overrides=cell.overrides_dict,
                            workspace=workspace, dataset=dataset, key=cell.key, say=_SAY[0],
                            progress=_SAY[1])
    except UserError as exc:
        return CellInputError(str(exc))
    except Exception as exc:  # noqa: BLE001  (any cell failure is recorded, the sweep goes on)
        reason = f"{type(exc).__name__}: {exc}"
        if device.check_enabled() and "meta" in str(exc):
            reason = f"wrong-device check: a tensor made without a device ({reason})"
        return failed_record(cell, reason, traceback.format_exc())
    finally:
        trace_cell(cell)


def failed_record(cell: Cell, reason: str, trace: str = "") -> RunRecord:
    """The record of a cell that produced no scores."""
    first_line = reason.strip().splitlines()[0] if reason.strip() else "failed"
    return RunRecord(task=cell.task, method=cell.method, profile=cell.profile, seed=cell.seed,
                     dataset={}, params={}, overrides=cell.overrides_dict,
                     where={k: list(v) for k, v in cell.where}, key=cell.key,
                     git_sha=git_sha(), status="failed", reason=first_line, traceback=trace,
                     created_at=dt.datetime.now(dt.UTC).isoformat())


def as_record(cell: Cell, result: Any) -> RunRecord:
    if isinstance(result, CellFailure):
        return failed_record(cell, result.reason, result.traceback)
    return result


@dataclass
class Manifest:
    """The cells a sweep command asked for (for ``bench status``)."""

    sweep_id: str
    task: str
    profile: str
    command: dict[str, Any]
    cells: list[dict[str, Any]] = field(default_factory=list)
    created_at: str = ""
    version: int = MANIFEST_VERSION


def sweep_id(cells: list[Cell]) -> str:
    blob = json.dumps(sorted(c.key for c in cells))
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def write_manifest(workspace: Workspace, cells: list[Cell], command: dict[str, Any]) -> Path:
    first = cells[0]
    manifest = Manifest(sweep_id(cells), first.task, first.profile, command,
                        [{"key": c.key, "method": c.method, "seed": c.seed,
                          "where": {k: list(v) for k, v in c.where}} for c in cells],
                        dt.datetime.now(dt.UTC).isoformat())
    path = workspace.results / "sweeps" / f"{first.task}-{first.profile}-{manifest.sweep_id}.json"
    if not path.exists():
        record_files.write_atomic(path, json.dumps(dataclasses.asdict(manifest), indent=1) + "\n")
    return path
