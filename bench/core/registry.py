"""One registry per kind (tasks, datasets, methods), filled by scanning a package on first lookup.

Adding a method is one file: decorate it with ``METHODS.register(card)`` anywhere under
``perloc.methods`` and it is found. Methods, tasks and datasets from outside the package come
in as plug-ins (entry points, ``package.module:Name`` references, PERLOC_IMPORTS): see
``perloc.bench.core.plugins``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from perloc.bench.core import plugins
from perloc.bench.core.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> entry, with aliases; ``scan`` names the package whose modules register entries.

    Each entry remembers the module that registered it (its origin), so a reference
    ``module:Name`` only resolves to a name that module registered.
    """

    def __init__(self, kind: str, scan: str) -> None:
        self.kind = kind
        self._scan = scan
        self._scanned = False
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._origins: dict[str, str] = {}

    def add(self, name: str, entry: T, aliases: tuple[str, ...] = (),
            origin: str | None = None) -> T:
        """Register ``entry``; ``origin``: the registering module (default: the caller's)."""
        for key in (name, *aliases):
            if key in self._entries or key in self._aliases:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
        self._entries[name] = entry
        self._aliases.update({alias: name for alias in aliases})
        self._origins[name] = origin or plugins.calling_module(__name__)
        return entry

    def register(self, name: str, aliases: tuple[str, ...] = ()) -> Callable[[T], T]:
        def decorate(entry: T) -> T:
            return self.add(name, entry, aliases)

        return decorate

    def _ensure_scanned(self) -> None:
        """Import the package's modules, then the plug-ins: the kind's entry points and what
        PERLOC_IMPORTS lists (method classes listed there are registered by their card)."""
        if self._scanned:
            return
        self._scanned = True
        package = importlib.import_module(self._scan)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{self._scan}."):
            importlib.import_module(info.name)
        plugins.load_entry_points(self.kind)
        for path, obj in plugins.imported_objects():
            if plugins.declared_method(self.kind, obj) is not None:
                self._add_class(path, obj, obj.__module__)

    def _resolve(self, reference: str) -> str:
        """The registered name a reference ``module:Name`` stands for (see ``plugins``); the
        module is remembered for worker processes."""
        module, attr = plugins.import_reference(reference, self.kind)
        name = self._aliases.get(attr, attr)
        if name in self._entries and self._registered_by(name, module.__name__):
            plugins.remember(module.__name__, module)
            return name
        name = self._add_class(reference, getattr(module, attr, None), module.__name__)
        plugins.remember(f"{module.__name__}.{attr}", module)
        return name

    def _registered_by(self, name: str, module: str) -> bool:
        """Whether ``module`` (or a module inside it) registered ``name``."""
        origin = self._origins.get(name, "")
        return origin == module or origin.startswith(f"{module}.")

    def _add_class(self, reference: str, obj: Any, module: str) -> str:
        """Register a method class found at ``reference`` under its card's name (unless it is
        registered already); the name. Anything else is a UserError naming the reference."""
        card = plugins.declared_method(self.kind, obj)
        if card is None:
            name = reference.rpartition(":")[2]
            raise UserError(f"{self.kind} {reference!r}: module {module} registers no "
                            f"{self.kind} {name!r}" + (" and has no method class of that name"
                                                       if self.kind == "method" else ""))
        if self._entries.get(card.name, obj) is not obj:
            raise UserError(f"{self.kind} {reference!r}: {card.name!r} is already registered "
                            f"by {self._origins[card.name]}")
        if card.name not in self._entries:
            try:
                self.add(card.name, obj, card.aliases, origin=module)
            except ValueError as exc:
                raise UserError(f"{self.kind} {reference!r}: {exc}") from None
        return card.name

    def canonical(self, name: str) -> str:
        """The registered name of ``name``: itself, the name an alias stands for, or what a
        reference ``package.module:Name`` resolves to (imported on the way)."""
        self._ensure_scanned()
        if ":" in name and name not in self._entries and name not in self._aliases:
            return self._resolve(name)
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
