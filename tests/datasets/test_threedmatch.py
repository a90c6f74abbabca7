"""3DMatch: 3dmatch-sim written in the benchmark layout and read back; the gt.log round trip
(T maps fragment j into i's frame: T·P_j lands on P_i's shared points); a hand-written scene
in the release layout (fragments in <scene>/, gt.log in <scene>-evaluation/) parsed to the exact
matrix; bad files each one UserError naming the file. Known answers come from the generator's
marker (its poses) or from the literal text written here, never from the adapter."""

from __future__ import annotations

import json

import numpy as np
import plyfile
import pytest
from scipy.spatial import cKDTree

from perloc.bench.core.errors import UserError
from perloc.datasets.synth.threedmatch_sim import write_threedmatch_sim
from perloc.datasets.threedmatch import TEST_SCENES, ThreeDMatch
from tests.bench.cli_helpers import invoke

SCENE = TEST_SCENES[0]
PLY_A = "ply\nformat ascii 1.0\ncomment hand-written\nelement vertex 3\nproperty float x\n" \
        "property float y\nproperty float z\nend_header\n0 0 0\n1 0 0\n0.5 2 -1.25\n"
# 90 degrees about z, then a shift: the tabs and trailing tabs of the real files
GT_LOG = "0\t1\t2\n 0.0\t-1.0\t0.0\t1.5\t\n1.0\t0.0\t0.0\t-2.0\t\n" \
         "0.0\t0.0\t1.0\t0.25\t\n0\t0\t0\t1\t\n"
T_HAND = [[0, -1, 0, 1.5], [1, 0, 0, -2], [0, 0, 1, 0.25], [0, 0, 0, 1]]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return write_threedmatch_sim(tmp_path_factory.mktemp("3dm") / "sim", "smoke", seed=2)


def _marker(root):
    return json.loads((root / ".perloc-3dmatch-sim.json").read_text())


def _release(tmp_path, gt_log=GT_LOG, ply_b=PLY_A):
    """A scene in the benchmark release layout: fragments in <scene>/, gt.log beside it."""
    scene = tmp_path / "kitchen"
    scene.mkdir()
    (scene / "cloud_bin_0.ply").write_text(PLY_A)
    (scene / "cloud_bin_1.ply").write_text(ply_b)
    (tmp_path / "kitchen-evaluation").mkdir()
    (tmp_path / "kitchen-evaluation" / "gt.log").write_text(gt_log)
    return scene


def test_sim_has_the_benchmark_layout(sim):
    data = sim / SCENE / "01_Data"
    assert sorted(p.name for p in data.iterdir()) == [
        "cloud_bin_0.ply", "cloud_bin_1.ply", "cloud_bin_2.ply", "gt.log"]
    ply = plyfile.PlyData.read(str(data / "cloud_bin_1.ply"))
    assert not ply.text and ply.byte_order == "<"
    assert [(p.name, p.val_dtype) for p in ply["vertex"].properties] == [
        ("x", "f4"), ("y", "f4"), ("z", "f4")]
    assert ply["vertex"].count == 3000
    header = (data / "gt.log").read_text().splitlines()[0].split("\t")
    assert header[2] == "3" and int(header[0]) < int(header[1])


def test_sim_is_read_back(sim):
    d = ThreeDMatch(sim)
    assert d.scenes == (SCENE,) and d.fragments(SCENE) == [0, 1, 2]
    cloud = d.cloud(SCENE, 2)
    assert cloud.dtype == np.float64 and cloud.shape == (3000, 3)
    raw = plyfile.PlyData.read(str(sim / SCENE / "01_Data" / "cloud_bin_2.ply"))["vertex"]
    np.testing.assert_array_equal(cloud[:, 1], raw["y"])
    info = d.describe()
    assert info["n_fragments"] == {SCENE: 3} and info["n_points"] == {SCENE: [3000, 3000]}
    assert d.provenance.kind == "synthetic"
    # every pair of >= 30 % overlap (marker) and only those are in gt.log
    overlaps = _marker(sim)["scenes"][SCENE]["overlaps"]
    assert sorted(f"{p.i},{p.j}" for p in d.pairs(SCENE)) == sorted(overlaps)
    assert all(0.3 <= v <= 0.7 for v in overlaps.values()) and "0,1" in overlaps


def test_gt_log_round_trip_t_maps_j_into_i(sim):
    """The generator samples shared points identically (no noise), so T·P_j hits points of
    P_i up to float32 rounding of the PLY coordinates (< 1e-6 m for |x| < 8 m)."""
    d = ThreeDMatch(sim)
    poses = [np.array(p) for p in _marker(sim)["scenes"][SCENE]["poses"]]
    for pair in d.pairs(SCENE):
        np.testing.assert_allclose(pair.T, np.linalg.inv(poses[pair.i]) @ poses[pair.j],
                                   atol=1e-7)
        p_i, p_j = d.cloud(SCENE, pair.i), d.cloud(SCENE, pair.j)
        hits = cKDTree(p_i).query(p_j @ pair.T[:3, :3].T + pair.T[:3, 3])[0] < 1e-6
        assert hits.mean() > 0.05, (pair.i, pair.j, hits.mean())
        wrong = cKDTree(p_j).query(p_j @ pair.T[:3, :3].T + pair.T[:3, 3])[0] < 1e-6
        assert wrong.mean() < 0.01  # T does not map into j's own frame


