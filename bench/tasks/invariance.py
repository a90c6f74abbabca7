"""``bench invariance METHOD``: does an estimate survive a transformation that should not
change it (a claimed invariance, judged) or that may (a sensitivity, reported)?

A task family registers a checker in :data:`CHECKERS` under each task name it serves:
``checker(method, dataset, frames, trials, seed) -> list[Check]`` runs on a fixed batch of
the task's test data (microphone arrays: ``ssl_invariance``; point clouds:
``points_invariance``). The command loads (or trains) the method for the profile and seed,
prints one row per check, and exits 1 when a claimed invariance does not hold.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from tabulate import tabulate

from perloc.bench.cli.console import progress_bars, say
from perloc.bench.cli.options import device_options, task_names
from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import COMMANDS, METHODS, TASKS
from perloc.bench.run.evaluate import build_method, prepare_dataset, resolve_params
from perloc.bench.run.training import ensure_fitted
from perloc.bench.store.workspace import Workspace

CHECKERS: dict[str, Callable[..., list]] = {}  # task name -> checker


@dataclass
class Check:
    """One test: the largest change seen (``unit``), whether the card claims invariance and
    the tolerance a claimed invariance must meet."""

    test: str
    max_change: float
    claimed: bool
    tolerance: float
    unit: str

    @property
    def verdict(self) -> str:
        if not self.claimed:
            return "reported"
        return "pass" if self.max_change <= self.tolerance else "FAIL"


def invariance(method_name: str, task_name: str | None, *, profile: str = "smoke", seed: int = 0,
               frames: int = 16, trials: int = 3, data_root: Path | None = None,
               progress: bool = False, say=print) -> list[Check]:
    """Load (or train) the method for ``profile`` and run its task's checks."""
    cls = METHODS.get(method_name)
    task, workspace = TASKS.get(task_name or cls.card.task), Workspace.from_env()
    task.check_method(cls.card)
    if task.name not in CHECKERS:
        known = ", ".join(sorted(CHECKERS))
        raise UserError(f"--task: {task.name} has no invariance checks (no microphone arrays "
                        f"or point clouds to permute; tasks with checks: {known})")
    if frames < 1 or trials < 1:
        raise UserError("--frames and --trials must be at least 1")
    spec = task.profile(profile)
    params = resolve_params(cls, spec)
    model = build_method(cls, params, seed)
    if cls.card.kind == "learned":
        workspace.check_writable()
        ensure_fitted(model, task, spec, seed, dataclasses.asdict(params), data_root=data_root,
                      workspace=workspace, progress=progress, say=say)
    dataset = prepare_dataset(task, profile, seed, {}, data_root=data_root, workspace=workspace,
                              progress=progress)
    return CHECKERS[task.name](model, dataset, frames, trials, seed)


@click.command("invariance")
@click.argument("method_name", metavar="METHOD")
@click.option("--task", "task_name", default=None, callback=task_names,
              help="Task whose data to use (default: the method's own).")
@click.option("--profile", default="smoke", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--frames", default=16, show_default=True, type=int,
              help="Examples in the batch (frames, clouds).")
@click.option("--trials", default=3, show_default=True, type=int, help="Random orders.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None)
@device_options
def invariance_cmd(method_name, task_name, profile, seed, frames, trials, data_root,
                   device_spec, amp, compiled):
    """Largest change of the estimate under permutations (mics, points) and the reported
    sensitivities (dropped mics, rotations); exit 1 when a claimed invariance fails."""
    with device.using(device.resolve(device_spec, amp, compiled)):
        checks = invariance(method_name, task_name, profile=profile, seed=seed, frames=frames,
                            trials=trials, data_root=data_root, progress=progress_bars(),
                            say=say)
    rows = [[c.test, f"{c.max_change:.3g} {c.unit}", "yes" if c.claimed else "no", c.verdict]
            for c in checks]
    click.echo(tabulate(rows, headers=["test", "max change", "claimed invariant", "verdict"]))
    if any(c.verdict == "FAIL" for c in checks):
        sys.exit(1)


COMMANDS.add("invariance", invariance_cmd)
