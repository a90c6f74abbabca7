"""The ``bench`` command line (click). Errors from bad input: one line, exit status 2."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click
from tabulate import tabulate

from perloc.bench.cli.console import progress_bars as _progress
from perloc.bench.cli.console import say as _say
from perloc.bench.cli.data import data_group
from perloc.bench.cli.external import export_cmd, score_cmd
from perloc.bench.cli.options import EXTRA_ARGS, check_output_file, device_options
from perloc.bench.cli.options import task_names as _tasks
from perloc.bench.cli.options import where_from as _where
from perloc.bench.cli.status import sweep_summary
from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import COMMANDS, METHODS, PERF, TASKS
from perloc.bench.run.ranges import parse_seeds
from perloc.bench.store.workspace import Workspace


class _Cli(click.Group):
    """The built-in commands plus those task modules register in ``COMMANDS`` (a check only
    one task family has, e.g. ``bench invariance`` for microphone arrays)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS.names()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        return found if found is not None else dict(COMMANDS.items()).get(cmd_name)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--task", "task_name", default=None, callback=_tasks,
              help="Only methods of this task.")
def methods_cmd(task_name: str | None) -> None:
    """List the registered methods with their parameter counts at the paper configuration."""
    from perloc.bench.report.efficiency import paper_parameter_count

    task = TASKS.get(task_name) if task_name else None
    rows = [[name, cls.card.task, cls.card.kind, paper_parameter_count(cls),
             ", ".join(cls.card.aliases), cls.card.summary]
            for name, cls in METHODS.items() if task is None or task.runs(cls.card)]
    click.echo(tabulate(rows, headers=["method", "task", "kind", "params (paper config)",
                                       "aliases", "summary"], disable_numparse=True))




@cli.command("run", context_settings=EXTRA_ARGS)
@click.argument("task_name", metavar="TASK", callback=_tasks)
@click.option("-m", "--method", "methods", multiple=True,
              help="Method name or package.module:NAME reference (repeatable); default: the "
                   "task's.")
@click.option("--profile", default="default", show_default=True, help="smoke | default | paper")
@click.option("--seed", default=None, type=int,
              help="One seed (default: the profile's seeds, e.g. 0,1,2 for kws default).")
@click.option("--seeds", default=None, help="Seed range LO:HI (inclusive) or list a,b,c; overrides --seed.")
@click.option("-w", "--where", "conditions", multiple=True,
              help="Condition selection COND=LO:HI or COND=a,b (e.g. mics=5:9, setup=1_a); "
                   "tasks declare shortcut flags too (tdoa: --snr 0:30 --t60 0.2).")
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
              help="Ray: GPUs each cell declares (1: a GPU of its own, used as --device cuda).")
@device_options
@click.option("--rerun", is_flag=True, help="Recompute cells that already have a record.")
@click.option("--publish", is_flag=True, help="Update leaderboards/<task>.json and .md.")
@click.option("--json", "as_json", is_flag=True, help="Print the run records as JSON on stdout.")
@click.pass_context
def run_cmd(ctx, task_name, methods, profile, seed, seeds, conditions, split, params,
            data_root, executor, jobs, address, cpus_per_cell, gpus_per_cell, device_spec, amp,
            compiled, rerun, publish, as_json):
    """Evaluate methods on TASK as a sweep of cells; records go to results/runs and MLflow.

    Cells already finished are reused (--rerun recomputes them); failed cells are retried.
    Exit status 1 when a cell failed, 130 when interrupted before every cell ran.
    """
    from perloc.bench.cli.commands import SweepOptions, results_table, run_methods

    explicit = parse_seeds(seeds) if seeds else (None if seed is None else (seed,))
    options = SweepOptions(seeds=explicit, split=split,
                           executor=executor, jobs=jobs, address=address, rerun=rerun,
                           cpus_per_cell=cpus_per_cell, gpus_per_cell=gpus_per_cell,
                           device=device_spec, amp=amp, compiled=compiled)
    outcome = run_methods(task_name, methods, profile=profile,
                          where=_where(task_name, conditions, ctx.args),
                          overrides=params, data_root=data_root, publish=publish,
                          progress=_progress(), say=_say, sweep=options)
    records = outcome.records
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=1))
    elif not split:
        click.echo(results_table(task_name, [r for r in records if r.status == "ok"]))
    _say(sweep_summary(outcome, len(records) + outcome.not_started))
    if outcome.not_started:
        sys.exit(130)
    if outcome.failed:
        sys.exit(1)


