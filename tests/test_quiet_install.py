"""The editable install prints no build-backend warning block: pip runs the backend's
``build_editable`` hook, records every warning it raises and prints each ``UserWarning`` as a
block; the same hook, run the same way on a copy of the project, raises none."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HOOK = """
import json, sys, warnings
import setuptools.build_meta as backend
with warnings.catch_warnings(record=True) as caught:  # as pip's in-process hook runner
    backend.build_editable(sys.argv[1])
print(json.dumps([str(w.message).splitlines()[0] for w in caught
                  if issubclass(w.category, UserWarning)]))
"""


def _project_copy(folder: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("bench", "methods", "datasets", "metrics"):
        shutil.copytree(REPO / name, folder / name, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPO / name, folder / name)
    return folder


def _backend_warnings(project: Path, wheels: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", HOOK, str(wheels)], cwd=project,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_editable_build_raises_no_warning(tmp_path):
    pytest.importorskip("setuptools", minversion="77", reason="the dev extra pins it")
    project = _project_copy(tmp_path / "project")
    assert _backend_warnings(project, tmp_path / "wheels") == []
    (project / "perloc").mkdir()  # a folder named like the package: the note applies again
    assert any("Editable installation" in w
               for w in _backend_warnings(project, tmp_path / "wheels2"))
