"""``bench invariance``: does a localizer's estimate survive reordering or dropping microphones?

On one fixed batch (the first ``frames`` frames of setup 1_a with the most microphones) the
method predicts once; then the microphone axis is permuted ``trials`` times (signals and
coordinates together) and, where the card claims ``variable_mics``, 1 to 3 microphones are
dropped. The largest change of the source estimate (cm) is reported per test. A permutation
must change nothing (up to ``tolerance_cm``) for methods whose card claims ``perm_invariant``;
for the others, and for drops (less input is a different problem), the change is reported,
not judged.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from tabulate import tabulate

from perloc.bench.cli.console import progress_bars, say
from perloc.bench.cli.options import task_names
from perloc.bench.core.batch import Batch
from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import COMMANDS, METHODS, TASKS
from perloc.bench.run.evaluate import build_method, prepare_dataset, resolve_params
from perloc.bench.run.training import ensure_fitted
from perloc.bench.store.workspace import Workspace

MIC_AXIS_COLUMNS = ("signals", "mic_pos", "mic_true", "mic_unknown")


@dataclass
class Check:
    test: str
    max_change_cm: float
    claimed: bool
    tolerance_cm: float

    @property
    def verdict(self) -> str:
        if not self.claimed:
            return "reported"
        return "pass" if self.max_change_cm <= self.tolerance_cm else "FAIL"


def reorder_mics(batch: Batch, index: np.ndarray) -> Batch:
    """The batch with its microphone axis taken at ``index`` (a permutation or a subset)."""
    data = dict(batch.data)
    for name in MIC_AXIS_COLUMNS:
        if name in data:
            data[name] = np.ascontiguousarray(np.asarray(data[name])[:, index])
    meta = dict(batch.meta)
    if "mics" in meta:
        meta["mics"] = np.full(len(batch), len(index))
    return Batch(data, meta)


def fixed_batch(dataset, frames: int) -> Batch:
    """The first ``frames`` frames of setup 1_a with the largest microphone count."""
    best = None
    for batch in dataset.batches("test", max(frames, 1)):
        if str(batch.meta["setup"][0]) != "1_a":
            continue
        if best is None or batch["signals"].shape[1] > best["signals"].shape[1]:
            best = batch
    if best is None:
        raise UserError("invariance: the selection holds no setup 1_a frames")
    return best.take(np.arange(min(frames, len(best))))


def _change_cm(a: np.ndarray, b: np.ndarray) -> float:
    both = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    if (np.isfinite(a).all(1) != np.isfinite(b).all(1)).any():
        return float("inf")  # a frame that fails in one order but not the other
    return float(100 * np.abs(a[both] - b[both]).max()) if both.any() else 0.0


def run_checks(method, batch: Batch, trials: int, seed: int, tolerance_cm: float) -> list[Check]:
    rng = np.random.default_rng([seed, 99])
    base = np.asarray(method.predict(batch)["position"], dtype=np.float64)
    m = batch["signals"].shape[1]
    caps = method.card.capabilities
    perm = max(_change_cm(base, method.predict(reorder_mics(batch, rng.permutation(m)))["position"])
               for _ in range(trials))
    checks = [Check(f"permute {m} mics ({trials} orders)", perm, "perm_invariant" in caps,
                    tolerance_cm)]
    if "variable_mics" in caps:
        for drop in (1, 2, 3):
            if m - drop < 5:
                break
            keep = np.sort(rng.choice(m, m - drop, replace=False))
            change = _change_cm(base, method.predict(reorder_mics(batch, keep))["position"])
            checks.append(Check(f"drop {drop} of {m} mics", change, False, tolerance_cm))
    return checks


def invariance(method_name: str, task_name: str | None, *, profile: str = "smoke", seed: int = 0,
               frames: int = 16, trials: int = 3, tolerance_cm: float = 1e-3,
               data_root: Path | None = None, progress: bool = False, say=print) -> list[Check]:
    """Load (or train) the method for ``profile`` and run the checks on a fixed batch."""
    cls = METHODS.get(method_name)
    task, workspace = TASKS.get(task_name or cls.card.task), Workspace.from_env()
    task.check_method(cls.card)
    if "mics" not in task.profile(profile).grid:
        raise UserError(f"--task: {task.name} has no microphone arrays to permute")
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
    return run_checks(model, fixed_batch(dataset, frames), trials, seed, tolerance_cm)


@click.command("invariance")
@click.argument("method_name", metavar="METHOD")
@click.option("--task", "task_name", default=None, callback=task_names,
              help="Task whose smoke data to use (default: the method's own).")
@click.option("--profile", default="smoke", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--frames", default=16, show_default=True, type=int, help="Frames in the batch.")
@click.option("--trials", default=3, show_default=True, type=int, help="Random mic orders.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None)
def invariance_cmd(method_name, task_name, profile, seed, frames, trials, data_root):
    """Largest change of the estimate when mics are permuted or dropped; exit 1 when a
    claimed permutation invariance does not hold."""
    checks = invariance(method_name, task_name, profile=profile, seed=seed, frames=frames,
                        trials=trials, data_root=data_root, progress=progress_bars(), say=say)
    rows = [[c.test, f"{c.max_change_cm:.3g}", "yes" if c.claimed else "no", c.verdict]
            for c in checks]
    click.echo(tabulate(rows, headers=["test", "max change (cm)", "claimed invariant",
                                       "verdict"]))
    if any(c.verdict == "FAIL" for c in checks):
        sys.exit(1)


COMMANDS.add("invariance", invariance_cmd)
