"""BIWI, FSA-Net protocol-2 archives: a hand-written fixture (known poses, a BGR pixel whose
blue channel is distinct), biwi-sim read back by the same adapter, and each bad archive
(missing key, wrong shape, a pickled object array, ...) as one UserError naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from perloc.bench.core.errors import UserError
from perloc.datasets.biwi import Biwi
from perloc.datasets.synth.biwi_sim import POSE_LIMIT, SimSize, write_biwi_sim
from tests.bench.cli_helpers import invoke

TRAIN_POSE = np.array([[10.0, -20.0, 5.0], [-70.5, 3.25, -40.0], [0.0, 59.0, 1.5]])
TEST_POSE = np.array([[33.0, 44.0, -11.0], [-1.0, -2.0, -3.0]])


def _images(n, first):
    image = np.zeros((n, 64, 64, 3), dtype=np.uint8)
    image[..., 0] = 200  # blue (cv2 order: B, G, R)
    image[..., 1] = 100
    image[..., 2] = np.arange(n)[:, None, None] + first  # red encodes the row
    return image


@pytest.fixture
def biwi(tmp_path):
    np.savez(tmp_path / "BIWI_train.npz", image=_images(3, 10), pose=TRAIN_POSE,
             img_size=np.array(64))
    np.savez(tmp_path / "BIWI_test.npz", image=_images(2, 20), pose=TEST_POSE.astype(np.float32))
    return tmp_path


def test_fixture_read_back(biwi):
    data = Biwi(biwi)
    assert (data.name, data.target_names, data.unit, data.classes) == (
        "biwi", ("yaw", "pitch", "roll"), "degrees", ())
    rows = data.split_rows(seed=1)
    assert rows["train"].tolist() == [0, 1, 2] and rows["test"].tolist() == [3, 4]
    targets = data.targets(np.arange(5))
    assert targets.dtype == np.float64 and targets.shape == (5, 3)
    assert np.array_equal(targets, np.concatenate([TRAIN_POSE, TEST_POSE]))
    assert targets[1, 0] == -70.5 and targets[1, 1] == 3.25 and targets[1, 2] == -40.0
    meta = data.meta([4, 0])
    assert meta["file"].tolist() == ["BIWI_test.npz", "BIWI_train.npz"]
    assert meta["index"].tolist() == [1, 0]
    images = data.images([0, 4], 64)
    assert images.dtype == np.uint8 and images.shape == (2, 3, 64, 64)
    assert np.all(images[:, 2] == 200) and np.all(images[:, 1] == 100)  # blue lands in RGB[2]
    assert images[0, 0, 5, 5] == 10 and images[1, 0, 5, 5] == 21
    resized = data.images([1], 224)
    assert resized.shape == (1, 3, 224, 224) and np.all(resized[0, 2] == 200)
    assert data.describe()["n_images"] == {"train": 3, "test": 2}
    assert data.provenance.kind == "real"


def test_image_cache(biwi, tmp_path):
    data = Biwi(biwi, cache=tmp_path / "c.h5")
    first = data.images([3, 1], 32)
    assert np.array_equal(data.images([3, 1], 32), first) and data.store.cache.computed == 1


def test_sim_read_back(tmp_path):
    root = write_biwi_sim(tmp_path / "biwi", SimSize("tiny", 40, 24), seed=2)
    with np.load(root / "BIWI_train.npz", allow_pickle=False) as archive:
        assert set(archive.files) == {"image", "pose", "img_size"}
        assert archive["image"].dtype == np.uint8 and archive["image"].shape == (40, 64, 64, 3)
        assert archive["pose"].shape == (40, 3) and archive["pose"].dtype.kind == "f"
        pose, bgr = archive["pose"], archive["image"]
    data = Biwi(root)
    assert data.provenance.kind == "synthetic"
    assert np.array_equal(data.targets(data.split_rows()["train"]), pose)
    assert np.array_equal(data.images([0], 64)[0], bgr[0, :, :, ::-1].transpose(2, 0, 1))
    assert np.all(np.abs(pose) <= POSE_LIMIT) and pose[:, 0].std() > 10
    again = write_biwi_sim(tmp_path / "biwi2", SimSize("tiny", 40, 24), seed=2)
    assert Biwi(again).version == data.version


def _expect(path, root):
    with pytest.raises(UserError) as caught:
        Biwi(root)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    return message


def test_missing_pose(biwi):
    path = biwi / "BIWI_test.npz"
    np.savez(path, image=_images(2, 0))
    assert "'pose'" in _expect(path, biwi)


def test_wrong_image_shape(biwi):
    path = biwi / "BIWI_train.npz"
    np.savez(path, image=np.zeros((3, 32, 32, 3), np.uint8), pose=TRAIN_POSE)
    assert "(N, 64, 64, 3)" in _expect(path, biwi)


def test_pickled_object_array_refused(biwi, tmp_path):
    path = biwi / "BIWI_train.npz"
    marker = tmp_path / "executed"
    np.savez(path, image=_images(3, 0), pose=TRAIN_POSE,
             extra=np.array([{"a": 1}, str(marker)], dtype=object))
    assert "pickled" in _expect(path, biwi)
    np.savez(path, image=_images(3, 0), pose=np.array(list(TRAIN_POSE), dtype=object))
    assert "pickled" in _expect(path, biwi)
    assert not marker.exists()


@pytest.mark.parametrize("pose, words", [(TRAIN_POSE[:2], "2 pose rows for 3 images"),
                                         (TRAIN_POSE[:, :2], "(N, 3)"),
                                         (np.where(TRAIN_POSE > 50, np.nan, TRAIN_POSE),
                                          "not finite")])
def test_bad_pose(biwi, pose, words):
    path = biwi / "BIWI_train.npz"
    np.savez(path, image=_images(3, 0), pose=pose)
    assert words in _expect(path, biwi)


def test_missing_or_broken_file(biwi):
    (biwi / "BIWI_test.npz").unlink()
    _expect(biwi / "BIWI_test.npz", biwi)
    (biwi / "BIWI_test.npz").write_bytes(b"PK\x03\x04 truncated")
    _expect(biwi / "BIWI_test.npz", biwi)


def test_bench_data_check(biwi, capsys):
    result = invoke(capsys, "data", "check", "biwi", "--root", str(biwi))
    assert result.code == 0 and "BIWI_test.npz" in result.out
