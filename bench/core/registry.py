"""One registry per kind (tasks, datasets, methods), filled by scanning a package on first lookup.

Adding a method is one file: decorate it with ``METHODS.register(card)`` anywhere under
``perloc.methods`` and it is found.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from perloc.bench.core.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> entry, with aliases; ``scan`` names the package whose modules register entries."""

    def __init__(self, kind: str, scan: str) -> None:
        self.kind = kind
        self._scan = scan
        self._scanned = False
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def add(self, name: str, entry: T, aliases: tuple[str, ...] = ()) -> T:
        for key in (name, *aliases):
            if key in self._entries or key in self._aliases:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
        self._entries[name] = entry
        self._aliases.update({alias: name for alias in aliases})
        return entry

    def register(self, name: str, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        def decorate(entry: T) -> T:
            return self.add(name, entry, aliases)

        return decorate

    def _ensure_scanned(self) -> None:
        if self._scanned:
            return
        self._scanned = True
        package = importlib.import_module(self._scan)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{self._scan}."):
            importlib.import_module(info.name)

    def canonical(self, name: str) -> str:
        self._ensure_scanned()
        name = self._aliases.get(name, name)
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "none"
            raise UserError(f"unknown {self.kind} {name!r} (known: {known})")
        return name

    def get(self, name: str) -> T:
        return self._entries[self.canonical(name)]

    def names(self) -> list[str]:
        self._ensure_scanned()
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        self._ensure_scanned()
        return iter(sorted(self._entries.items()))


TASKS: Registry[Any] = Registry("task", "perloc.bench.tasks")
DATASETS: Registry[Any] = Registry("dataset", "perloc.datasets")
METHODS: Registry[Any] = Registry("method", "perloc.methods")
PERF: Registry[Any] = Registry("perf benchmark", "perloc.bench.perf")  # click commands
COMMANDS: Registry[Any] = Registry("command", "perloc.bench.tasks")  # task-specific CLI checks
