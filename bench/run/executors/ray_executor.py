"""The Ray executor: one Ray task per cell, on a local cluster or an existing one.

``ray.init()`` starts a local cluster when ``address`` is None, or connects to
``address`` (``auto``, ``ray://host:10001``, ``host:6379``). Each cell is a task declaring
``cpus_per_cell`` CPUs and ``gpus_per_cell`` GPUs; the task sets torch to that many threads.
Tasks are not retried by Ray (``max_retries=0``): a crashed worker makes the cell a
:class:`CellFailure` and the harness's own re-run retries it. The workers get the driver's
PERLOC_* and MLFLOW_* environment, but only the driver writes results.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from perloc.bench.core.errors import UserError
from perloc.bench.run.executors import CellFailure
from perloc.bench.run.executors.local import harness_env
from perloc.bench.store.workspace import Workspace


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray: Ray is not installed; pip install 'perloc[ray]'") from None
    return ray


def _run_with_threads(work: Callable[[Any], Any], cell: Any, threads: int) -> Any:
    import torch

    torch.set_num_threads(max(1, threads))
    return work(cell)


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, cpus_per_cell: float = 1.0,
                 gpus_per_cell: float = 0.0, max_parallel: int = 0) -> None:
        self.address = address
        self.cpus = cpus_per_cell
        self.gpus = gpus_per_cell
        self.max_parallel = max_parallel  # 0: as many as the cluster schedules
        self.stopping = False

    def describe(self) -> str:
        where = self.address or "a local Ray cluster"
        return f"ray on {where}, {self.cpus:g} CPU / {self.gpus:g} GPU per cell"

    def start(self) -> None:
        """Start or reach the cluster now, so a bad address fails before any work."""
        self._init(_import_ray())

    def _init(self, ray) -> None:
        if ray.is_initialized():
            return
        env = {**harness_env(), **{k: v for k, v in os.environ.items() if k.startswith("OMP_")}}
        workspace = Workspace.from_env()  # absolute: Ray workers start in their own folders
        env.update(PERLOC_RESULTS=str(workspace.results), PERLOC_CACHE=str(workspace.cache),
                   PERLOC_LEADERBOARDS=str(workspace.leaderboards),
                   MLFLOW_TRACKING_URI=workspace.tracking_uri)
        kwargs = {"runtime_env": {"env_vars": env}, "log_to_driver": False,
                  "include_dashboard": False, "ignore_reinit_error": True}
        if self.address is None and self.max_parallel:
            kwargs["num_cpus"] = int(self.max_parallel * self.cpus)
        try:
            ray.init(address=self.address, **kwargs)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise UserError(f"--address: cannot reach a Ray cluster at {self.address!r} "
                            f"({exc})") from None

    def run(self, cells: list[Any], work: Callable[[Any], Any]) -> Iterator[tuple[Any, Any]]:
        ray = _import_ray()
        self._init(ray)
        remote = ray.remote(num_cpus=self.cpus, num_gpus=self.gpus,
                            max_retries=0)(_run_with_threads)
        pending = {remote.remote(work, cell, int(self.cpus)): cell for cell in cells}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    cell = pending.pop(ref)
                    yield cell, _result(ray, ref)
                if self.stopping:
                    for ref in pending:
                        ray.cancel(ref)
                    self.stopping = False
        finally:
            if self.address is None:
                ray.shutdown()


def _result(ray, ref) -> Any:
    try:
        return ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        return CellFailure("interrupted before it ran")
    except ray.exceptions.RayError as exc:  # worker crashed, node died, task raised in Ray
        return CellFailure(f"Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0]}",
                           str(exc))
