"""3DMatch training fragments: 3dmatch-train-sim written in the toolbox layout and read back
(info.txt poses equal the generator's, the overlapping pairs' T maps shared points onto each
other); a hand-written .info.txt parsed to the exact matrix; bad files one UserError naming
the file. Known answers come from the generator's marker or literal text, not the adapter."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial import cKDTree

from perloc.bench.core.errors import UserError
from perloc.datasets.synth.threedmatch_sim import TRAIN_SCENES, write_threedmatch_train_sim
from perloc.datasets.threedmatch_train import ThreeDMatchTrain, read_info_txt
from tests.datasets.test_threedmatch import PLY_A

INFO = "sun3d-x\t0\t50\n0.0\t-1.0\t0.0\t1.5\t\n1.0\t0.0\t0.0\t-2.0\t\n" \
       "0.0\t0.0\t1.0\t0.25\t\n0\t0\t0\t1\t\n"
POSE = [[0, -1, 0, 1.5], [1, 0, 0, -2], [0, 0, 1, 0.25], [0, 0, 0, 1]]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return write_threedmatch_train_sim(tmp_path_factory.mktemp("3dmt") / "sim", "smoke", seed=3)


def test_sim_layout_and_poses(sim):
    scene = sim / TRAIN_SCENES[0]
    assert sorted(p.name for p in scene.iterdir()) == [
        f"cloud_bin_{k}.{ext}" for k in range(3) for ext in ("info.txt", "ply")]
    marker = json.loads((sim / ".perloc-3dmatch-train-sim.json").read_text())
    d = ThreeDMatchTrain(sim)
    assert d.scenes == (TRAIN_SCENES[0],) and d.provenance.kind == "synthetic"
    for k, pose in enumerate(marker["scenes"][TRAIN_SCENES[0]]["poses"]):
        np.testing.assert_allclose(d.pose(TRAIN_SCENES[0], k), pose, atol=1e-7)


def test_overlapping_pairs_map_j_onto_i(sim):
    d = ThreeDMatchTrain(sim)
    pairs = d.overlapping_pairs(TRAIN_SCENES[0])
    assert pairs and all(p.i < p.j for p in pairs)
    for pair in pairs:
        p_i, p_j = d.cloud(TRAIN_SCENES[0], pair.i), d.cloud(TRAIN_SCENES[0], pair.j)
        moved = p_j @ pair.T[:3, :3].T + pair.T[:3, 3]
        assert (cKDTree(p_i).query(moved)[0] < 1e-6).mean() > 0.05  # shared room points


def test_hand_written_info_txt(tmp_path):
    path = tmp_path / "cloud_bin_0.info.txt"
    path.write_text(INFO)
    assert read_info_txt(path).tolist() == POSE


@pytest.mark.parametrize(("text", "message"), [
    (INFO.replace("0.0\t-1.0\t0.0", "0.0\t-2.0\t0.0"), ":2: the rotation is not orthonormal"),
    (INFO.replace("1.0\t0.0\t0.0\t-2.0\t\n", "1.0\t0.0\t-2.0\t\n"), ":3: pose row"),
    (INFO + "1 2 3 4\n", "6 non-empty lines, expected 5"),
])
def test_bad_info_txt_is_one_user_error_naming_it(tmp_path, text, message):
    scene = tmp_path / "kitchen"
    scene.mkdir()
    (scene / "cloud_bin_0.ply").write_text(PLY_A)
    (scene / "cloud_bin_0.info.txt").write_text(text)
    with pytest.raises(UserError, match=message) as caught:
        ThreeDMatchTrain(tmp_path)
    assert str(caught.value).startswith(str(scene / "cloud_bin_0.info.txt"))


def test_fragment_without_pose_is_refused(tmp_path):
    (tmp_path / "kitchen").mkdir()
    (tmp_path / "kitchen" / "cloud_bin_0.ply").write_text(PLY_A)
    with pytest.raises(UserError, match="cloud_bin_0.info.txt: file not found"):
        ThreeDMatchTrain(tmp_path)
