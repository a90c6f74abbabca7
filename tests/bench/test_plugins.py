"""Plug-ins: ``package.module:Name`` references, installed entry points, PERLOC_IMPORTS.

Runs that must register a plug-in go through the ``bench`` console script in a subprocess, so
the registries, ``sys.modules`` and the environment of this process stay as they were.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cli_helpers import invoke

BENCH = Path(sys.executable).with_name("bench")  # its sys.path[0] is .venv/bin, not the cwd

MODULE = """
    from perloc.bench.core.cards import MethodCard
    from perloc.bench.core.registry import METHODS
    from perloc.methods.tdoa.classical import GccTdoa, GccTdoaParams

    CARD = MethodCard(name="plugin-gcc", task="tdoa", kind="classical", params=GccTdoaParams,
                      reference="a test", summary="GCC-PHAT registered by a plug-in module")
    METHODS.add("plugin-gcc", type("PluginGcc", (GccTdoa,), {"card": CARD}))
"""
CLASSES = """
    from perloc.bench.core.cards import MethodCard
    from perloc.methods.tdoa.classical import GccTdoa, GccTdoaParams


    class Plain(GccTdoa):  # not registered: a reference to the class registers it
        card = MethodCard(name="plain-gcc", task="tdoa", kind="classical",
                          params=GccTdoaParams, reference="a test")
        weighting = "cc"
"""
TASK = """
    import dataclasses

    from perloc.bench.core.registry import TASKS
    from perloc.bench.tasks.tdoa import TDOA

    TASKS.add("plugin-tdoa", dataclasses.replace(TDOA, name="plugin-tdoa", family="tdoa",
                                                 default_methods=("gcc-phat",)))
"""
BROKEN = 'raise RuntimeError("boom in the plug-in")\n'


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


@pytest.fixture
def src(tmp_path) -> Path:
    """A folder holding the package ``tests_pkg`` (not installed, not on sys.path)."""
    return _write(tmp_path / "src", {"tests_pkg/__init__.py": "", "tests_pkg/module.py": MODULE,
                                     "tests_pkg/classes.py": CLASSES,
                                     "tests_pkg/tasks.py": TASK})


def _distribution(site: Path, name: str, module: str, code: str) -> Path:
    """An installed distribution as importlib.metadata finds it: a module and a dist-info
    folder (METADATA, entry_points.txt declaring ``module`` in group perloc.methods)."""
    info = f"{name.replace('-', '_')}-0.1.dist-info"
    return _write(site, {f"{module}.py": code,
                         f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
                         f"{info}/entry_points.txt": f"[perloc.methods]\n{name} = {module}\n"})


def _bench(*args: str, cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath) if pythonpath else ""}
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_a_reference_on_pythonpath_runs_and_records_go_by_the_cards_name(src, workspace):
    done = _bench("run", "tdoa", "--profile", "smoke", "-m", "tests_pkg.module:plugin-gcc",
                  "--publish", "--json", cwd=workspace, pythonpath=src)
    assert done.returncode == 0, done.stderr
    assert [r["method"] for r in json.loads(done.stdout)] == ["plugin-gcc"]
    stored = [json.loads(p.read_text())
              for p in (workspace / "results" / "runs" / "tdoa" / "smoke").glob("*.json")]
    assert [(r["method"], r["status"]) for r in stored] == [("plugin-gcc", "ok")]
    board = json.loads((workspace / "leaderboards" / "tdoa.json").read_text())
    assert [e["method"] for e in board["sections"]["smoke/synthetic"]["entries"]] == ["plugin-gcc"]


def test_worker_processes_import_references_from_the_current_folder(src, workspace):
    """--jobs 2: each cell runs in a worker, which knows the methods only via PERLOC_IMPORTS
    (a registered name, and a class the driver registered from its card)."""
    done = _bench("run", "tdoa", "--profile", "smoke", "--jobs", "2", "--json",
                  "-m", "tests_pkg.module:plugin-gcc", "-m", "tests_pkg.classes:Plain", cwd=src)
    assert done.returncode == 0, done.stderr
    assert "2 worker processes" in done.stderr
    records = json.loads(done.stdout)
    assert [(r["method"], r["status"]) for r in records] == [("plugin-gcc", "ok"),
                                                             ("plain-gcc", "ok")]
    assert records[0]["scores"] != records[1]["scores"]  # PHAT and CC weightings differ


def test_the_driver_environment_lets_a_fresh_process_register_the_references(src, workspace):
    """What a Ray worker gets: the driver's PERLOC_* variables, another folder, no PYTHONPATH."""
    resolve = ("import os; from perloc.bench.core.registry import METHODS; "
               "names = [METHODS.canonical(r) for r in "
               "('tests_pkg.module:plugin-gcc', 'tests_pkg.classes:Plain')]; "
               "print(names, os.environ['PERLOC_IMPORTS'], os.environ['PERLOC_IMPORT_PATH'], "
               "sep='\\n')")
    driver = subprocess.run([sys.executable, "-c", resolve], cwd=src, capture_output=True,
                            text=True, timeout=300)
    assert driver.returncode == 0, driver.stderr
    names, imports, path = driver.stdout.splitlines()
    assert names == "['plugin-gcc', 'plain-gcc']"
    assert imports.split(os.pathsep) == ["tests_pkg.module", "tests_pkg.classes.Plain"]
    assert path == str(src.resolve())
    lookup = ("from perloc.bench.core.registry import METHODS; "
              "print(METHODS.get('plugin-gcc').card.name, METHODS.get('plain-gcc').__name__)")
    worker = subprocess.run([sys.executable, "-c", lookup], cwd=workspace, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PERLOC_IMPORTS": imports,
                                                         "PERLOC_IMPORT_PATH": path})
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout.split() == ["plugin-gcc", "Plain"]


