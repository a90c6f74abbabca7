"""Executors run sweep cells and hand their results back to the driver as they finish.

``local`` (the default): ``jobs`` = 1 runs cells in the driver process; ``jobs`` > 1 uses a
process pool built on the standard library's ``multiprocessing`` (forkserver workers).
``ray``: one Ray task per cell on a local or existing cluster (the optional ``ray`` extra).

Every executor yields ``(cell, result)`` pairs in completion order, where ``result`` is what
the work function returned or a :class:`CellFailure` when the cell's worker died. Workers never
write records, MLflow runs or leaderboards: the driver alone does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from perloc.bench.core.errors import UserError

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class CellFailure:
    """A cell that produced no result because its worker died (killed, out of memory)."""

    reason: str
    traceback: str = ""


@dataclass(frozen=True)
class CellInputError:
    """A cell stopped by bad input (a UserError raised inside it): the sweep stops with that
    one line, and no failed record is written for it."""

    message: str


class Executor(Protocol):
    name: str

    def run(self, cells: list[Any], work: Callable[[Any], Any]) -> Iterator[tuple[Any, Any]]: ...

    def describe(self) -> str: ...


def make_executor(name: str, jobs: int = 1, address: str | None = None,
                  cpus_per_cell: float = 1.0, gpus_per_cell: float = 0.0) -> Executor:
    """The executor called ``name`` (flag errors are UserErrors naming the flag)."""
    if name not in EXECUTORS:
        raise UserError(f"--executor: unknown executor {name!r} (known: {', '.join(EXECUTORS)})")
    if jobs < 1:
        raise UserError(f"--jobs: must be at least 1, got {jobs}")
    if name == "local":
        from perloc.bench.run.executors.local import InProcess, ProcessPool

        return InProcess() if jobs == 1 else ProcessPool(jobs)
    if address is not None and jobs != 1:
        raise UserError("--jobs: with --executor ray the cluster's CPUs decide the parallelism")
    from perloc.bench.run.executors.ray_executor import RayExecutor

    return RayExecutor(address, cpus_per_cell, gpus_per_cell, max_parallel=jobs if jobs > 1 else 0)
