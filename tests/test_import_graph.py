"""Imports go one way: datasets and metrics below methods, methods below the harness.

Every ``import`` and ``from ... import`` statement (also inside functions; relative imports
resolved) of every .py file under bench/, methods/, datasets/ and metrics/ is checked against
:data:`RULES`. Imports by name at run time (registry scanning, ``importlib``) are not
statements and are not checked.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("bench", "methods", "datasets", "metrics")


@dataclass(frozen=True)
class Rule:
    """Modules under ``source`` may not import modules under ``banned``, except ``allowed``."""

    source: str
    banned: tuple[str, ...]
    allowed: tuple[str, ...] = ()

    def forbids(self, importer: str, imported: str) -> bool:
        return (_under(importer, self.source) and any(_under(imported, b) for b in self.banned)
                and not any(_under(imported, a) for a in self.allowed))


RULES = (
    Rule("perloc.datasets", ("perloc.methods", "perloc.bench"), ("perloc.bench.core",)),
    Rule("perloc.metrics", ("perloc",), ("perloc.bench.core", "perloc.metrics")),
    Rule("perloc.bench.core", ("perloc",), ("perloc.bench.core",)),
    Rule("perloc.methods", ("perloc.bench",), ("perloc.bench.core",)),
)

# (file, imported module) -> why this one import may break a rule. Keep each entry justified.
ALLOWED: dict[tuple[str, str], str] = {}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def module_name(root: Path, path: Path) -> str:
    """``bench/core/task.py`` -> ``perloc.bench.core.task``; ``__init__.py`` -> its package."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(("perloc", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def imports(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, imported module) of every import statement; ``from a import b`` gives ``a.b``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield from ((node.lineno, base if alias.name == "*" else f"{base}.{alias.name}")
                        for alias in node.names)


def violations(root: Path, rules=RULES, allowed=ALLOWED) -> tuple[list[str], set]:
    """``file:line: importer imports imported`` for each forbidden import under ``root``, and
    the allow-list keys that were used."""
    found, used = [], set()
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            rel, module = path.relative_to(root).as_posix(), module_name(root, path)
            for line, imported in imports(path, module):
                if not any(rule.forbids(module, imported) for rule in rules):
                    continue
                key = next((k for k in allowed if k[0] == rel and _under(imported, k[1])), None)
                if key is None:
                    found.append(f"{rel}:{line}: {module} imports {imported}")
                used.add(key)
    return found, used - {None}


def test_the_tree_keeps_imports_one_way():
    found, used = violations(REPO)
    assert not found, "imports against the layering rules:\n" + "\n".join(found)
    assert used == set(ALLOWED), f"stale allow-list entries: {sorted(set(ALLOWED) - used)}"


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_checker_finds_function_level_relative_and_from_imports(tmp_path):
    _write(tmp_path, "datasets/good.py", "from perloc.bench.core.errors import UserError\n"
                                         "import numpy\nfrom . import audio\n")
    _write(tmp_path, "datasets/bad.py", "import os\n\ndef f():\n"
                                        "    from perloc.methods.kws import kwt\n")
    _write(tmp_path, "methods/kws/__init__.py", "from ...bench import store\n")
    _write(tmp_path, "metrics/m.py", "from perloc import datasets\nfrom .x import y\n")
    _write(tmp_path, "bench/core/c.py",
           "import perloc.bench.core.task\nimport perloc.bench.corex\n")
    found, _ = violations(tmp_path, allowed={})
    assert found == [
        "bench/core/c.py:2: perloc.bench.core.c imports perloc.bench.corex",
        "methods/kws/__init__.py:1: perloc.methods.kws imports perloc.bench.store",
        "datasets/bad.py:4: perloc.datasets.bad imports perloc.methods.kws.kwt",
        "metrics/m.py:1: perloc.metrics.m imports perloc.datasets",
    ]


def test_an_allow_list_entry_silences_one_import_and_is_reported_used(tmp_path):
    _write(tmp_path, "datasets/bad.py", "from perloc.bench.store import workspace\n"
                                        "from perloc.methods import x\n")
    key = ("datasets/bad.py", "perloc.bench.store")
    found, used = violations(tmp_path, allowed={key: "test"})
    assert found == ["datasets/bad.py:2: perloc.datasets.bad imports perloc.methods.x"]
    assert used == {key}
