"""An HDF5 cache of front-end features, keyed by the dataset version and the front-end config.

``FeatureCache(path).get(key_parts, n, compute)`` returns an array [n, ...]: read from the file
when a dataset named by the hash of ``key_parts`` exists there, else computed by
``compute()``, stored and returned. Epochs after the first (and later runs) read instead of
recomputing. Readers share the file, one process writes it at a time, and a file that cannot
be opened or read back is replaced (``perloc.datasets.h5store``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from perloc.datasets import h5store

CACHE_VERSION = 1


def cache_key(parts) -> str:
    blob = json.dumps([CACHE_VERSION, parts], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()


class FeatureCache:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.computed = 0  # how many arrays this instance had to compute

    def ensure(self, parts, compute: Callable[[], np.ndarray]) -> None:
        """Compute and store the array unless the cache holds it (without reading it back)."""
        if not h5store.holds(self.path, "feature cache", [cache_key(parts)]):
            self.get(parts, compute)

    def get(self, parts, compute: Callable[[], np.ndarray]) -> np.ndarray:
        key = cache_key(parts)
        found = h5store.read(self.path, "feature cache", [key])  # many processes may read
        if found is None:
            found = h5store.fill(self.path, "feature cache", [key], lambda _: self._make(parts, compute))
        return found[key]

    def _make(self, parts, compute: Callable[[], np.ndarray]):
        values = np.asarray(compute())
        self.computed += 1
        yield cache_key(parts), values, {"parts": json.dumps(parts, sort_keys=True, default=str)}
