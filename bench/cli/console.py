"""What the ``bench`` commands print besides their results: messages and progress."""

from __future__ import annotations

import click


def say(message: str) -> None:
    """A progress or status line, on stderr (stdout carries results and --json)."""
    click.echo(message, err=True)


def progress_bars() -> bool:
    """The commands report the progress of their long steps: tqdm bars on a terminal, a plain
    line every 30 s in logs (``perloc.bench.core.progress`` picks); sweep workers do not."""
    return True