@cli.command("status")
@click.argument("task_name", metavar="[TASK]", required=False, callback=_tasks)
@click.option("--json", "as_json", is_flag=True, help="Print the states as JSON.")
def status_cmd(task_name, as_json):
    """Finished, failed and pending cells of the recorded sweeps (from the records)."""
    from perloc.bench.cli.status import format_status, sweep_states

    states = sweep_states(Workspace.from_env(), task_name)
    click.echo(json.dumps(states, indent=1) if as_json else format_status(states))


@cli.command("sync")
@click.argument("task_name", metavar="[TASK]", required=False, callback=_tasks)
def sync_cmd(task_name):
    """Log to MLflow the records that have no run (a tracking server was down during a
    sweep); cells with a run are left alone, so running it again logs nothing twice."""
    from perloc.bench.cli.commands import sync_records

    for line in sync_records(task_name):
        click.echo(line)


@cli.command("compare", context_settings=EXTRA_ARGS)
@click.argument("method_a", metavar="A")
@click.argument("method_b", metavar="B")
@click.option("--task", "task_name", default=None, callback=_tasks,
              help="Task (default: the one task both methods run on).")
@click.option("--profile", default="default", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("-w", "--where", "conditions", multiple=True,
              help="Condition selection COND=LO:HI or COND=a,b; task shortcut flags too.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None)
@click.option("--plot", type=click.Path(path_type=Path), default=None, help="Write a PNG here.")
@device_options
@click.option("--json", "as_json", is_flag=True, help="Print records and rows as JSON.")
@click.pass_context
def compare_cmd(ctx, method_a, method_b, task_name, profile, seed, conditions, data_root, plot,
                device_spec, amp, compiled, as_json):
    """Compare two methods per condition cell (runs them, or reuses stored records)."""
    from perloc.bench.cli.commands import compare_methods, infer_task
    from perloc.bench.report.compare import (
        comparison_rows,
        comparison_table,
        plot_comparison,
        verdict,
    )

    task = TASKS.get(task_name) if task_name else infer_task(method_a, method_b)
    if plot is not None:
        check_output_file("--plot", plot, ".png")
    where = _where(task.name, conditions, ctx.args)
    with device.using(device.resolve(device_spec, amp, compiled)):
        a, b = compare_methods(task.name, method_a, method_b, profile=profile, seed=seed,
                               where=where, data_root=data_root, progress=_progress(), say=_say)
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
@click.argument("task_name", metavar="TASK", callback=_tasks)
@click.option("-m", "--method", "methods", multiple=True, required=True, help="Learned method.")
@click.option("--profile", default="default", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("-p", "--param", "params", multiple=True, help="Method parameter key=value.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None)
@device_options
def train_cmd(task_name, methods, profile, seed, params, data_root, device_spec, amp, compiled):
    """Train (or resume training of) learned methods; checkpoints go to results/checkpoints."""
    from perloc.bench.cli.commands import train_methods

    with device.using(device.resolve(device_spec, amp, compiled)):
        trained = train_methods(task_name, methods, profile=profile, seed=seed,
                                overrides=params, data_root=data_root,
                                progress=_progress(), say=_say)
    for name, path in trained:
        click.echo(f"{name}: {path}")


@cli.command("leaderboard")
@click.argument("task_name", metavar="TASK", callback=_tasks)
def leaderboard_cmd(task_name: str) -> None:
    """Re-render leaderboards/TASK.md from leaderboards/TASK.json and print it."""
    from perloc.bench.report.leaderboard import board_path, load_board, render

    task = TASKS.get(task_name)
    folder = Workspace.from_env().leaderboards
    if not board_path(folder, task.name).exists():
        raise UserError(f"{board_path(folder, task.name)}: no leaderboard yet "
                        f"(run `bench run {task.name} --publish`)")
    click.echo(render(folder, task, load_board(folder, task)))


@cli.command("site")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder of the site: new, empty, or a previous `bench site` output "
                   "(replaced).")
def site_cmd(out: Path) -> None:
    """Render every board in leaderboards/ into a static site (open OUT/index.html).

    One page per task: sortable tables per profile and provenance, per-condition plots,
    the boards' figures, seed spreads, provenance and git SHA per row, links to the run
    records found in results/runs, the papers' reported numbers apart. No server; nothing
    is fetched from the network.
    """
    from perloc.bench.report.site import build_site

    workspace = Workspace.from_env()
    site = build_site(workspace.leaderboards, workspace.runs, out)
    pages = sum(name.endswith(".html") for name in site.pages)
    _say(f"site: {pages} pages, {len(site.copies)} files copied; {site.linked} run records "
         f"linked, {site.unlinked} not in this checkout")
    click.echo(out / "index.html")


@cli.command("regress")
@click.argument("task_names", metavar="[TASK]...", nargs=-1, callback=_tasks)
def regress_cmd(task_names: tuple[str, ...]) -> None:
    """Re-run the smoke profile; exit 1 when a metric moved past its tolerance the bad way."""
    from perloc.bench.cli.commands import regress_task

    names = task_names or tuple(TASKS.names())
    results = [regress_task(name, say=_say, show=click.echo) for name in names]
    if not all(results):
        sys.exit(1)


class _PerfGroup(click.Group):
    """Subcommands from the ``PERF`` registry: each bench/perf/*.py module registers one."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return PERF.names()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command:
        return PERF.get(cmd_name)  # unknown name: one error line naming the known ones


@cli.group("perf", cls=_PerfGroup, invoke_without_command=True,
           subcommand_metavar="[NAME] [OPTIONS]...")
@click.pass_context
def perf_group(ctx: click.Context) -> None:
    """Measured speed of the hot paths; with no NAME, list the benchmarks."""
    if ctx.invoked_subcommand is None:
        rows = [[name, command.get_short_help_str(limit=100)] for name, command in PERF.items()]
        click.echo(tabulate(rows, headers=["benchmark", "measures"]))


cli.add_command(data_group)
cli.add_command(export_cmd)
cli.add_command(score_cmd)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every failure is one ``error:`` line. Bad input (UserError, click usage)
    exits 2; an unexpected exception exits 1 with its traceback in a log file under the
    results folder (or on stderr with ``--debug``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        cli.main(args=args, prog_name="bench", standalone_mode=False)
    except UserError as exc:
        click.echo(f"error: {' '.join(str(exc).split())}", err=True)  # one line, always
        sys.exit(2)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001  (a bug: one line, the traceback kept)
        first = (str(exc).strip().splitlines() or [""])[0]  # e.g. SQL errors span lines
        click.echo(f"error: {type(exc).__name__}: {first} ({_keep_traceback(debug)})", err=True)
        sys.exit(1)


def _keep_traceback(debug: bool) -> str:
    """Print the current traceback (``--debug``) or write it to results/logs; say where."""
    import datetime as dt
    import traceback

    text = traceback.format_exc()
    if debug:
        click.echo(text, err=True)
        return "traceback above"
    try:
        folder = Workspace.from_env().results / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"error-{dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.log"
        path.write_text(text)
        return f"traceback in {path}; --debug prints it"
    except OSError:
        return "run again with --debug for the traceback"


if __name__ == "__main__":
    main()
