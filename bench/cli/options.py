"""Options several commands share: task arguments and the condition selection (``-w`` and the
task's shortcut flags)."""

from __future__ import annotations

from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import TASKS
from perloc.bench.run.ranges import parse_where

EXTRA_ARGS = {"ignore_unknown_options": True, "allow_extra_args": True}


def task_names(ctx, param, value):
    """Click callback: a task name, alias or reference ``package.module:NAME`` (or several)
    -> the registered name(s), which records and boards use."""
    if isinstance(value, tuple):
        return tuple(map(TASKS.canonical, value))
    return None if value is None else TASKS.canonical(value)


def where_from(task_name: str, conditions: tuple[str, ...], extra: list[str]) -> dict:
    """``-w`` selections plus the task's shortcut flags (``--snr 0:30`` is ``-w snr=0:30``)."""
    where = parse_where("--where", conditions)
    shortcuts = TASKS.get(task_name).shortcuts
    items = list(extra)
    while items:
        flag = items.pop(0)
        name = flag[2:].replace("-", "_") if flag.startswith("--") else ""
        if name not in shortcuts:
            known = ", ".join(f"--{s}" for s in shortcuts) or "none"
            raise UserError(f"{flag}: no such option for task {task_name} (condition flags: "
                            f"{known}; or -w CONDITION=VALUES)")
        if not items or items[0].startswith("--"):
            raise UserError(f"{flag}: needs a value (LO:HI, a value, or a,b)")
        if name in where:
            raise UserError(f"{flag}: condition {name!r} given twice")
        where.update(parse_where(flag, [f"{name}={items.pop(0)}"]))
    return where
