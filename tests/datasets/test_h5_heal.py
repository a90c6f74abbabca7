"""HDF5 caches that heal: a file that cannot be opened or read back is replaced at once; a
lock held by a live process (ours or HDF5's) is waited for, said, and never broken."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from corruption import CORRUPTIONS

from perloc.bench.core.errors import UserError
from perloc.datasets import h5store
from perloc.datasets.feature_cache import FeatureCache

KEYS = [f"rir-{i:02d}" for i in range(12)]
HOLD = """
import sys, time
from pathlib import Path
{body}
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""
OUR_LOCK = HOLD.format(body="""from perloc.datasets import h5store
held = h5store.locked(Path(sys.argv[1]), "test", shared=False)
held.__enter__()""")
HDF5_LOCK = HOLD.format(body="""import h5py
handle = h5py.File(sys.argv[1], "a")""")


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {key: rng.normal(size=(4, 3000)).astype(np.float32) for key in KEYS}


def _make(arrays, asked):
    def make(missing):
        asked.extend(missing)
        for key in missing:
            yield key, arrays[key], {"what": "test"}
    return make


def _filled(path) -> dict[str, np.ndarray]:
    arrays = _arrays()
    h5store.fill(path, "test cache", KEYS, _make(arrays, []))
    return arrays


def _hold(script: str, path, seconds: float) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", script, str(path), str(seconds)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


@pytest.mark.parametrize("cut", [0.0, 0.3, 0.9])
def test_a_truncated_file_is_replaced_without_waiting(tmp_path, monkeypatch, cut):
    path = tmp_path / "bank.h5"
    arrays = _filled(path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * cut)])
    monkeypatch.setattr(h5store, "LOCK_WAIT_S", 0.0)  # any wait would raise
    assert h5store.read(path, "test cache", KEYS) is None
    asked = []
    found = h5store.fill(path, "test cache", KEYS, _make(arrays, asked))
    assert asked == KEYS and all(np.array_equal(found[k], arrays[k]) for k in KEYS)
    again = h5store.read(path, "test cache", KEYS)  # the replacement is a good file
    assert again is not None and all(np.array_equal(again[k], arrays[k]) for k in KEYS)


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
@pytest.mark.parametrize("seed", range(6))
def test_a_damaged_file_gives_the_right_arrays(tmp_path, monkeypatch, how, seed):
    """Whatever the damage (random bytes in the middle included: the file opens, a read
    fails), every array comes back right: read where intact, else made again."""
    path = tmp_path / "bank.h5"
    arrays = _filled(path)
    CORRUPTIONS[how](path, np.random.default_rng(seed))
    monkeypatch.setattr(h5store, "LOCK_WAIT_S", 0.0)
    found = h5store.read(path, "test cache", KEYS)
    if found is None:
        found = h5store.fill(path, "test cache", KEYS, _make(arrays, []))
    assert all(np.array_equal(found[k], arrays[k]) for k in KEYS)
    again = h5store.read(path, "test cache", KEYS)
    assert again is not None and all(np.array_equal(again[k], arrays[k]) for k in KEYS)


def test_random_bytes_in_the_data_are_found_at_read_time(tmp_path, caplog):
    """The file opens and its index is fine; a dataset's compressed bytes are not."""
    path = tmp_path / "bank.h5"
    arrays = _filled(path)
    with h5py.File(path, "r") as handle:
        offset = handle[KEYS[5]].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as handle:
        handle.seek(offset + 100)
        handle.write(np.random.default_rng(0).integers(0, 256, 64, dtype=np.uint8).tobytes())
    with h5py.File(path, "r") as handle:  # opens, lists, but cannot read KEYS[5]
        assert KEYS[5] in handle
        with pytest.raises(OSError):
            handle[KEYS[5]][()]
    assert h5store.read(path, "test cache", KEYS) is None
    asked = []
    with caplog.at_level(logging.WARNING, logger="perloc.datasets.h5store"):
        found = h5store.fill(path, "test cache", KEYS, _make(arrays, asked))
    assert asked == KEYS and all(np.array_equal(found[k], arrays[k]) for k in KEYS)
    assert f"{path} is damaged" in caplog.text


