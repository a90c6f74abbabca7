"""The sweep driver: skip finished cells, run the rest on an executor, write as they finish.

Only this process writes: each finished cell's record (atomically) and its MLflow run, under
the results lock. A tracking server that stops answering mid-sweep does not stop it: the
records are saved, the ones without a run are listed in the outcome (``unmirrored``) and
mirrored once the server answers again (``bench sync``). On SIGINT the executor stops handing
out cells, the cells in flight finish and are written, and the cells never started stay
pending (a second SIGINT aborts at once).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from perloc.bench.core.errors import UserError
from perloc.bench.core.progress import progress_bar
from perloc.bench.core.record import RunRecord
from perloc.bench.run.cells import (
    Cell,
    as_record,
    run_cell,
    set_progress_printer,
    write_manifest,
)
from perloc.bench.run.executors import CellInputError
from perloc.bench.store import record_files
from perloc.bench.store.locking import results_lock
from perloc.bench.store.tracking import SweepMirror
from perloc.bench.store.workspace import Workspace

Say = Callable[[str], None]


@dataclass
class SweepOutcome:
    records: list[RunRecord] = field(default_factory=list)  # one per finished cell, plan order
    ran: int = 0
    reused: int = 0
    not_started: int = 0
    seconds: float = 0.0
    tracking_uri: str = ""
    unmirrored: list[RunRecord] = field(default_factory=list)  # saved, no MLflow run yet
    mirror_down: str | None = None  # why the tracking server did not answer at the end
    driver_seconds: float = 0.0  # the driver's own time on finished cells: records, MLflow runs

    @property
    def failed(self) -> list[RunRecord]:
        return [r for r in self.records if r.status != "ok"]


def _stored(workspace: Workspace, cells: list[Cell]) -> dict[str, RunRecord]:
    wanted = {c.key for c in cells}
    found = {}
    for task, profile in {(c.task, c.profile) for c in cells}:
        for record in record_files.load_all(workspace.runs, task, profile):
            if record.key in wanted:
                found[record.key] = record
    return found


def _write(workspace: Workspace, mirror: SweepMirror, record: RunRecord, *,
           save: bool = True) -> None:
    """Under the results lock: the record (unless already stored) and its MLflow run."""
    with results_lock(workspace.results):
        if save:
            record_files.save(workspace.runs, record)
        mirror.log(record)


class _Interrupts:
    """First SIGINT: stop scheduling (in-flight cells finish); second: KeyboardInterrupt."""

    def __init__(self, executor, say: Say) -> None:
        self.executor, self.say, self.count = executor, say, 0

    def __enter__(self):
        self.active = threading.current_thread() is threading.main_thread()
        if self.active:  # signal handlers can only be set from the main thread
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self.active:
            signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum, frame) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        self.executor.stopping = True
        self.say("interrupt: no new cells are started; waiting for the running ones "
                 "(Ctrl-C again to abort)")


def execute(cells: list[Cell], executor, workspace: Workspace, *, rerun: bool = False,
            command: dict | None = None, say: Say = lambda _: None,
            progress: bool = False) -> SweepOutcome:
    """Run the cells that have no ``ok`` record (all with ``rerun``); records in plan order."""
    start = time.perf_counter()
    stored = {} if rerun else _stored(workspace, cells)
    done: dict[str, RunRecord] = {}
    todo = []
    for cell in cells:
        record = stored.get(cell.key)
        if record is not None and record.status == "ok":
            done[cell.key] = record
        else:
            todo.append(cell)
    outcome = SweepOutcome(reused=len(done), tracking_uri=workspace.tracking_uri)
    mirror = SweepMirror(workspace.tracking_uri, workspace.results / "mlartifacts", say)
    if cells:
        write_manifest(workspace, cells, command or {})
    for record in done.values():  # a driver killed before logging left no MLflow run
        _write(workspace, mirror, record, save=False)
    if done:
        say(f"{len(done)} of {len(cells)} cells already finished (records reused; --rerun "
            "to recompute)")
    if todo:
        say(f"running {len(todo)} cells on {executor.describe()}")
    set_progress_printer(say, progress)
    bad_input = None
    waiting = progress_bar(desc="sweep", total=len(todo), unit="cells finished",
                           enabled=progress and bool(todo), terminal_bar=False)
    with _Interrupts(executor, say), waiting:
        for cell, result in executor.run(todo, run_cell):
            if isinstance(result, CellInputError):  # stop: no new cells, no record for it
                executor.stopping, bad_input = True, bad_input or result.message
                continue
            received = time.perf_counter()
            record = as_record(cell, result)
            _write(workspace, mirror, record)
            done[cell.key] = record
            outcome.ran += 1
            seconds = record.durations.get("total_s")
            say(f"  [{outcome.ran}/{len(todo)}] {cell.label()}: {record.status}"
                + (f" in {seconds:.1f} s" if seconds else f" ({record.reason})"
                   if record.reason else ""))
            waiting.update()
            outcome.driver_seconds += time.perf_counter() - received
    if bad_input is not None:
        raise UserError(bad_input)
    outcome.records = [done[c.key] for c in cells if c.key in done]
    outcome.not_started = len(cells) - len(outcome.records)
    outcome.unmirrored, outcome.mirror_down = mirror.unmirrored, mirror.down
    outcome.seconds = time.perf_counter() - start
    return outcome

