"""Local executors: in the driver process, or a pool of worker processes.

:class:`ProcessPool` keeps ``jobs`` long-lived workers started by the ``forkserver`` method
(the harness is imported once in the server, then forked per worker, so a worker starts in
milliseconds and never inherits the driver's thread pools). Each worker runs one cell at a
time and sets torch to ``threads`` threads. The driver waits on every worker's result pipe and
process sentinel together, so when a worker dies mid-cell (SIGKILL, the OOM killer) it knows
which cell that was: the cell is reported as a :class:`CellFailure` and a fresh worker takes
the remaining cells. (``concurrent.futures.ProcessPoolExecutor`` cannot tell which task a dead
worker held and breaks the whole pool.) Workers ignore SIGINT: the driver decides what an
interrupt means.

Cells carry an ``affinity`` (the dataset they need): a free worker takes a cell on the dataset
it already holds, else one no other worker holds, so each worker prepares few datasets.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Iterator
from multiprocessing.connection import wait
from typing import Any

from perloc.bench.core.device import SLOT_ENV
from perloc.bench.run.executors import CellFailure

PRELOAD = ["perloc.bench.run.cells"]


class InProcess:
    """Cells one after another in the driver process (``--jobs 1``)."""

    name = "local"

    def __init__(self) -> None:
        self.stopping = False  # set by the driver on SIGINT: no further cells

    def describe(self) -> str:
        return "local, in-process"

    def run(self, cells: list[Any], work: Callable[[Any], Any]) -> Iterator[tuple[Any, Any]]:
        for cell in cells:
            if self.stopping:
                return
            yield cell, work(cell)


ENV_PREFIXES = ("PERLOC_", "MLFLOW_")


def harness_env() -> dict[str, str]:
    """The driver's harness settings, handed to each worker (the forkserver that forks the
    workers keeps the environment it was started with)."""
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}


def _worker_main(conn, threads: int, env: dict[str, str], slot: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for key in [k for k in os.environ if k.startswith(ENV_PREFIXES)]:
        del os.environ[key]
    os.environ.update(env)
    os.environ[SLOT_ENV] = str(slot)  # which GPU a "cuda" cell takes (device.for_worker)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    while True:
        try:
            message = conn.recv()
        except EOFError:  # the driver went away
            return
        if message is None:
            return
        work, cell = message
        conn.send(work(cell))


class _Worker:
    def __init__(self, ctx, threads: int, slot: int) -> None:
        self.conn, child = ctx.Pipe()
        self.slot = slot
        self.process = ctx.Process(target=_worker_main,
                                   args=(child, threads, harness_env(), slot), daemon=True)
        self.process.start()
        child.close()
        self.cell: Any = None
        self.last: Any = None  # affinity of the last cell it ran

    def give(self, work, cell) -> None:
        self.cell = cell
        self.conn.send((work, cell))

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()


class ProcessPool:
    """``jobs`` forkserver workers with ``threads`` torch threads each."""

    name = "local"

    def __init__(self, jobs: int, threads: int | None = None) -> None:
        self.jobs = jobs
        self.threads = threads or max(1, (os.cpu_count() or 1) // jobs)
        self.stopping = False  # set by the driver on SIGINT: finish in-flight cells only

    def describe(self) -> str:
        return f"local, {self.jobs} worker processes x {self.threads} torch threads"

    def run(self, cells: list[Any], work: Callable[[Any], Any]) -> Iterator[tuple[Any, Any]]:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        queue = list(cells)
        workers = [_Worker(ctx, self.threads, i) for i in range(min(self.jobs, len(cells)))]
        try:
            for worker in workers:
                worker.give(work, _next_cell(queue, worker, workers))
            while any(w.cell is not None for w in workers):
                yield from self._collect(ctx, workers, queue, work)
        finally:
            for worker in workers:
                worker.stop()

    def _collect(self, ctx, workers: list[_Worker], queue: list, work) -> Iterator:
        busy = [w for w in workers if w.cell is not None]
        ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
        for worker in busy:
            if worker.conn in ready or worker.conn.poll():
                try:
                    result = worker.conn.recv()
                except EOFError:
                    result = _died(worker)
            elif worker.process.sentinel in ready:
                result = _died(worker)
            else:
                continue
            cell, worker.cell = worker.cell, None
            if not worker.process.is_alive():
                workers[workers.index(worker)] = worker = _Worker(ctx, self.threads, worker.slot)
            worker.last = getattr(cell, "affinity", None)
            if queue and not self.stopping:
                worker.give(work, _next_cell(queue, worker, workers))
            yield cell, result


def _next_cell(queue: list, worker: _Worker, workers: list[_Worker]) -> Any:
    """Pop the best cell for ``worker``: same affinity as its last cell, else an affinity no
    busy worker holds, else the first queued."""
    held = {getattr(w.cell, "affinity", None) for w in workers if w.cell is not None}
    for wanted in (lambda a: worker.last is not None and a == worker.last,
                   lambda a: a not in held):
        for index, cell in enumerate(queue):
            if wanted(getattr(cell, "affinity", None)):
                return queue.pop(index)
    return queue.pop(0)


def _died(worker: _Worker) -> CellFailure:
    worker.process.join(timeout=5)
    code = worker.process.exitcode
    how = f"signal {signal.Signals(-code).name}" if code and code < 0 else f"exit code {code}"
    return CellFailure(f"worker process {worker.process.pid} died ({how}) while running the cell")
