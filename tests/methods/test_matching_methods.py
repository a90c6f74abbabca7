"""3DMatch descriptor methods: the hardest-contrastive loss by hand and its invariance to a
joint reordering of the pairs; the Point-TnT patch descriptor is unit-norm and does not depend
on the order of a patch's points; the shared predict computes each fragment once."""

from __future__ import annotations

import math

import numpy as np
import torch

from perloc.bench.core.batch import Batch
from perloc.methods.points.matching import (
    DescriptorMethod,
    PatchDescriptor,
    hardest_contrastive,
)


def test_hardest_contrastive_by_hand():
    """Two pairs on a line: a = (0, 1), p = (0.3, 1.0) in 1-d.
    positive distances 0.3 and 0: relu(0.3 - 0.1)^2 = 0.04, 0 -> mean 0.02;
    row hardest negatives: |a0 - p1| = 1.0, |a1 - p0| = 0.7 -> relu(1.4 - d)^2 = 0.16, 0.49;
    column hardest: |p0 - a1| = 0.7, |p1 - a0| = 1.0 -> 0.49, 0.16;
    L = 0.02 + 0.5 * (0.325 + 0.325) = 0.345."""
    a = torch.tensor([[0.0], [1.0]])
    p = torch.tensor([[0.3], [1.0]])
    assert math.isclose(float(hardest_contrastive(a, p)), 0.345, rel_tol=1e-6)
    assert float(hardest_contrastive(torch.tensor([[0.0], [5.0]]),
                                     torch.tensor([[0.05], [5.0]]))) == 0.0  # all margins met


def test_hardest_contrastive_ignores_the_order_of_the_pairs():
    gen = torch.Generator().manual_seed(0)
    a, p = torch.randn(16, 8, generator=gen), torch.randn(16, 8, generator=gen)
    order = torch.randperm(16, generator=gen)
    assert torch.allclose(hardest_contrastive(a, p), hardest_contrastive(a[order], p[order]))


def test_patch_descriptor_is_unit_norm_and_point_order_free():
    torch.manual_seed(0)
    net = PatchDescriptor(1, 1, 16, 8, 32, 32, 64).eval()
    x = torch.randn(3, 64, 3) * 0.3
    with torch.no_grad():
        out = net(x)
        shuffled = net(x[:, torch.randperm(64)])
    assert out.shape == (3, 32)
    assert torch.allclose(out.norm(dim=-1), torch.ones(3), atol=1e-6)
    # FPS starts at the point farthest from the centroid: a reordering picks the same anchors
    assert torch.allclose(out, shuffled, atol=1e-5)


class _Counting(DescriptorMethod):
    def __init__(self):
        self.calls = []

    def describe(self, fragment):
        self.calls.append(fragment.key)
        return np.full((2, 3), float(len(self.calls)))


class _Frag:
    def __init__(self, key, scene):
        self.key, self.scene = key, scene


def test_predict_describes_each_fragment_once_per_scene():
    a, b, c = _Frag("a", "s"), _Frag("b", "s"), _Frag("c", "t")
    method = _Counting()
    frags = np.empty(3, dtype=object)
    frags[0], frags[1], frags[2] = (a, b), (b, a), (a, c)
    out = method.predict(Batch({"fragments": frags}, {}))
    assert method.calls == ["a", "b", "c"]
    assert out["pair"][1][0][0, 0] == 2.0 and out["pair"][1][1][0, 0] == 1.0


def test_dip_network_has_the_reference_parameter_count():
    """DIP's network.py at width 1024, counted by hand from its layer list (conv/linear weights
    + biases, BN affine): STN3d 1,536 + 132,608 + 527,360 + 525,824 + 131,840 + 2,313 =
    1,321,481; the feature net 1,536 + 132,608 + 527,360 + 525,824 + 131,840 + 8,224 =
    1,327,392; together 2,648,873."""
    from perloc.methods.points.baselines import DipNet

    assert sum(p.numel() for p in DipNet(1024, 32).parameters()) == 2_648_873


def test_chamfer_by_hand():
    """a = {0, 1}, b = {0, 3} on a line: a->b squared gaps 0, 1 (mean 0.5); b->a 0, 4 (mean 2);
    1/2 (0.5 + 2) = 1.25."""
    from perloc.methods.points.matching import chamfer

    a = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0]]])
    b = torch.tensor([[[0.0, 0, 0], [3.0, 0, 0]]])
    assert math.isclose(float(chamfer(a, b)), 1.25, rel_tol=1e-6)
