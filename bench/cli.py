"""The ``bench`` command line (click). Errors from bad input: one line, exit status 2."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click
from tabulate import tabulate

from perloc.bench.cli_data import data_group
from perloc.bench.console import progress_bars as _progress
from perloc.bench.console import say as _say
from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import METHODS, TASKS
from perloc.bench.ranges import parse_range, parse_seeds, parse_where
from perloc.bench.status import sweep_summary
from perloc.bench.workspace import Workspace


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages to stderr.")
def cli(verbose: bool) -> None:
    """perloc: benchmarks and leaderboards for perception and localization research."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@cli.command("tasks")
def tasks_cmd() -> None:
    """List the benchmark tasks."""
    rows = [[name, spec.description, ", ".join(spec.profiles), spec.primary]
            for name, spec in TASKS.items()]
    click.echo(tabulate(rows, headers=["task", "description", "profiles", "primary metric"]))


@cli.command("methods")
@click.option("--task", "task_name", default=None, help="Only methods of this task.")
def methods_cmd(task_name: str | None) -> None:
    """List the registered methods."""
    if task_name:
        TASKS.canonical(task_name)
    rows = [[name, cls.card.task, cls.card.kind, _parameter_count(cls),
             ", ".join(cls.card.aliases), cls.card.summary]
            for name, cls in METHODS.items()
            if task_name is None or TASKS.get(task_name).runs(cls.card)]
    click.echo(tabulate(rows, headers=["method", "task", "kind", "params (paper config)",
                                       "aliases", "summary"]))


def _parameter_count(cls) -> str:
    """Trainable parameters of the default (paper) configuration, and all state elements."""
    if cls.card.kind == "classical":
        return "0"
    try:
        model = cls(cls.card.params()).model
    except UserError:
        return "-"
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    state = sum(t.numel() for t in model.state_dict().values())
    return f"{trainable:,}" + (f" ({state:,} in state)" if state != trainable else "")


def _where(snr: str | None, t60: str | None, conditions: tuple[str, ...] = ()) -> dict:
    where = parse_where("--where", conditions)
    if snr is not None:
        where["snr"] = parse_range("--snr", snr)
    if t60 is not None:
        where["t60"] = parse_range("--t60", t60)
    return where


@cli.command("run")
@click.argument("task_name", metavar="TASK")
@click.option("-m", "--method", "methods", multiple=True, help="Method (repeatable); default: the task's.")
@click.option("--profile", default="default", show_default=True, help="smoke | default | paper")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--seeds", default=None, help="Seed range LO:HI (inclusive) or list a,b,c; overrides --seed.")
@click.option("--snr", default=None, help="Inclusive SNR range LO:HI (dB) of the grid.")
@click.option("--t60", default=None, help="Inclusive T60 range LO:HI (s) of the grid.")
@click.option("-w", "--where", "conditions", multiple=True,
              help="Condition selection COND=LO:HI or COND=a,b (e.g. mics=5:9, setup=1_a).")
@click.option("--split", "split", multiple=True,
              help="Condition to split into one cell per grid value (repeatable).")
@click.option("-p", "--param", "params", multiple=True, help="Method parameter key=value.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="Real dataset root (else $PERLOC_DATA, else the stand-in).")
@click.option("--executor", default="local", show_default=True, help="local | ray")
@click.option("--jobs", default=1, show_default=True, type=int,
              help="Worker processes (local); 1 runs in this process.")
@click.option("--address", default=None, help="Ray cluster address (default: start one locally).")
@click.option("--cpus-per-cell", default=1.0, show_default=True, type=click.FloatRange(0.01),
              help="Ray: CPUs each cell declares (its torch threads).")
@click.option("--gpus-per-cell", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Ray: GPUs each cell declares.")
@click.option("--rerun", is_flag=True, help="Recompute cells that already have a record.")
@click.option("--publish", is_flag=True, help="Update leaderboards/<task>.json and .md.")
@click.option("--json", "as_json", is_flag=True, help="Print the run records as JSON on stdout.")
def run_cmd(task_name, methods, profile, seed, seeds, snr, t60, conditions, split, params,
            data_root, executor, jobs, address, cpus_per_cell, gpus_per_cell, rerun, publish,
            as_json):
    """Evaluate methods on TASK as a sweep of cells; records go to results/runs and MLflow.

    Cells already finished are reused (--rerun recomputes them); failed cells are retried.
    Exit status 1 when a cell failed, 130 when interrupted before every cell ran.
    """
    from perloc.bench.session import SweepOptions, results_table, run_methods

    options = SweepOptions(seeds=parse_seeds(seeds) if seeds else (seed,), split=split,
                           executor=executor, jobs=jobs, address=address, rerun=rerun,
                           cpus_per_cell=cpus_per_cell, gpus_per_cell=gpus_per_cell)
    outcome = run_methods(task_name, methods, profile=profile, where=_where(snr, t60, conditions),
                          overrides=params, data_root=data_root, publish=publish,
                          progress=_progress(), say=_say, sweep=options)
    records = outcome.records
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=1))
    elif len(options.seeds) == 1 and not split:
        click.echo(results_table(task_name, [r for r in records if r.status == "ok"]))
    _say(sweep_summary(outcome, len(records) + outcome.not_started))
    if outcome.not_started:
        sys.exit(130)
    if outcome.failed:
        sys.exit(1)


