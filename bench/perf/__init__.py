"""Measured speed of the hot paths: each module here is one ``bench perf NAME`` benchmark.

A module registers its click command with :func:`benchmark`; ``bench perf`` finds it by
scanning this package (``PERF``), so adding ``foo.py`` adds ``bench perf foo``. Every
benchmark takes ``--device`` and ``--amp`` and runs under that placement
(:mod:`perloc.bench.core.device`): tensors made with ``device.tensor`` and modules made with
``device.build`` land there, and :func:`perloc.bench.perf.timing.median_seconds` waits for
the device before it reads the clock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import click

from perloc.bench.cli.options import device_options
from perloc.bench.core import device
from perloc.bench.core.registry import PERF


def benchmark(name: str) -> Callable[[Callable], click.Command]:
    """Make the decorated function, with its click options, the command ``bench perf NAME``;
    its docstring's first line is what ``bench perf`` lists."""

    def decorate(fn: Callable) -> click.Command:
        @functools.wraps(fn)
        def placed(*args, device_spec=None, amp=None, compiled=None, **kwargs):
            with device.using(device.resolve(device_spec, amp, compiled)):
                result = fn(*args, **kwargs)
                click.echo(f"measured on: {device.label(device.describe())}", err=True)
            return result

        return PERF.add(name, click.command(name)(device_options(placed)))

    return decorate
