"""What ``bench run`` and ``bench regress`` do: evaluate, then store, mirror and publish.

``bench run`` is a sweep (``bench/run/cells.py``): the driver checks flags and prepares every
dataset before any cell runs, so bad input leaves no partial records, MLflow runs or
leaderboards behind; then records are written cell by cell as they finish.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from tabulate import tabulate

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.core.record import RunRecord
from perloc.bench.core.registry import METHODS, TASKS
from perloc.bench.core.task import Profile
from perloc.bench.report import board_table, leaderboard, regress
from perloc.bench.run.driver import SweepOutcome
from perloc.bench.run.evaluate import (
    build_method,
    evaluate,
    expected_key,
    prepare_dataset,
    resolve_params,
)
from perloc.bench.run.params import parse_overrides
from perloc.bench.run.training import ensure_fitted
from perloc.bench.store import mlflow_mirror, mlflow_prepare, record_files, tracking
from perloc.bench.store.workspace import Workspace

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def resolve_methods(task_name: str, methods: tuple[str, ...] | list[str],
                    profile: str | None = None) -> list[str]:
    """Canonical method names for the task; when none are given, the ``profile``'s methods,
    else the task's defaults."""
    task = TASKS.get(task_name)
    defaults = task.profile(profile).methods if profile else ()
    names = [METHODS.canonical(m) for m in methods] or list(defaults or task.default_methods)
    for name in names:
        task.check_method(METHODS.get(name).card, "-m")
    return names


def infer_task(a: str, b: str):
    """The one task both methods run on (for ``bench compare A B`` without ``--task``); where
    several take them (a task family), the task named like the methods' own."""
    cards = [METHODS.get(a).card, METHODS.get(b).card]
    shared = [task for _, task in TASKS.items() if all(task.runs(c) for c in cards)]
    if len(shared) == 1:
        return shared[0]
    named = [task for task in shared if task.name == cards[0].task]
    if len(named) == 1:
        return named[0]
    found = ", ".join(t.name for t in shared) or "none"
    raise UserError(f"--task: {a} and {b} share {'no task' if not shared else 'several tasks'} "
                    f"({found}); name one with --task")


def results_table(task_name: str, records: list[RunRecord]) -> str:
    task = TASKS.get(task_name)
    board = leaderboard.update_board({"sections": {}}, task, records)
    tables = []
    for key in board["sections"]:
        header, rows = board_table.section_rows(board, key, task)
        tables.append(tabulate(rows, headers=header, disable_numparse=True))
    return "\n\n".join(tables)


@dataclasses.dataclass(frozen=True)
class SweepOptions:
    """How ``bench run`` spreads its cells: seeds, condition chunks, executor, re-run."""

    seeds: tuple[int, ...] | None = None  # None: the profile's seeds
    split: tuple[str, ...] = ()
    executor: str = "local"
    jobs: int = 1
    address: str | None = None
    rerun: bool = False
    cpus_per_cell: float = 1.0  # Ray: resources each cell's task declares
    gpus_per_cell: float = 0.0
    device: str | None = None  # --device (None: $PERLOC_DEVICE, else auto)
    amp: str | None = None  # --amp (None: $PERLOC_AMP, else off)
    compiled: bool | None = None  # --compile (None: $PERLOC_COMPILE)

    def placement(self) -> device.Placement:
        """The checked device placement of the sweep's cells."""
        gpus = self.gpus_per_cell if self.executor == "ray" else None
        return device.resolve(self.device, self.amp, self.compiled, ray_gpus=gpus)


def sweep_seeds(sweep: SweepOptions, spec: Profile) -> list[int]:
    """The seeds a sweep runs: the explicit ones (--seed / --seeds), else the profile's."""
    return list(sweep.seeds if sweep.seeds is not None else spec.seeds)