@cli.command("status")
@click.argument("task_name", metavar="[TASK]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the states as JSON.")
def status_cmd(task_name, as_json):
    """Finished, failed and pending cells of the recorded sweeps (from the records)."""
    from perloc.bench.status import format_status, sweep_states

    if task_name is not None:
        TASKS.get(task_name)  # unknown task: one error line
    states = sweep_states(Workspace.from_env(), task_name)
    click.echo(json.dumps(states, indent=1) if as_json else format_status(states))


@cli.command("compare")
@click.argument("method_a", metavar="A")
@click.argument("method_b", metavar="B")
@click.option("--task", "task_name", default="tdoa", show_default=True)
@click.option("--profile", default="default", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--snr", default=None, help="Inclusive SNR range LO:HI (dB).")
@click.option("--t60", default=None, help="Inclusive T60 range LO:HI (s).")
@click.option("--data-root", type=click.Path(path_type=Path), default=None)
@click.option("--plot", type=click.Path(path_type=Path), default=None, help="Write a PNG here.")
@click.option("--json", "as_json", is_flag=True, help="Print records and rows as JSON.")
def compare_cmd(method_a, method_b, task_name, profile, seed, snr, t60, data_root, plot, as_json):
    """Compare two methods per condition cell (runs them, or reuses stored records)."""
    from perloc.bench.compare import comparison_rows, comparison_table, plot_comparison, verdict
    from perloc.bench.session import compare_methods

    task = TASKS.get(task_name)
    if plot is not None and plot.suffix.lower() != ".png":
        raise UserError(f"--plot: {plot} must end in .png")
    a, b = compare_methods(task.name, method_a, method_b, profile=profile, seed=seed,
                           where=_where(snr, t60), data_root=data_root, progress=_progress(),
                           say=_say)
    if plot is not None:
        plot_comparison(task, [a, b], plot)
        _say(f"plot: {plot}")
    if as_json:
        click.echo(json.dumps({"records": [a.to_dict(), b.to_dict()],
                               "rows": comparison_rows(task, a, b),
                               "verdict": verdict(task, a, b)}, indent=1))
        return
    click.echo(comparison_table(task, a, b))
    for metric in task.headline_metrics:
        click.echo(verdict(task, a, b, metric))


@cli.command("train")
@click.argument("task_name", metavar="TASK")
@click.option("-m", "--method", "methods", multiple=True, required=True, help="Learned method.")
@click.option("--profile", default="default", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("-p", "--param", "params", multiple=True, help="Method parameter key=value.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None)
def train_cmd(task_name, methods, profile, seed, params, data_root):
    """Train (or resume training of) learned methods; checkpoints go to results/checkpoints."""
    from perloc.bench.session import train_methods

    for name, path in train_methods(task_name, methods, profile=profile, seed=seed,
                                    overrides=params, data_root=data_root,
                                    progress=_progress(), say=_say):
        click.echo(f"{name}: {path}")


@cli.command("leaderboard")
@click.argument("task_name", metavar="TASK")
def leaderboard_cmd(task_name: str) -> None:
    """Re-render leaderboards/TASK.md from leaderboards/TASK.json and print it."""
    from perloc.bench.leaderboard import board_path, load_board, render_markdown
    from perloc.bench.store import write_atomic

    task = TASKS.get(task_name)
    folder = Workspace.from_env().leaderboards
    if not board_path(folder, task.name).exists():
        raise UserError(f"{board_path(folder, task.name)}: no leaderboard yet "
                        f"(run `bench run {task.name} --publish`)")
    text = render_markdown(load_board(folder, task))
    write_atomic(board_path(folder, task.name, ".md"), text)
    click.echo(text)


@cli.command("regress")
@click.argument("task_names", metavar="[TASK]...", nargs=-1)
def regress_cmd(task_names: tuple[str, ...]) -> None:
    """Re-run the smoke profile; exit 1 when a metric moved past its tolerance the bad way."""
    from perloc.bench.session import regress_task

    names = task_names or tuple(TASKS.names())
    results = [regress_task(name, say=_say, show=click.echo) for name in names]
    if not all(results):
        sys.exit(1)


@cli.command("invariance")
@click.argument("method_name", metavar="METHOD")
@click.option("--task", "task_name", default="ssl", show_default=True)
@click.option("--profile", default="smoke", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--frames", default=16, show_default=True, type=int, help="Frames in the batch.")
@click.option("--trials", default=3, show_default=True, type=int, help="Random mic orders.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None)
def invariance_cmd(method_name, task_name, profile, seed, frames, trials, data_root):
    """Largest change of the estimate when mics are permuted or dropped; exit 1 when a
    claimed permutation invariance does not hold."""
    from perloc.bench.invariance import invariance

    checks = invariance(method_name, task_name, profile=profile, seed=seed, frames=frames,
                        trials=trials, data_root=data_root, progress=_progress(), say=_say)
    rows = [[c.test, f"{c.max_change_cm:.3g}", "yes" if c.claimed else "no", c.verdict]
            for c in checks]
    click.echo(tabulate(rows, headers=["test", "max change (cm)", "claimed invariant",
                                       "verdict"]))
    if any(c.verdict == "FAIL" for c in checks):
        sys.exit(1)


@cli.group("perf")
def perf_group() -> None:
    """Measured speed of the hot paths."""


@perf_group.command("gcc")
@click.option("--mics", default="2,4,11,32", show_default=True, help="Comma-separated M values.")
@click.option("--batch", default=256, show_default=True, type=int)
@click.option("--samples", default=2048, show_default=True, type=int)
@click.option("--repeats", default=3, show_default=True, type=int)
def perf_gcc_cmd(mics: str, batch: int, samples: int, repeats: int) -> None:
    """All-pairs GCC-PHAT throughput against loop baselines and the FFTs alone."""
    from perloc.bench.perf.gcc import format_gcc_perf, run_gcc_perf

    try:
        values = tuple(int(m) for m in mics.split(","))
    except ValueError:
        raise UserError(f"--mics: {mics!r} is not a comma-separated list of integers") from None
    if any(m < 2 for m in values):
        raise UserError("--mics: every M must be at least 2")
    click.echo(format_gcc_perf(run_gcc_perf(values, samples, batch, repeats)))


@perf_group.command("ngcc")
@click.option("--mics", default=11, show_default=True, type=click.IntRange(2, 64))
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 100))
@click.option("--no-stacked", is_flag=True, help="Skip the (slow) all-pairs-in-one-batch timing.")
def perf_ngcc_cmd(mics: int, repeats: int, no_stacked: bool) -> None:
    """NGCC-PHAT: FFT vs direct sinc conv, shared backbone (features) vs per-pair recomputation."""
    from perloc.bench.perf.ngcc import format_ngcc_perf, run_ngcc_perf

    click.echo(format_ngcc_perf(run_ngcc_perf(mics=mics, repeats=repeats, stacked=not no_stacked)))


@perf_group.command("kws")
@click.option("--sizes", default="kwt-1,kwt-3", show_default=True,
              help="Comma-separated KWT sizes (kwt-1, kwt-2, kwt-3).")
@click.option("--batch", default=64, show_default=True, type=click.IntRange(1, 4096))
@click.option("--depth", default=None, type=click.IntRange(1, 48), help="Layers (default: 12).")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 100))
def perf_kws_cmd(sizes: str, batch: int, depth: int | None, repeats: int) -> None:
    """MFCC front end and feature-cache rates; KWT training step fp32 vs bf16 autocast."""
    from perloc.bench.perf.kws import format_kws_perf, run_kws_perf
    from perloc.methods.kws.kwt_model import KWT_SIZES

    names = tuple(s.strip() for s in sizes.split(",") if s.strip())
    unknown = [n for n in names if n not in KWT_SIZES]
    if unknown or not names:
        raise UserError(f"--sizes: unknown KWT size {unknown[0] if unknown else sizes!r} "
                        f"(known: {', '.join(KWT_SIZES)})")
    click.echo(format_kws_perf(run_kws_perf(names, batch=batch, depth=depth, repeats=repeats)))


cli.add_command(data_group)


def main(argv: list[str] | None = None) -> None:
    """Entry point: maps UserError and click usage errors to one line and exit status 2."""
    try:
        cli.main(args=argv, prog_name="bench", standalone_mode=False)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
