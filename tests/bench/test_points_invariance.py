"""``bench invariance`` on point clouds: a claimed permutation invariance passes for
Point-TnT through the CLI, and the check fails a method whose output depends on point order."""

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