def test_a_task_reference_names_the_task_by_its_registered_name(src, workspace):
    done = _bench("run", "tests_pkg.tasks:plugin-tdoa", "--profile", "smoke", "--json", cwd=src)
    assert done.returncode == 0, done.stderr
    assert [(r["task"], r["method"]) for r in json.loads(done.stdout)] == [("plugin-tdoa",
                                                                            "gcc-phat")]
    assert list((workspace / "results" / "runs").iterdir()) == \
        [workspace / "results" / "runs" / "plugin-tdoa"]


def test_an_installed_entry_point_is_listed(tmp_path, workspace):
    site = _distribution(tmp_path / "site", "perloc-tmp-plugin", "tmp_plugin",
                         textwrap.dedent(MODULE).replace("plugin-gcc", "entry-gcc"))
    done = _bench("methods", "--task", "tdoa", cwd=workspace, pythonpath=site)
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0]: line for line in done.stdout.splitlines()[2:]}
    assert "GCC-PHAT registered by a plug-in module" in listed["entry-gcc"]
    assert "gcc-phat" in listed


def test_a_plug_in_that_fails_to_import_is_one_error_line(tmp_path, workspace):
    site = _distribution(tmp_path / "site", "perloc-broken", "broken_plugin", BROKEN)
    done = _bench("methods", cwd=workspace, pythonpath=site)
    assert done.returncode == 2
    line = _one_error_line(done.stderr)
    assert "perloc-broken = broken_plugin" in line and "of perloc-broken" in line
    assert "RuntimeError: boom in the plug-in" in line


@pytest.mark.parametrize("argv, needle", [
    (("-m", "nosuch.module:X"), "method 'nosuch.module:X': no module named 'nosuch'"),
    (("-m", "os:nothing"), "method 'os:nothing': module os registers no method 'nothing'"),
    (("-m", "os:gcc-phat"), "module os registers no method 'gcc-phat'"),  # not os's entry
    (("-m", "os:path"), "module os registers no method 'path'"),  # an attribute, not a method
    (("-m", "broken_pkg.mod:X"), "cannot import broken_pkg.mod: RuntimeError: boom"),
    (("-m", ":X"), "a reference is package.module:Name"),
])
def test_bad_method_references(capsys, workspace, monkeypatch, argv, needle):
    _write(workspace, {"broken_pkg/__init__.py": "", "broken_pkg/mod.py": BROKEN})
    monkeypatch.chdir(workspace)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the cwd appended is dropped after
    outcome = invoke(capsys, "run", "tdoa", "--profile", "smoke", *argv)
    assert outcome.code == 2
    assert needle in _one_error_line(outcome.err)
    assert not (workspace / "results" / "runs").exists()
    assert os.environ["PERLOC_IMPORTS"] == ""


def test_a_bad_task_reference_names_it(capsys, workspace):
    outcome = invoke(capsys, "run", "os:nothing", "--profile", "smoke")
    assert outcome.code == 2
    assert "task 'os:nothing': module os registers no task 'nothing'" in \
        _one_error_line(outcome.err)