def test_a_feature_cache_with_damaged_data_is_rebuilt(tmp_path):
    path = tmp_path / "features.h5"
    cache = FeatureCache(path)
    cache.get(["a"], lambda: np.arange(5000.0))
    with h5py.File(path, "r") as handle:
        offset = handle[next(iter(handle))].id.get_chunk_info(0).byte_offset
    with open(path, "r+b") as handle:
        handle.seek(offset + 10)
        handle.write(b"\xff" * 32)
    again = FeatureCache(path)
    assert again.get(["a"], lambda: np.arange(5000.0)).tolist() == list(range(5000))
    assert again.computed == 1
    assert FeatureCache(path).get(["a"], lambda: pytest.fail("recomputed")).size == 5000


def test_a_lock_held_by_a_live_process_is_waited_for_and_said(tmp_path, caplog):
    path = tmp_path / "bank.h5"
    arrays = _filled(path)
    child = _hold(OUR_LOCK, path, 1.5)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="perloc.datasets.h5store"):
        found = h5store.read(path, "test cache", KEYS)
    waited = time.monotonic() - start
    child.wait(timeout=30)
    assert found is not None and all(np.array_equal(found[k], arrays[k]) for k in KEYS)
    assert waited > 0.5  # it did wait for the holder
    assert f"waiting for test cache {path}: pid {child.pid} is writing it" in caplog.text
    assert "lock released after" in caplog.text


def test_a_lock_dies_with_its_process(tmp_path, monkeypatch):
    path = tmp_path / "bank.h5"
    arrays = _filled(path)
    child = _hold(OUR_LOCK, path, 600)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    monkeypatch.setattr(h5store, "LOCK_WAIT_S", 0.0)  # nothing to wait for
    found = h5store.read(path, "test cache", KEYS)
    assert found is not None and np.array_equal(found[KEYS[0]], arrays[KEYS[0]])


def test_hdf5s_own_lock_is_waited_for_and_the_file_kept(tmp_path, monkeypatch, caplog):
    """A process outside perloc's lock file has the file open for writing (HDF5's lock)."""
    path = tmp_path / "bank.h5"
    arrays = _filled(path)
    inode = path.stat().st_ino
    child = _hold(HDF5_LOCK, path, 1.5)
    with caplog.at_level(logging.WARNING, logger="perloc.datasets.h5store"):
        found = h5store.fill(path, "test cache", KEYS, lambda missing: pytest.fail(missing))
    child.wait(timeout=30)
    assert all(np.array_equal(found[k], arrays[k]) for k in KEYS)
    assert "HDF5 file lock" in caplog.text and "is damaged" not in caplog.text
    assert path.stat().st_ino == inode
    child = _hold(HDF5_LOCK, path, 30)
    try:
        monkeypatch.setattr(h5store, "LOCK_WAIT_S", 0.2)
        with pytest.raises(UserError, match=r"bank\.h5: still locked after"):
            h5store.fill(path, "test cache", KEYS, lambda missing: pytest.fail(missing))
    finally:
        child.kill()
        child.wait(timeout=30)
    assert path.stat().st_ino == inode


def test_a_nested_exclusive_lock_fails_instead_of_hanging(tmp_path):
    path = tmp_path / "bank.h5"
    with h5store.locked(path, "test cache", shared=True), pytest.raises(RuntimeError):
        with h5store.locked(path, "test cache", shared=False):
            pass
    with h5store.locked(path, "test cache", shared=False):  # released: free again
        assert (tmp_path / "bank.h5.lock").read_text().strip() == str(os.getpid())


def test_an_entry_computed_from_another_of_the_same_file(tmp_path):
    """A cache read (and fill) while an entry of the same file is computed shares the outer
    writer's lock instead of waiting for itself (features computed from cached audio)."""
    cache = FeatureCache(tmp_path / "features.h5")
    audio = lambda: cache.get(["audio"], lambda: np.arange(10.0))  # noqa: E731
    assert cache.get(["mfcc"], lambda: audio() * 2).tolist() == list(np.arange(10.0) * 2)
    assert cache.computed == 2
    again = FeatureCache(tmp_path / "features.h5")
    assert again.get(["audio"], lambda: pytest.fail("recomputed")).size == 10
    assert again.get(["mfcc"], lambda: pytest.fail("recomputed")).size == 10
