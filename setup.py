"""Package discovery only: maps the top-level folders onto the import root ``perloc``.

``bench/ methods/ datasets/ metrics/`` install as ``perloc.bench`` ... so that no top-level
``datasets`` (Hugging Face's) or ``bench`` package is ever shadowed.
"""

import warnings
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.warnings import InformationOnly

ROOTS = ("bench", "methods", "datasets", "metrics")


def _packages() -> tuple[list[str], dict[str, str]]:
    packages, package_dir = [], {}
    for root in ROOTS:
        package_dir[f"perloc.{root}"] = root
        packages.append(f"perloc.{root}")
        packages += [f"perloc.{root}.{sub}" for sub in find_packages(root)]
    return packages, package_dir


def _editable_note_does_not_apply() -> None:
    """An editable install of folders mapped onto a package (a meta path finder, the only
    editable mode that does not put bench/, datasets/ ... on ``sys.path`` as top-level
    packages) ends with setuptools' "Editable installation" note, which pip prints as a
    warning block: a folder named like the package in the working directory would take
    precedence during imports. The package is ``perloc`` and this project has no such folder
    (the mapping exists so that it needs none), so the note is dropped, only while that holds:
    a ``perloc/`` folder here brings it back."""
    if not (Path(__file__).resolve().parent / "perloc").exists():
        warnings.filterwarnings("ignore", "Editable installation", InformationOnly)


PACKAGES, PACKAGE_DIR = _packages()
_editable_note_does_not_apply()
setup(packages=PACKAGES, package_dir=PACKAGE_DIR)
