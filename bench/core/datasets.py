"""Dataset entries: what ``bench data`` lists, writes (stand-ins) and checks (real datasets).

Each dataset registers one :class:`DatasetEntry` in :data:`~perloc.bench.core.registry.DATASETS`
from its own module under ``perloc.datasets`` (:func:`register_dataset`); ``bench data``
dispatches through the entries' hooks, so a new dataset needs no CLI edit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perloc.bench.core.registry import DATASETS

# real: recorded data the user supplies (``--data-root``); stand-in: written by the harness in
# a real dataset's layout; simulated: built in memory from another dataset, no files of its own.
KINDS = ("real", "stand-in", "simulated")


@dataclass(frozen=True)
class SynthRequest:
    """What ``bench data synth`` asks a stand-in's hook for."""

    out: Path  # the folder to write
    size: str  # one of the entry's ``sizes``
    seed: int
    progress: bool
    cache: Path  # the workspace cache (ingredients shared with the tasks: corpora, RIR banks)


@dataclass(frozen=True)
class CheckReport:
    """What ``bench data check`` prints: a header line, then a table."""

    header: str
    rows: list[list[Any]]
    headers: Sequence[str]


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset: its adapter class and the hooks of ``bench data synth`` / ``check``."""

    name: str
    kind: str
    summary: str
    adapter: type | None = None  # the class that reads it (stand-ins: their real one's)
    synth: Callable[[SynthRequest], Path] | None = None  # writes it; returns its root
    check: Callable[[Path], CheckReport] | None = None  # reads every file under a root
    sizes: tuple[str, ...] = field(default=())  # what ``synth`` accepts as --size

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"dataset {self.name}: kind {self.kind!r} is not one of {KINDS}")
        if (self.synth is None) != (not self.sizes):
            raise ValueError(f"dataset {self.name}: a synth hook needs sizes, and sizes a hook")


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Add ``entry`` to ``DATASETS`` under its name."""
    return DATASETS.add(entry.name, entry)
