"""Options several commands share: task arguments and the condition selection (``-w`` and the
task's shortcut flags)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import TASKS
from perloc.bench.run.ranges import parse_where
from perloc.bench.store.workspace import nearest_existing

EXTRA_ARGS = {"ignore_unknown_options": True, "allow_extra_args": True}


def task_names(ctx, param, value):
    """Click callback: a task name, alias or reference ``package.module:NAME`` (or several)
    -> the registered name(s), which records and boards use."""
    if isinstance(value, tuple):
        return tuple(map(TASKS.canonical, value))
    return None if value is None else TASKS.canonical(value)


def flag_values(extra: list[str], names, unknown: str, value_hint: str = ""
                ) -> list[tuple[str, str, str]]:
    """``--name VALUE`` pairs of click's extra arguments as (flag, name, value), names with
    "-" read as "_"; a flag not in ``names`` is a UserError ending in ``unknown``."""
    items, out = list(extra), []
    while items:
        flag = items.pop(0)
        name = flag[2:].replace("-", "_") if flag.startswith("--") else ""
        if name not in names:
            raise UserError(f"{flag}: {unknown}")
        if not items or items[0].startswith("--"):
            raise UserError(f"{flag}: needs a value{value_hint}")
        out.append((flag, name, items.pop(0)))
    return out


def where_from(task_name: str, conditions: tuple[str, ...], extra: list[str]) -> dict:
    """``-w`` selections plus the task's shortcut flags (``--snr 0:30`` is ``-w snr=0:30``)."""
    where = parse_where("--where", conditions)
    shortcuts = TASKS.get(task_name).shortcuts
    known = ", ".join(f"--{s}" for s in shortcuts) or "none"
    for flag, name, value in flag_values(
            extra, shortcuts, f"no such option for task {task_name} (condition flags: {known}; "
            "or -w CONDITION=VALUES)", " (LO:HI, a value, or a,b)"):
        if name in where:
            raise UserError(f"{flag}: condition {name!r} given twice")
        where.update(parse_where(flag, [f"{name}={value}"]))
    return where


def check_output_file(flag: str, path: Path, suffix: str) -> None:
    """Before any work: ``path`` ends in ``suffix``, is not a folder, and its folder exists or
    can be made (no part of it is a file) and is writable."""
    if path.suffix.lower() != suffix:
        raise UserError(f"{flag}: {path} must end in {suffix}")
    if path.is_dir():
        raise UserError(f"{flag}: {path} is a folder")
    probe = nearest_existing(path.parent)
    if not probe.is_dir():
        raise UserError(f"{flag}: {path}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK):
        raise UserError(f"{flag}: {path}: {probe} is not writable")


def device_options(command):
    """``--device``, ``--amp`` and ``--compile``: where and how the command's cells run (see
    ``bench.core.device``); the command receives ``device_spec``, ``amp`` and ``compiled``."""
    command = click.option(
        "--compile", "compiled", is_flag=True, default=None,
        help="Training steps through torch.compile (default $PERLOC_COMPILE); a cell of its "
             "own, like another device.")(command)
    command = click.option(
        "--amp", default=None, metavar="off|bf16|fp16",
        help="Autocast precision of training steps (default $PERLOC_AMP, else off); fp16 "
             "adds a gradient scaler. A method's own precision parameter wins.")(command)
    return click.option(
        "--device", "device_spec", default=None, metavar="auto|cpu|cuda[:N]",
        help="Where models and batches live (default $PERLOC_DEVICE, else auto: a GPU when "
             "one is visible). Records and boards say which device ran each cell.")(command)
