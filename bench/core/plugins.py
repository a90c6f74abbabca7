"""Plug-ins: methods, tasks and datasets that live outside the perloc package.

A plug-in is a module whose import registers entries (``METHODS.add`` / ``register``), exactly
as a built-in module does. Three ways bring such a module in; each registry uses all three
after scanning its own package:

* **Entry points** of installed distributions, in the group of the registry's kind:
  ``perloc.methods``, ``perloc.tasks``, ``perloc.datasets``. The value names a module (or an
  object in one); loading it imports the module.
* **References** ``package.module:Name`` wherever a method or task name is accepted (``-m``,
  ``bench run TASK``): the module is imported (from ``sys.path``, then the current folder) and
  ``Name`` is a name or alias that module (or a module inside it) registered; for methods it
  may also be a class attribute carrying a ``card``, registered under ``card.name``. Records,
  run keys and boards name the entry by its registered name (the card's name), never by the
  reference, so ``-m pkg.mod:name`` and the installed plug-in share records.
* **PERLOC_IMPORTS**: dotted paths (``os.pathsep``-separated) of modules, or of method classes
  in a module, that every registry imports when it scans; folders in **PERLOC_IMPORT_PATH** are
  appended to ``sys.path`` first. The driver adds each reference it resolves to both, and the
  executors hand every ``PERLOC_*`` variable to their workers (local pool, Ray), so workers
  register the same entries.

A plug-in that cannot be imported is bad input: one UserError line naming it.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

from perloc.bench.core.cards import MethodCard
from perloc.bench.core.errors import UserError

IMPORTS = "PERLOC_IMPORTS"
IMPORT_PATH = "PERLOC_IMPORT_PATH"


def entry_point_group(kind: str) -> str:
    """The entry-point group of a registry kind: ``method`` -> ``perloc.methods``."""
    return f"perloc.{kind}s"


def load_entry_points(kind: str) -> None:
    """Load every installed entry point of the kind's group (importing its module)."""
    group = entry_point_group(kind)
    for point in metadata.entry_points(group=group):
        try:
            point.load()
        except Exception as exc:  # noqa: BLE001  (any failure of a plug-in is its author's)
            dist = point.dist.name if point.dist is not None else "an unknown distribution"
            raise UserError(f"plug-in {point.name} = {point.value} (entry point in {group} of "
                            f"{dist}): cannot import it: {_one_line(exc)}") from None


def _listed(variable: str) -> list[str]:
    return [item for item in os.environ.get(variable, "").split(os.pathsep) if item]


def imported_objects() -> list[tuple[str, Any]]:
    """Import what PERLOC_IMPORTS lists (PERLOC_IMPORT_PATH's folders on ``sys.path`` first):
    (dotted path, module or object) pairs."""
    for folder in _listed(IMPORT_PATH):
        if folder not in sys.path:
            sys.path.append(folder)
    objects = []
    for path in _listed(IMPORTS):
        try:
            objects.append((path, pkgutil.resolve_name(path)))
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"{IMPORTS}: cannot import {path}: {_one_line(exc)}") from None
    return objects


def import_reference(reference: str, kind: str) -> tuple[ModuleType, str]:
    """``package.module:Name`` -> (the imported module, ``Name``); the current folder is
    searched after ``sys.path``. Bad references are UserErrors naming the reference."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise UserError(f"{kind} {reference!r}: a reference is package.module:Name")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(module_name), attr
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(f"{exc.name}.")):
            raise UserError(f"{kind} {reference!r}: no module named {exc.name!r} (looked on "
                            "sys.path and in the current folder)") from None
        raise UserError(f"{kind} {reference!r}: cannot import {module_name}: "
                        f"{_one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{kind} {reference!r}: cannot import {module_name}: "
                        f"{_one_line(exc)}") from None


def declared_method(kind: str, obj: Any) -> MethodCard | None:
    """The card of a method class (``kind`` method and a MethodCard ``card``), else None."""
    card = getattr(obj, "card", None) if kind == "method" and isinstance(obj, type) else None
    return card if isinstance(card, MethodCard) else None


def remember(path: str, module: ModuleType) -> None:
    """Add ``path`` (a module, or ``module.Class``) to PERLOC_IMPORTS and the folder the module
    was found in to PERLOC_IMPORT_PATH, so worker processes import it too."""
    _append(IMPORTS, path)
    root = _search_root(module)
    if root is not None:
        _append(IMPORT_PATH, root)


def _append(variable: str, item: str) -> None:
    items = _listed(variable)
    if item not in items:
        os.environ[variable] = os.pathsep.join([*items, item])


def _search_root(module: ModuleType) -> str | None:
    """The ``sys.path`` folder ``module`` was imported from (None: not from a plain folder,
    e.g. an editable install's import hook)."""
    file = getattr(module, "__file__", None)
    if not file:
        return None
    depth = module.__name__.count(".") + (Path(file).name == "__init__.py")
    root = Path(file).resolve().parents[depth]
    folders = {Path(p or os.getcwd()).resolve() for p in sys.path if isinstance(p, str)}
    return str(root) if root in folders else None


def calling_module(*skip: str) -> str:
    """The ``__name__`` of the innermost caller outside the modules named in ``skip``."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") in skip:
        frame = frame.f_back
    return frame.f_globals.get("__name__", "") if frame is not None else ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