def run_methods(task_name: str, methods, *, profile: str = "default", seed: int | None = None,
                where: dict | None = None, overrides=(), data_root: Path | None = None,
                publish: bool = False, progress: bool = False, say: Say = _quiet,
                sweep: SweepOptions | None = None) -> SweepOutcome:
    """Plan the cells, run the unfinished ones (records and MLflow runs written as they
    finish), then optionally publish the leaderboard. Bad input fails before any write."""
    from perloc.bench.run.cells import plan
    from perloc.bench.run.driver import execute
    from perloc.bench.run.executors import make_executor

    workspace = Workspace.from_env()
    sweep = sweep or SweepOptions(seeds=None if seed is None else (seed,))
    names = resolve_methods(task_name, methods, profile)
    overrides = parse_overrides(overrides) if not isinstance(overrides, dict) else overrides
    spec = TASKS.get(task_name).profile(profile)
    for name in names:
        resolve_params(METHODS.get(name), spec, overrides)  # bad -p fails before any work
    if publish and sweep.split:
        raise UserError("--publish: leaderboards take whole-grid cells; drop --split")
    if publish:
        leaderboard.check_publishable(workspace.leaderboards, TASKS.get(task_name))
    executor = make_executor(sweep.executor, sweep.jobs, sweep.address, sweep.cpus_per_cell,
                             sweep.gpus_per_cell)
    placement = sweep.placement()
    workspace.check_writable()
    mlflow_prepare.check_uri(workspace.tracking_uri)
    if hasattr(executor, "start"):
        executor.start()
    start = time.perf_counter()
    seeds = sweep_seeds(sweep, spec)
    cells = plan(task_name, names, profile=profile, seeds=seeds, where=where or {},
                 split=sweep.split, overrides=overrides, data_root=data_root,
                 workspace=workspace, progress=progress, placement=placement)
    say(f"{task_name}/{profile}: {len(cells)} cells planned on {placement.summary()}, "
        "datasets ready in "
        f"{time.perf_counter() - start:.1f} s")
    mlflow_prepare.prepare(workspace.tracking_uri, workspace.runs, say=say)  # after the checks,
    # before any cell: the store is whole (rebuilt from the records if need be)
    command = {"methods": names, "seeds": seeds, "split": list(sweep.split),
               "where": {k: list(v) for k, v in (where or {}).items()}, "overrides": overrides}
    outcome = execute(cells, executor, workspace, rerun=sweep.rerun, command=command, say=say,
                      progress=progress)
    say(f"records: {workspace.runs / task_name / profile}; MLflow: {workspace.tracking_uri}")
    ok = [r for r in outcome.records if r.status == "ok"]
    if publish and ok:
        leaderboard.publish(workspace.leaderboards, TASKS.get(task_name), ok)
        say(f"leaderboard: {leaderboard.board_path(workspace.leaderboards, task_name, '.md')}")
    return outcome


def compare_methods(task_name: str, a: str, b: str, *, profile: str = "default", seed: int = 0,
                    where: dict | None = None, data_root: Path | None = None,
                    progress: bool = False, say: Say = _quiet) -> list[RunRecord]:
    """Both methods' records on the selected cells: reused when stored, else run and stored."""
    task, workspace = TASKS.get(task_name), Workspace.from_env()
    names = resolve_methods(task_name, [a, b])
    if names[0] == names[1]:
        raise UserError(f"compare: {a!r} and {b!r} are the same method")
    workspace.check_writable()
    mlflow_prepare.check_uri(workspace.tracking_uri)
    where = where or {}
    dataset = prepare_dataset(task, profile, seed, where, data_root=data_root,
                              workspace=workspace, progress=progress)
    mlflow_prepare.prepare(workspace.tracking_uri, workspace.runs, say=say)  # heal before work
    stored = {r.key: r for r in record_files.load_all(workspace.runs, task.name, profile)
              if r.status == "ok"}
    records, fresh = [], []
    for name in names:
        key = expected_key(task, name, profile, seed, where, dataset.version)
        if key in stored:
            say(f"{name}: reusing record {key}")
            records.append(stored[key])
            continue
        record = evaluate(task, name, profile, seed, where, data_root=data_root,
                          workspace=workspace, dataset=dataset, progress=progress, say=say)
        records.append(record)
        fresh.append(record)
    for record in fresh:
        record_files.save(workspace.runs, record)
    if fresh:
        tracking.mirror_saved(fresh, workspace.tracking_uri, workspace.results / "mlartifacts",
                              say)
    return records


