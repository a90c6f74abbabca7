"""``bench data``: list the datasets, write stand-ins in their real layouts, check real ones.

Every command dispatches through the dataset entries registered under ``perloc.datasets``
(:mod:`perloc.bench.core.datasets`); a new dataset brings its own hooks.
"""

from __future__ import annotations

from pathlib import Path

import click
from tabulate import tabulate

from perloc.bench.cli.console import progress_bars as _progress
from perloc.bench.core.datasets import DatasetEntry, SynthRequest
from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import DATASETS
from perloc.bench.store.workspace import Workspace


@click.group("data")
def data_group() -> None:
    """List datasets, generate stand-ins and check real ones."""


@data_group.command("list")
def list_cmd() -> None:
    """The registered datasets: real ones (`data check`), stand-ins (`data synth`)."""
    rows = [[name, entry.kind, ", ".join(entry.sizes), entry.summary]
            for name, entry in DATASETS.items()]
    click.echo(tabulate(rows, headers=["dataset", "kind", "sizes", "summary"]))


def _entry(name: str, hook: str) -> DatasetEntry:
    """The entry of dataset ``name`` if it has ``hook``; else a UserError naming those that do."""
    try:
        entry = DATASETS.get(name)
    except UserError:
        entry = None
    if entry is None or getattr(entry, hook) is None:
        what = f"unknown dataset {name!r}" if entry is None else f"{name} is a {entry.kind} dataset"
        known = ", ".join(n for n, e in DATASETS.items() if getattr(e, hook) is not None)
        raise UserError(f"{what} (`bench data {hook}` knows: {known})")
    return entry


@data_group.command("synth")
@click.argument("name")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write.")
@click.option("--size", default="default", show_default=True, help="smoke | default (| paper)")
@click.option("--seed", default=0, show_default=True, type=int)
def synth_cmd(name: str, out: Path, size: str, seed: int) -> None:
    """Write the stand-in dataset NAME in its real dataset's on-disk layout (see `data list`)."""
    entry = _entry(name, "synth")
    if size not in entry.sizes:
        raise UserError(f"--size: unknown size {size!r} (known: {', '.join(entry.sizes)})")
    request = SynthRequest(out, size, seed, _progress(), Workspace.from_env().cache)
    click.echo(str(entry.synth(request)))


@data_group.command("check")
@click.argument("name")
@click.option("--root", type=click.Path(path_type=Path), required=True)
def check_cmd(name: str, root: Path) -> None:
    """Read every file of the real dataset NAME and report what the splits hold."""
    report = _entry(name, "check").check(root)
    click.echo(report.header)
    click.echo(tabulate(report.rows, headers=report.headers))
