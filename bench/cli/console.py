"""What the ``bench`` commands print besides their results: messages and progress bars."""

from __future__ import annotations

import sys

import click


def say(message: str) -> None:
    """A progress or status line, on stderr (stdout carries results and --json)."""
    click.echo(message, err=True)


def progress_bars() -> bool:
    """Show tqdm bars only when stderr is a terminal."""
    return sys.stderr.isatty()
