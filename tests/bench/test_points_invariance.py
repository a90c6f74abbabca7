"""``bench invariance`` on point clouds: a claimed permutation invariance passes for
Point-TnT through the CLI, and the check fails a method whose output depends on point order;
on 3DMatch the descriptors survive a reordered raw cloud, and a drifting describer fails."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
from cli_helpers import invoke

from perloc.bench.core.batch import Batch
from perloc.bench.tasks.points_invariance import point_checks, rotate_z


class _Clouds:
    def __init__(self, points: np.ndarray) -> None:
        self.points = points

    def batches(self, split, size):
        yield Batch({"points": self.points[:size], "label": np.zeros(len(self.points[:size]))})


def _method(logits, claims=frozenset({"perm_invariant"})):
    return SimpleNamespace(logits=lambda p: torch.as_tensor(logits(np.asarray(p))),
                           card=SimpleNamespace(capabilities=claims))


def test_an_order_dependent_method_fails_the_claimed_permutation_check():
    points = np.random.default_rng(0).normal(size=(4, 32, 3)).astype(np.float32)
    first_point = _method(lambda p: p[:, 0, :])  # depends on which point comes first
    checks = point_checks(first_point, _Clouds(points), 4, 2, seed=0)
    assert checks[0].verdict == "FAIL"
    pooled = _method(lambda p: p.max(axis=1))  # a max over points: invariant
    assert point_checks(pooled, _Clouds(points), 4, 2, seed=0)[0].verdict == "pass"


def test_rotation_about_z_keeps_heights_and_norms():
    points = np.array([[[1.0, 0.0, 0.5], [0.0, 2.0, -1.0]]], dtype=np.float32)
    turned = rotate_z(points, 90)
    np.testing.assert_allclose(turned, [[[0.0, 1.0, 0.5], [-2.0, 0.0, -1.0]]], atol=1e-6)


def test_cli_point_tnt_is_permutation_invariant(capsys):
    result = invoke(capsys, "invariance", "point-tnt", "--frames", "4", "--trials", "2")
    assert result.code == 0, result.err
    assert "permute 256 points" in result.out and "pass" in result.out
    assert "rotate 90 degrees" in result.out and "reported" in result.out


def test_matching_checks_judge_the_raw_point_order_and_report_rigid_motion(capsys):
    """Through the CLI: FPFH and the Point-TnT descriptor survive a reordered raw cloud; the
    rigid motion is reported."""
    for method in ("fpfh", "point-tnt-dip"):
        result = invoke(capsys, "invariance", method, "--task", "points-3dmatch", "--trials",
                        "2")
        assert result.code == 0, result.err
        assert "permute the 3000 raw points" in result.out and "pass" in result.out
        assert "rotate and shift" in result.out and "reported" in result.out


def test_an_order_dependent_describer_fails_the_matching_check(tmp_path):
    from perloc.bench.tasks.points_invariance import matching_checks
    from perloc.datasets.matching_data import MatchingTest
    from perloc.datasets.synth.threedmatch_sim import write_threedmatch_sim
    from perloc.datasets.threedmatch import ThreeDMatch

    dataset = MatchingTest(ThreeDMatch(write_threedmatch_sim(tmp_path / "d", "smoke")),
                           keypoints=50)
    # the first 50 voxel points: reordering the raw cloud keeps the voxel order, so it passes
    keeps = SimpleNamespace(describe=lambda f: f.cloud[:50],
                            card=SimpleNamespace(capabilities={"perm_invariant"}))
    assert matching_checks(keeps, dataset, 1, 2, 0)[0].verdict == "pass"
    # a describer whose output changes from call to call fails it
    rng = np.random.default_rng(0)
    drifting = SimpleNamespace(describe=lambda f: f.cloud[:50] + rng.normal(0, 1e-3, (50, 3)),
                               card=SimpleNamespace(capabilities={"perm_invariant"}))
    assert matching_checks(drifting, dataset, 1, 2, 0)[0].verdict == "FAIL"
