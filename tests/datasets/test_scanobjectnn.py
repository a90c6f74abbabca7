"""ScanObjectNN (PB_T50_RS main split): scanobjectnn-sim written in the h5 layout and read back,
the first-n-points rule and the -1 -> 0 mask on hand-written files, and bad files each a
UserError naming the file. Known answers come from the arrays written here (read back with
h5py directly), never from the adapter."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from perloc.bench.core.errors import UserError
from perloc.datasets.scanobjectnn import CLASSES, ScanObjectNN
from perloc.datasets.synth.scanobjectnn_sim import SIZES, write_scanobjectnn_sim
from tests.bench.cli_helpers import invoke

TRAIN = "training_objectdataset_augmentedrot_scale75.h5"
TEST = "test_objectdataset_augmentedrot_scale75.h5"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return write_scanobjectnn_sim(tmp_path_factory.mktemp("son") / "sim", "smoke", seed=1)


def _raw(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f}


def _write(folder, name, **arrays):
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / name, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
    return folder / name


def _valid(folder, s=3, p=4, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"data": rng.normal(size=(s, p, 3)).astype(np.float32),
              "label": (np.arange(s) % 15).astype(np.int64),
              "mask": rng.integers(-1, 3, (s, p)).astype(np.int64)}
    for name in (TRAIN, TEST):
        _write(folder, name, **arrays)
    return arrays


def test_sim_files_have_the_release_keys_dtypes_and_shapes(sim):
    folder = sim / "h5_files" / "main_split"
    assert sorted(p.name for p in folder.iterdir()) == sorted([TRAIN, TEST])
    for name, n in ((TRAIN, 120), (TEST, 60)):
        raw = _raw(folder / name)
        assert set(raw) == {"data", "label", "mask"}
        assert raw["data"].dtype == np.float32 and raw["data"].shape == (n, 2048, 3)
        assert raw["label"].dtype.kind == "i" and raw["label"].shape == (n,)
        assert raw["mask"].dtype.kind == "i" and raw["mask"].shape == (n, 2048)
        assert np.bincount(raw["label"], minlength=15).tolist() == [n // 15] * 15
        background = (raw["mask"] == -1).mean(axis=1)
        assert background.min() >= 0.09 and background.max() <= 0.31
        assert raw["mask"].max() >= 1  # object points carry part ids, not only 0
        assert np.isfinite(raw["data"]).all() and np.abs(raw["data"]).max() < 3


def test_sim_is_read_back_first_n_points_and_binary_mask(sim):
    data = ScanObjectNN(sim)
    raw = _raw(sim / "h5_files" / "main_split" / TRAIN)
    points = data.points("train", 512)
    assert points.dtype == np.float32 and points.shape == (120, 512, 3)
    np.testing.assert_array_equal(points, raw["data"][:, :512])
    np.testing.assert_array_equal(data.labels("training"), raw["label"])
    masks = data.masks("train", 512)
    assert masks.dtype == np.int8
    np.testing.assert_array_equal(masks, (raw["mask"][:, :512] != -1).astype(np.int8))
    # the points are shuffled: the first 512 hold background and object like the whole cloud
    share = 1 - masks.mean(axis=1)
    assert np.abs(share - (raw["mask"] == -1).mean(axis=1)).max() < 0.12
    assert data.classes == CLASSES and len(CLASSES) == 15 and CLASSES[14] == "toilet"
    info = data.describe()
    assert info["n_clouds"] == {"train": 120, "test": 60} and info["n_points"] == 2048
    assert data.provenance.kind == "synthetic"
    assert ScanObjectNN(sim / "h5_files" / "main_split").version == data.version
    assert ScanObjectNN(sim / "h5_files" / "main_split").provenance.kind == "synthetic"


def test_hand_written_files_mask_and_first_points(tmp_path):
    folder = tmp_path / "h5_files" / "main_split"
    data = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    mask = np.array([[-1, 0, 2, -1], [5, -1, 1, 0]])
    for name in (TRAIN, TEST):
        _write(folder, name, data=data, label=np.array([[3], [14]], dtype=np.int32), mask=mask)
    son = ScanObjectNN(tmp_path)
    assert son.masks("test", 4).tolist() == [[0, 1, 1, 0], [1, 0, 1, 1]]
    assert son.points("test", 2).tolist() == [[[0, 1, 2], [3, 4, 5]],
                                              [[12, 13, 14], [15, 16, 17]]]
    assert son.labels("train").tolist() == [3, 14] and son.labels("train").dtype == np.int64
    assert son.provenance.kind == "real"
    with pytest.raises(UserError, match="5 points asked, the clouds hold 4"):
        son.points("train", 5)
    with pytest.raises(UserError, match="unknown split 'val'"):
        son.labels("val")


@pytest.mark.parametrize(("change", "message"), [
    ({"mask": None}, "no 'mask' dataset"),
    ({"label": None}, "no 'label' dataset"),
    ({"label": np.array([0, 15, 2])}, r"label\[1\] = 15 is outside 0..14"),
    ({"label": np.array([0, -1, 2])}, r"label\[1\] = -1 is outside 0..14"),
    ({"label": np.array([0, 1])}, "2 labels for 3 clouds"),
    ({"label": np.array([0.0, 1.0, 2.0])}, "'label' is float64 .* expected integer S or S x 1"),
    ({"data": np.zeros((3, 4, 3))}, "'data' is float64 .* expected float32 S x 2048 x 3"),
    ({"data": np.zeros((3, 4), np.float32)}, "expected float32 S x 2048 x 3"),
    ({"mask": np.zeros((3, 5), np.int64)}, "'mask' is int64 of shape \\(3, 5\\), expected "
                                           "integer 3 x 4"),
    ({"data": np.full((3, 4, 3), np.nan, np.float32)}, "cloud 0 has non-finite coordinates"),
])
def test_bad_files_are_one_user_error_naming_the_file(tmp_path, change, message):
    folder = tmp_path / "main_split"
    arrays = _valid(folder)
    arrays.update(change)
    path = _write(folder, TEST, **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(UserError, match=message) as caught:
        ScanObjectNN(tmp_path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_missing_and_non_hdf5_files(tmp_path):
    folder = tmp_path / "h5_files" / "main_split"
    _valid(folder)
    (folder / TEST).unlink()
    with pytest.raises(UserError, match=f"{folder / TEST}: file not found"):
        ScanObjectNN(tmp_path)
    (folder / TEST).write_bytes(b"not hdf5 at all")
    with pytest.raises(UserError, match=f"{folder / TEST}: not a readable HDF5 file"):
        ScanObjectNN(tmp_path)


def test_same_seed_same_clouds_and_synth_cli(sim, tmp_path, capsys):
    again = write_scanobjectnn_sim(tmp_path / "again", SIZES["smoke"], seed=1)
    for name in (TRAIN, TEST):
        a, b = _raw(sim / "h5_files/main_split" / name), _raw(again / "h5_files/main_split" / name)
        assert all(np.array_equal(a[k], b[k]) for k in a)
    stamps = {p: p.stat().st_mtime_ns for p in sim.rglob("*")}
    result = invoke(capsys, "data", "synth", "scanobjectnn-sim", "--out", str(sim), "--size",
                    "smoke", "--seed", "1")
    assert result.code == 0 and result.out == f"{sim}\n", result
    assert {p: p.stat().st_mtime_ns for p in sim.rglob("*")} == stamps
    assert json.loads((sim / ".perloc-scanobjectnn-sim.json").read_text())["seed"] == 1
    result = invoke(capsys, "data", "check", "scanobjectnn", "--root", str(sim))
    assert result.code == 0 and TRAIN in result.out, result