def test_ascii_sim_is_read_back(tmp_path):
    root = write_threedmatch_sim(tmp_path / "ascii", "smoke", seed=2, ply="ascii")
    assert (root / SCENE / "01_Data" / "cloud_bin_0.ply").read_bytes().startswith(
        b"ply\nformat ascii 1.0\n")
    assert ThreeDMatch(root).cloud(SCENE, 0).shape == (3000, 3)


def test_hand_written_release_layout_parses_to_the_exact_matrix(tmp_path):
    _release(tmp_path)
    d = ThreeDMatch(tmp_path)
    assert d.scenes == ("kitchen",) and d.fragments("kitchen") == [0, 1]
    (pair,) = d.pairs("kitchen")
    assert (pair.i, pair.j) == (0, 1) and pair.T.dtype == np.float64
    assert pair.T.tolist() == T_HAND
    assert d.cloud("kitchen", 1).tolist() == [[0, 0, 0], [1, 0, 0], [0.5, 2, -1.25]]
    assert d.provenance.kind == "real"
    # the same scene with gt.log inside <scene>/ (and fragments in 01_Data/) reads the same
    other = tmp_path / "b"
    (other / "kitchen" / "01_Data").mkdir(parents=True)
    for k in (0, 1):
        (other / "kitchen" / "01_Data" / f"cloud_bin_{k}.ply").write_text(PLY_A)
    (other / "kitchen" / "gt.log").write_text(GT_LOG)
    assert ThreeDMatch(other).pairs("kitchen")[0].T.tolist() == T_HAND


BAD_LOGS = [
    (GT_LOG.replace(" 0.0\t-1.0", "0.0\t-2.0"), r"not orthonormal"),
    (GT_LOG.replace("0.0\t0.0\t1.0\t0.25", "0.0\t0.0\t-1.0\t0.25"), r"det R = -1"),
    (GT_LOG.replace("0\t0\t0\t1\t\n", "0\t0\t0.5\t1\t\n"), "last matrix row"),
    (GT_LOG.replace("0\t1\t2", "0\t5\t2"), "pair 0 5 names fragment 5, no cloud_bin_5.ply"),
    (GT_LOG.replace("0\t1\t2", "0\t1\t3"), "n_fragments 3, but 2 fragments"),
    (GT_LOG.replace("1.0\t0.0\t0.0\t-2.0\t\n", "1.0\t0.0\t0.0\t\n"), ":3: matrix row .* is not "
                                                                     "four numbers"),
    (GT_LOG.replace("0\t1\t2\n", "0\t1\n"), ":1: header .* is not 'i j n_fragments'"),
    (GT_LOG + "0\t1\t2\n", "6 non-empty lines, expected blocks of 5"),
]


@pytest.mark.parametrize(("text", "message"), BAD_LOGS)
def test_bad_gt_log_is_one_user_error_naming_it(tmp_path, text, message):
    _release(tmp_path, gt_log=text)
    path = tmp_path / "kitchen-evaluation" / "gt.log"
    with pytest.raises(UserError, match=message) as caught:
        ThreeDMatch(tmp_path)
    assert str(caught.value).startswith(f"{path}") and "\n" not in str(caught.value)


BAD_PLYS = [
    (PLY_A.replace("property float z\n", ""), "no scalar 'z' property"),
    ("PLY\n" + PLY_A[4:], "not a PLY file"),
    (PLY_A.replace("end_header\n", ""), "no 'end_header' line"),
    (PLY_A.replace("format ascii 1.0", "format text 1.0"), "no valid 'format' line"),
    (PLY_A.replace("element vertex 3", "element face 3"), "no 'vertex' element"),
    (PLY_A.replace("0.5 2 -1.25", "0.5 2"), "corrupt PLY"),
    (PLY_A.replace("1 0 0", "1 zero 0"), "corrupt PLY"),
]


@pytest.mark.parametrize(("text", "message"), BAD_PLYS)
def test_bad_ply_is_one_user_error_naming_it(tmp_path, text, message):
    scene = _release(tmp_path, ply_b=text)
    with pytest.raises(UserError, match=message) as caught:
        d = ThreeDMatch(tmp_path)
        d.cloud("kitchen", 1)  # data errors show when the cloud is read
    assert str(caught.value).startswith(f"{scene / 'cloud_bin_1.ply'}: ")


def test_truncated_binary_ply_is_caught_on_construction(sim, tmp_path):
    scene = _release(tmp_path)
    blob = (sim / SCENE / "01_Data" / "cloud_bin_0.ply").read_bytes()
    (scene / "cloud_bin_1.ply").write_bytes(blob[:-100])
    with pytest.raises(UserError, match="truncated PLY, 35900 data bytes for the 36000"):
        ThreeDMatch(tmp_path)


def test_missing_gt_log_and_empty_root(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no scene folder"):
        ThreeDMatch(tmp_path / "empty")
    _release(tmp_path)
    (tmp_path / "kitchen-evaluation" / "gt.log").unlink()
    with pytest.raises(UserError, match=f"{tmp_path / 'kitchen' / '01_Data' / 'gt.log'}: "
                                        "file not found"):
        ThreeDMatch(tmp_path)


def test_synth_and_check_cli(sim, capsys):
    stamps = {p: p.stat().st_mtime_ns for p in sim.rglob("*")}
    result = invoke(capsys, "data", "synth", "3dmatch-sim", "--out", str(sim), "--size", "smoke",
                    "--seed", "2")
    assert result.code == 0 and result.out == f"{sim}\n", result
    assert {p: p.stat().st_mtime_ns for p in sim.rglob("*")} == stamps
    result = invoke(capsys, "data", "check", "3dmatch", "--root", str(sim))
    assert result.code == 0 and SCENE in result.out, result