def sync_records(task_name: str | None = None) -> list[str]:
    """Log to MLflow every record (of ``task_name``, default every task with records) whose
    cell has no run of it, e.g. after a tracking server was down during a sweep; a line per
    task saying what was done. A server that does not answer is one error line, nothing
    written."""
    workspace = Workspace.from_env()
    uri = workspace.tracking_uri
    mlflow_prepare.check_uri(uri)
    tasks = [task_name] if task_name else sorted(mlflow_mirror.record_counts(workspace.runs))
    if not tasks:
        return [f"no records under {workspace.runs}"]
    where = mlflow_mirror.store_name(uri)
    return [f"{s.task}: {s.mirrored} records mirrored, {s.had_run} already had their run "
            f"(MLflow: {where})" for s in tracking.sync(uri, workspace.results, tasks)]


def train_methods(task_name: str, methods, *, profile: str = "default", seed: int = 0,
                  overrides=(), data_root: Path | None = None, progress: bool = False,
                  say: Say = _quiet) -> list[tuple[str, Path]]:
    """Fit each learned method (or find its cached checkpoint); (name, checkpoint) pairs."""
    task, workspace = TASKS.get(task_name), Workspace.from_env()
    spec = task.profile(profile)
    overrides = parse_overrides(overrides) if not isinstance(overrides, dict) else overrides
    out = []
    for name in resolve_methods(task_name, methods, profile):
        cls = METHODS.get(name)
        if cls.card.kind != "learned":
            raise UserError(f"-m {name}: a {cls.card.kind} method has nothing to train")
        params = resolve_params(cls, spec, overrides)
        workspace.check_writable()
        model = build_method(cls, params, seed)
        _, _, path = ensure_fitted(model, task, spec, seed, dataclasses.asdict(params),
                                   data_root=data_root, workspace=workspace, progress=progress,
                                   say=say)
        out.append((name, path))
    return out


def regress_task(task_name: str, say: Say = _quiet, show: Say = print) -> bool:
    """Re-run the published smoke entries of a task; True when nothing got worse.

    The comparison table goes to ``show`` (stdout), progress lines to ``say`` (stderr).
    """
    task = TASKS.get(task_name)
    workspace = Workspace.from_env()
    board = leaderboard.load_board(workspace.leaderboards, task)
    entries = regress.smoke_entries(board, task)
    workspace.check_writable()
    dataset = prepare_dataset(task, regress.PROFILE, 0, {}, data_root=None, workspace=workspace)
    records = [evaluate(task, e["method"], regress.PROFILE, e["seed"],
                        {k: tuple(v) for k, v in e["where"].items()}, overrides=e["overrides"],
                        workspace=workspace,
                        dataset=dataset if (e["seed"], e["where"]) == (0, {}) else None)
               for e in entries]
    published = {s["dataset"].get("version") for s in board["sections"].values()
                 if s["profile"] == regress.PROFILE}
    measured = {r.dataset.get("version") for r in records}
    if measured - published:
        say(f"note: smoke dataset version {sorted(measured)} differs from the published "
            f"{sorted(published)}; the data changed, numbers may move")
    checks = regress.compare(task, entries, records)
    say(f"regress {task.name} ({regress.PROFILE} profile, {len(entries)} entries)")
    show(regress.table(checks))
    bad = regress.failed(checks)
    show(f"{task.name}: {'REGRESSION' if bad else 'no regression'}")
    return not bad
