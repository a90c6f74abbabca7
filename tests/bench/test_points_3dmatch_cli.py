"""``bench run points-3dmatch`` end to end on the smoke stand-ins, and bad 3DMatch input through
``--data-root``: a PLY with a wrong header, a gt.log with a non-rigid matrix or a fragment that
does not exist, a training pose that is not rigid, a scene outside the benchmark: one error
line naming the file, exit 2, nothing written."""

from __future__ import annotations

import json

import pytest
from cli_helpers import invoke, refused

from perloc.bench.run import cells
from tests.datasets.test_threedmatch import GT_LOG, PLY_A
from tests.datasets.test_threedmatch_train import INFO

SCENE = "7-scenes-redkitchen"


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch):
    monkeypatch.setattr(cells, "_DATASETS", {})


def test_smoke_run_scores_both_methods(capsys, workspace):
    result = invoke(capsys, "run", "points-3dmatch", "--profile", "smoke", "--json")
    assert result.code == 0, result.err
    records = {r["method"]: r for r in json.loads(result.out)}
    assert set(records) == {"fpfh", "dip", "point-tnt-dip"}
    for record in records.values():
        assert set(record["scores"]) >= {"fmr", "fmr_std", "inlier_ratio"}
        assert record["n_examples"] >= 2
    # FPFH matches far above chance on the stand-in: random 33-d descriptors over these 300
    # keypoints leave 0.1-0.3 % of mutual matches within 10 cm on average (at most 1.4 % in 20
    # draws per pair, measured)
    assert records["fpfh"]["scores"]["inlier_ratio"]["value"] > 3.0


def _tree(tmp_path, ply=PLY_A, gt_log=GT_LOG, info=INFO, scene=SCENE):
    data = tmp_path / "3DMatch_test" / scene / "01_Data"
    data.mkdir(parents=True)
    (data / "cloud_bin_0.ply").write_text(PLY_A)
    (data / "cloud_bin_1.ply").write_text(ply)
    (data / "gt.log").write_text(gt_log)
    train = tmp_path / "3DMatch_train" / "7-scenes-chess"
    train.mkdir(parents=True)
    (train / "cloud_bin_0.ply").write_text(PLY_A)
    (train / "cloud_bin_0.info.txt").write_text(info)
    return data


@pytest.mark.parametrize(("change", "file", "needle"), [
    ({"ply": PLY_A.replace("property float z\n", "")}, "cloud_bin_1.ply", "'z'"),
    ({"gt_log": GT_LOG.replace(" 0.0\t-1.0", "0.0\t-2.0")}, "gt.log", "orthonormal"),
    ({"gt_log": GT_LOG.replace("0\t1\t2", "0\t7\t2")}, "gt.log", "fragment 7"),
    ({"scene": "my-office"}, "my-office", "benchmark"),
])
def test_bad_test_scenes_are_refused(capsys, workspace, tmp_path, change, file, needle):
    _tree(tmp_path, **change)
    result = refused(capsys, workspace, "run", "points-3dmatch", "--profile", "paper", "-m",
                     "fpfh", "--data-root", str(tmp_path))
    assert file in result.err and needle in result.err


def test_a_non_rigid_training_pose_is_refused(capsys, workspace, tmp_path):
    _tree(tmp_path, info=INFO.replace("0.0\t0.0\t1.0\t0.25", "0.0\t0.0\t-1.0\t0.25"))
    result = refused(capsys, workspace, "run", "points-3dmatch", "--profile", "paper", "-m",
                     "point-tnt-dip", "--data-root", str(tmp_path))
    assert "cloud_bin_0.info.txt" in result.err and "det R" in result.err
