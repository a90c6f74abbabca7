"""``bench export`` and ``bench score``: a leaderboard row for a model trained anywhere.

Export writes the test split's ids (and inputs); score reads a predictions file keyed by those
ids and scores it with the task's metrics, slices, CIs and reports, as a record with origin
``external`` (format: ``perloc.bench.run.external``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from perloc.bench.cli.console import progress_bars as _progress
from perloc.bench.cli.console import say as _say
from perloc.bench.cli.options import EXTRA_ARGS, flag_values, task_names, where_from
from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import METHODS, TASKS
from perloc.bench.store.workspace import Workspace

_SELECTION = [
    click.option("--profile", default="default", show_default=True),
    click.option("--seed", default=0, show_default=True, type=int),
    click.option("-w", "--where", "conditions", multiple=True,
                 help="Condition selection COND=LO:HI or COND=a,b; task shortcut flags too."),
    click.option("--data-root", type=click.Path(path_type=Path), default=None,
                 help="Real dataset root (else $PERLOC_DATA, else the stand-in)."),
]


def _selection(command):
    for option in reversed(_SELECTION):
        command = option(command)
    return command


def _test_split(task_name: str, profile: str, seed: int, conditions, extra, data_root):
    from perloc.bench.run.evaluate import prepare_dataset

    task = TASKS.get(task_name)
    task.profile(profile)
    where = where_from(task.name, conditions, extra)
    dataset = prepare_dataset(task, profile, seed, where, data_root=data_root,
                              workspace=Workspace.from_env(), progress=_progress())
    return task, where, dataset


@click.command("export", context_settings=EXTRA_ARGS)
@click.argument("task_name", metavar="TASK", callback=task_names)
@_selection
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="New (or empty) folder for ids.csv, inputs.npz, the template and manifest.")
@click.pass_context
def export_cmd(ctx, task_name, profile, seed, conditions, data_root, out):
    """Write TASK's test examples (ids, conditions, inputs) for a model trained elsewhere."""
    from perloc.bench.run.external import export

    task, where, dataset = _test_split(task_name, profile, seed, conditions, ctx.args,
                                       data_root)
    manifest = export(task, dataset, profile, seed, where, out)
    _say(f"{manifest['n_examples']} test examples; predictions columns: id, "
         f"{', '.join(manifest['prediction_columns'])}")
    click.echo(str(out))


@click.command("score", context_settings=EXTRA_ARGS)
@click.argument("task_name", metavar="TASK", callback=task_names)
@click.option("--pred", "pred", type=click.Path(path_type=Path), required=True,
              help="Predictions CSV keyed by the ids of `bench export` (with --ref: the "
                   "task's own prediction files).")
@click.option("--ref", "ref", type=click.Path(path_type=Path), default=None,
              help="Reference files in the task's official format: score --pred against them "
                   "without the harness's dataset (tasks with a file scorer, e.g. seld; its "
                   "own flags such as --average follow).")
@click.option("--name", default=None, help="Row name on the board (default: the file's stem).")
@_selection
@click.option("--publish", is_flag=True, help="Add the row to leaderboards/<task>.json and .md.")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@click.pass_context
def score_cmd(ctx, task_name, pred, ref, name, profile, seed, conditions, data_root, publish,
              as_json):
    """Score a predictions file on TASK's test split; the record's origin is `external`.
    With --ref, score the task's official prediction files against official references."""
    if ref is not None:
        return _score_files(TASKS.get(task_name), ref, pred, ctx.args, as_json)
    from perloc.bench.cli.commands import results_table
    from perloc.bench.report import leaderboard
    from perloc.bench.run.external import score_predictions
    from perloc.bench.store import mlflow_prepare, record_files, tracking

    name = name or pred.stem
    if name in METHODS.names():
        raise UserError(f"--name: {name!r} is a registered method; name the external row "
                        "otherwise")
    workspace = Workspace.from_env()
    if not pred.is_file():
        raise UserError(f"--pred {pred}: no such file")
    task, where, dataset = _test_split(task_name, profile, seed, conditions, ctx.args,
                                       data_root)
    if publish:
        leaderboard.check_publishable(workspace.leaderboards, task)
    workspace.check_writable()
    mlflow_prepare.check_uri(workspace.tracking_uri)
    record = score_predictions(task, pred, name, profile, seed, where, dataset)
    mlflow_prepare.prepare(workspace.tracking_uri, workspace.runs, say=_say)  # heal, then write
    record_files.save(workspace.runs, record)
    tracking.mirror_saved([record], workspace.tracking_uri, workspace.results / "mlartifacts",
                          _say)
    if publish:
        leaderboard.publish(workspace.leaderboards, task, [record])
        _say(f"leaderboard: {leaderboard.board_path(workspace.leaderboards, task.name, '.md')}")
    if as_json:
        click.echo(json.dumps(record.to_dict(), indent=1))
    else:
        click.echo(results_table(task.name, [record]))


def _scorer_options(task, extra: list[str]) -> dict:
    """The file scorer's ``--name VALUE`` flags from the extra arguments (defaults filled)."""
    specs = {o.name: o for o in task.file_scorer.options}
    values = {name: o.default for name, o in specs.items()}
    known = ", ".join(f"--{n.replace('_', '-')}" for n in specs) or "none"
    for flag, name, raw in flag_values(extra, specs, f"no such option for scoring {task.name} "
                                       f"files (options: {known})"):
        spec = specs[name]
        try:
            value = spec.kind(raw)
        except ValueError:
            raise UserError(f"{flag}: {raw!r} is not a valid {spec.kind.__name__}") from None
        if spec.choices and value not in spec.choices:
            raise UserError(f"{flag}: {raw!r} is not one of {', '.join(map(str, spec.choices))}")
        values[name] = value
    return values


def _score_files(task, ref: Path, pred: Path, extra: list[str], as_json: bool) -> None:
    """``bench score TASK --ref REF --pred PRED``: the task's file scorer, printed."""
    if task.file_scorer is None:
        raise UserError(f"--ref: task {task.name} has no scorer of official files; score "
                        f"predictions keyed by `bench export` ids with --pred alone")
    result, lines = task.file_scorer.score(ref, pred, _scorer_options(task, extra))
    click.echo(json.dumps(result, allow_nan=False) if as_json else "\n".join(lines))
