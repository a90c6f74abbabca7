"""Package discovery only: maps the top-level folders onto the import root ``perloc``.

``bench/ methods/ datasets/ metrics/`` install as ``perloc.bench`` ... so that no top-level
``datasets`` (Hugging Face's) or ``bench`` package is ever shadowed.
"""

from setuptools import find_packages, setup

ROOTS = ("bench", "methods", "datasets", "metrics")


def _packages() -> tuple[list[str], dict[str, str]]:
    packages, package_dir = [], {}
    for root in ROOTS:
        package_dir[f"perloc.{root}"] = root
        packages.append(f"perloc.{root}")
        packages += [f"perloc.{root}.{sub}" for sub in find_packages(root)]
    return packages, package_dir


PACKAGES, PACKAGE_DIR = _packages()
setup(packages=PACKAGES, package_dir=PACKAGE_DIR)
