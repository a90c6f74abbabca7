"""cifar10-sim / cifar100-sim: written in the CIFAR python layout (Python 2 protocol-2 pickles,
bytes keys, the release's keys and label names) and read back by the same adapters; balanced
test splits, the real fine -> coarse map, deterministic by seed, a no-op rewrite, and
``bench data synth``."""

from __future__ import annotations

import json
import pickle
import pickletools

import numpy as np
import pytest

from perloc.datasets.cifar import Cifar10, Cifar100
from perloc.datasets.cifar_names import (
    CIFAR10_NAMES,
    CIFAR100_COARSE,
    CIFAR100_COARSE_OF,
    CIFAR100_FINE,
)
from perloc.datasets.synth.cifar_sim import SIZES, cifar10_styles, render, write_cifar_sim
from tests.bench.cli_helpers import invoke

BATCH_KEYS = {b"data", b"labels", b"batch_label", b"filenames"}


@pytest.fixture(scope="module")
def sim10(tmp_path_factory):
    return write_cifar_sim(tmp_path_factory.mktemp("c10") / "cifar10-sim", "cifar10", "smoke")


@pytest.fixture(scope="module")
def sim100(tmp_path_factory):
    return write_cifar_sim(tmp_path_factory.mktemp("c100") / "cifar100-sim", "cifar100", "smoke")


def _raw(path):
    return pickle.loads(path.read_bytes(), encoding="bytes")


def test_cifar10_sim_is_read_back_by_the_adapter(sim10):
    data = Cifar10(sim10)
    assert data.provenance.kind == "synthetic" and data.class_names == CIFAR10_NAMES
    size = SIZES["cifar10"]["smoke"]
    assert data.describe()["n_images"] == {"train": size.n_train, "test": size.n_test}
    for split, n in (("train", size.n_train), ("test", size.n_test)):
        assert np.all(np.bincount(data.labels(split), minlength=10) == n // 10)
    assert data.images("train").shape == (size.n_train, 3, 32, 32)
    marker = json.loads((sim10 / ".perloc-cifar10-sim.json").read_text())
    assert marker["images"] == {"train": [size.n_train // 5] * 5, "test": [size.n_test]}


def test_cifar10_sim_files_have_the_release_layout(sim10):
    folder = sim10 / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*(f"data_batch_{k}" for k in range(1, 6)), "test_batch", "batches.meta"])
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        raw = (folder / name).read_bytes()
        assert raw[:2] == b"\x80\x02"  # protocol 2
        names = {arg for op, arg, _ in pickletools.genops(raw) if op.name == "GLOBAL"}
        assert names <= {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}
    batch = _raw(folder / "data_batch_2")
    assert set(batch) == BATCH_KEYS and batch[b"batch_label"] == b"training batch 2 of 5"
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (100, 3072)
    assert all(isinstance(v, int) for v in batch[b"labels"])
    assert batch[b"filenames"][0].endswith(b".png")
    assert _raw(folder / "test_batch")[b"batch_label"] == b"testing batch 1 of 1"
    meta = _raw(folder / "batches.meta")
    assert meta == {b"num_cases_per_batch": 100, b"num_vis": 3072,
                    b"label_names": [n.encode() for n in CIFAR10_NAMES]}


def test_cifar100_sim_is_read_back_with_the_real_superclasses(sim100):
    data = Cifar100(sim100)
    assert data.provenance.kind == "synthetic"
    assert data.class_names == CIFAR100_FINE and data.coarse_names == CIFAR100_COARSE
    fine = data.labels("test")
    assert np.all(np.bincount(fine, minlength=100) == SIZES["cifar100"]["smoke"].n_test // 100)
    np.testing.assert_array_equal(data.coarse_labels("test"), np.array(CIFAR100_COARSE_OF)[fine])
    folder = sim100 / "cifar-100-python"
    assert set(_raw(folder / "train")) == {b"data", b"fine_labels", b"coarse_labels",
                                           b"batch_label", b"filenames"}
    assert set(_raw(folder / "meta")) == {b"fine_label_names", b"coarse_label_names"}


def test_same_seed_same_bytes_other_seed_other_images(tmp_path, sim10):
    again = write_cifar_sim(tmp_path / "again", "cifar10", "smoke", seed=0)
    other = write_cifar_sim(tmp_path / "other", "cifar10", "smoke", seed=1)
    for name in ("data_batch_1", "test_batch"):
        same = (again / "cifar-10-batches-py" / name).read_bytes()
        assert same == (sim10 / "cifar-10-batches-py" / name).read_bytes()
        assert same != (other / "cifar-10-batches-py" / name).read_bytes()


def test_an_up_to_date_stand_in_is_not_rewritten_and_synth_reaches_it(sim10, capsys):
    stamps = {p: p.stat().st_mtime_ns for p in sim10.rglob("*")}
    result = invoke(capsys, "data", "synth", "cifar10-sim", "--out", str(sim10), "--size", "smoke")
    assert result.code == 0 and result.out == f"{sim10}\n", result
    assert {p: p.stat().st_mtime_ns for p in sim10.rglob("*")} == stamps


def test_synth_writes_cifar100_sim(tmp_path, capsys):
    out = tmp_path / "c100"
    result = invoke(capsys, "data", "synth", "cifar100-sim", "--out", str(out), "--size", "smoke",
                    "--seed", "3")
    assert result.code == 0, result.err
    assert json.loads((out / ".perloc-cifar100-sim.json").read_text())["seed"] == 3
    assert Cifar100(out).describe()["n_images"]["train"] == SIZES["cifar100"]["smoke"].n_train


def test_images_vary_and_classes_differ():
    """Not a learnability test (too slow for a unit test): images use the value range, and the
    mean centre colour of two classes differs more than that of two halves of one class."""
    rng = np.random.default_rng(0)
    rows = render(np.repeat([0, 1], 200), cifar10_styles(), rng)
    assert rows.min() < 20 and rows.max() > 235 and rows.std() > 30
    centre = rows.reshape(-1, 3, 32, 32)[:, :, 10:22, 10:22].mean(axis=(2, 3))
    a, b = centre[:200], centre[200:]
    within = np.abs(a[:100].mean(0) - a[100:].mean(0)).sum()
    assert np.abs(a.mean(0) - b.mean(0)).sum() > 2 * within
