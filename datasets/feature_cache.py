"""An HDF5 cache of front-end features, keyed by the dataset version and the front-end config.

``FeatureCache(path).get(key_parts, n, compute)`` returns an array [n, ...]: read from the file
when a dataset named by the hash of ``key_parts`` exists there, else computed by
``compute()``, stored and returned. Epochs after the first (and later runs) read instead of
recomputing. Only one process writes a cache file; an unreadable file is replaced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from perloc.datasets.h5store import open_store, read_store

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
        reader = read_store(self.path)
        if reader is not None:
            with reader as store:
                if cache_key(parts) in store:
                    return
        self.get(parts, compute)

    def get(self, parts, compute: Callable[[], np.ndarray]) -> np.ndarray:
        key = cache_key(parts)
        reader = read_store(self.path)  # read-only first: many processes may read at once
        if reader is not None:
            with reader as store:
                if key in store:
                    return store[key][()]
        with open_store(self.path, "feature cache") as store:
            if key in store:
                return store[key][()]
            values = np.asarray(compute())
            store.create_dataset(key, data=values, compression="gzip", compression_opts=1)
            store[key].attrs["parts"] = json.dumps(parts, sort_keys=True, default=str)
        self.computed += 1
        return values
