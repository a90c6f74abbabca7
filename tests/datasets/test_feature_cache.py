import dataclasses

import numpy as np
import pytest

from perloc.datasets.feature_cache import FeatureCache
from perloc.datasets.features.mfcc import MfccParams


def test_second_get_reads_instead_of_computing(tmp_path):
    cache = FeatureCache(tmp_path / "features.h5")
    calls = []

    def compute():
        calls.append(1)
        return np.arange(12.0).reshape(3, 4)

    key = ["speech-commands", "abc123", dataclasses.asdict(MfccParams()), "training"]
    first = cache.get(key, compute)
    again = FeatureCache(tmp_path / "features.h5").get(key, compute)
    assert len(calls) == 1 and np.array_equal(first, again)


def test_key_changes_with_the_front_end_config(tmp_path):
    cache = FeatureCache(tmp_path / "features.h5")
    base = dataclasses.asdict(MfccParams())
    cache.get(["v1", base], lambda: np.zeros(2))
    other = cache.get(["v1", {**base, "n_mels": 40}], lambda: np.ones(2))
    assert cache.computed == 2 and other.tolist() == [1.0, 1.0]


def test_corrupt_cache_file_is_replaced(tmp_path):
    path = tmp_path / "features.h5"
    path.write_bytes(b"not hdf5")
    assert FeatureCache(path).get(["k"], lambda: np.full(3, 7.0)).tolist() == [7.0, 7.0, 7.0]


def test_a_locked_store_is_waited_for_and_never_replaced(tmp_path, monkeypatch):
    """HDF5's own file lock (a process outside perloc's lock file has the file open) is told
    by its errno, as h5py raises it (BlockingIOError, EAGAIN), never by the message's text."""
    import errno

    import h5py

    from perloc.bench.core.errors import UserError
    from perloc.datasets import h5store

    path = tmp_path / "shared.h5"
    with h5py.File(path, "w") as handle:
        handle["x"] = np.arange(3)
    real = h5py.File
    calls = {"n": 0}

    def locked(name, mode="r", *args, **kwargs):
        calls["n"] += 1
        if mode == "a" and calls["n"] < 4:
            raise BlockingIOError(errno.EAGAIN, "Unable to synchronously open file (unable to "
                                  "lock file, errno = 11)")
        return real(name, mode, *args, **kwargs)

    monkeypatch.setattr(h5store.h5py, "File", locked)
    found = h5store.fill(path, "test store", ["x"], lambda missing: pytest.fail(missing))
    assert list(found["x"]) == [0, 1, 2]  # waited out three lock failures, read, not replaced
    monkeypatch.setattr(h5store, "LOCK_WAIT_S", 0.0)
    calls["n"] = 0
    with pytest.raises(UserError, match="shared.h5: still locked"):
        h5store.fill(path, "test store", ["x"], lambda missing: pytest.fail(missing))
    assert path.exists()
    assert list(h5store.read(path, "test store", ["x"])["x"]) == [0, 1, 2]  # readers unblocked
