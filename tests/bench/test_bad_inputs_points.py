"""Bad ScanObjectNN input through ``bench run points --data-root``: an h5 without ``mask``, a
label out of range, a file that is not HDF5: one error line naming the file, exit 2, nothing
written; an unknown method or parameter likewise."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from cli_helpers import refused

from perloc.bench.run import cells

TRAIN = "training_objectdataset_augmentedrot_scale75.h5"
TEST = "test_objectdataset_augmentedrot_scale75.h5"


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch):
    monkeypatch.setattr(cells, "_DATASETS", {})


def _write(folder, name, **arrays):
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / name, "w") as store:
        for key, value in arrays.items():
            store[key] = value
    return folder / name


def _valid():
    return {"data": np.zeros((2, 2048, 3), np.float32), "label": np.array([0, 3]),
            "mask": np.zeros((2, 2048), np.int64)}


@pytest.mark.parametrize(("change", "needle"), [
    ({"mask": None}, "mask"), ({"label": np.array([0, 15])}, "15"), ("not-h5", "HDF5")])
def test_bad_scanobjectnn_is_one_line_exit_2_nothing_written(capsys, workspace, tmp_path,
                                                             change, needle):
    folder = tmp_path / "h5_files" / "main_split"
    _write(folder, TRAIN, **_valid())
    if change == "not-h5":
        path = folder / TEST
        path.write_text("not an h5 file\n")
    else:
        arrays = {k: v for k, v in {**_valid(), **change}.items() if v is not None}
        path = _write(folder, TEST, **arrays)
    result = refused(capsys, workspace, "run", "points", "--profile", "paper", "-m", "pointnet",
                     "--data-root", str(tmp_path))
    assert path.name in result.err and needle.lower() in result.err.lower()


@pytest.mark.parametrize(("args", "needle"), [
    (("-m", "pointnet++"), "pointnet++"), (("-p", "size=4"), "size")])
def test_unknown_methods_and_sizes_are_refused(capsys, workspace, args, needle):
    result = refused(capsys, workspace, "run", "points", "--profile", "smoke", *args)
    assert needle in result.err
