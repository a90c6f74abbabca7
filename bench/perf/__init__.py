"""Measured speed of the hot paths: each module here is one ``bench perf NAME`` benchmark.

A module registers its click command with :func:`benchmark`; ``bench perf`` finds it by
scanning this package (``PERF``), so adding ``foo.py`` adds ``bench perf foo``.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from perloc.bench.core.registry import PERF


def benchmark(name: str) -> Callable[[Callable], click.Command]:
    """Make the decorated function, with its click options, the command ``bench perf NAME``;
    its docstring's first line is what ``bench perf`` lists."""

    def decorate(fn: Callable) -> click.Command:
        return PERF.add(name, click.command(name)(fn))

    return decorate
