"""Point-TnT, its Baseline, PointNet and DGCNN (spec dold_pointtnt.md §4, §9.3): exact parameter
counts of the paper configs (spec §4.3 table) and of the baselines (by hand from the layer
shapes), shapes, permutation invariance, attention equivariance, the ablation's ``2x``, the
analytic MACs and a tiny training smoke."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from perloc.methods.points.baselines import DGCNN, PointNet, orthogonality_loss
from perloc.methods.points.macs import baseline_macs, point_tnt_macs
from perloc.methods.points.point_tnt import (
    Attention,
    Baseline,
    PointTnT,
    PointTnTConfig,
    TransformerLayer,
    baseline,
    point_tnt,
)

torch.set_num_threads(1)

TINY = PointTnTConfig(anchors=16, k=8, point_dim=8, patch_dim=16, heads=2, dim_head=8, depth=2,
                      emb_dims=32, n_classes=5)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def distinct_clouds(b=2, n=128, seed=0) -> torch.Tensor:
    return torch.rand(b, n, 3, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(("size", "classes", "spec"), [
    (1, 15, 1_733_007), (2, 15, 2_637_711), (3, 15, 3_935_631), (3, 40, 3_942_056)])
def test_point_tnt_parameter_counts_match_the_spec_table(size, classes, spec):
    assert n_params(point_tnt(size, classes)) == spec


def test_baseline_parameter_count_matches_the_spec_table():
    assert n_params(baseline()) == 3_752_719


def test_disabling_local_attention_drops_its_norm_and_projections():
    # per block LN(32) 64 + qkv 32 x 576 = 18,432 + out 192 x 32 + 32 = 6,176 -> 24,672; x 4
    off = point_tnt(3, local_attention=False)
    assert n_params(off) == 3_935_631 - 4 * 24_672


def test_pointnet_and_dgcnn_parameter_counts_by_hand():
    def conv(cin, cout, bias=True, bn=True):
        return cin * cout + (cout if bias else 0) + (2 * cout if bn else 0)

    def tnet(k):
        return (conv(k, 64) + conv(64, 128) + conv(128, 1024) + conv(1024, 512) + conv(512, 256)
                + conv(256, k * k, bn=False))

    head = conv(1024, 512) + conv(512, 256) + conv(256, 40, bn=False)
    pointnet = (tnet(3) + tnet(64) + conv(3, 64) + conv(64, 64) + conv(64, 64) + conv(64, 128)
                + conv(128, 1024) + head)
    assert (tnet(3), tnet(64), pointnet) == (803_081, 1_857_344, 3_480_049)
    assert n_params(PointNet(40)) == 3_480_049
    edge = conv(6, 64, False) + conv(128, 64, False) + conv(128, 128, False) + conv(256, 256, False)
    dgcnn = (edge + conv(512, 1024, False) + conv(2048, 512, False) + conv(512, 256)
             + conv(256, 40, bn=False))
    assert dgcnn == 1_809_576
    assert n_params(DGCNN(40)) == 1_809_576


# ----------------------------------------------------------------------------- shapes


def test_output_shapes_and_features():
    x = distinct_clouds(3, 64)
    for model in (PointTnT(TINY), Baseline(TINY)):
        model.eval()
        assert model(x).shape == (3, 5)
        assert model.features(x).shape == (3, 2 * TINY.emb_dims)


def test_pointnet_and_dgcnn_shapes_and_identity_transform():
    x = distinct_clouds(2, 64)
    net = PointNet(7).eval()
    logits, a = net.forward_with_transform(x)
    assert logits.shape == (2, 7)
    assert torch.allclose(a, torch.eye(64).expand(2, -1, -1))    # zero-initialised T-Net
    assert orthogonality_loss(a).item() == pytest.approx(0.0, abs=1e-9)
    assert DGCNN(7, k=8).eval()(x).shape == (2, 7)


def test_too_few_points_is_an_error():
    with pytest.raises(ValueError, match="at least 16 points"):
        PointTnT(TINY)(distinct_clouds(1, 12))


# ----------------------------------------------------------------------------- symmetry


def test_logits_are_invariant_to_the_point_order():
    torch.manual_seed(0)
    model = PointTnT(dataclasses.replace(TINY, dilation=2)).eval()
    x = distinct_clouds(2, 128)
    perm = torch.randperm(128, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        a, b = model(x), model(x[:, perm])
    assert torch.allclose(a, b, atol=1e-5, rtol=0)


def test_self_attention_is_permutation_equivariant():
    torch.manual_seed(0)
    attn = Attention(dim=16, heads=2, dim_head=8)
    layer = TransformerLayer(16, 2, 8)
    x = torch.randn(2, 10, 16)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(attn(x[:, perm]), attn(x)[:, perm], atol=1e-6)
        assert torch.allclose(layer(x[:, perm]), layer(x)[:, perm], atol=1e-6)


def test_attention_is_scaled_dot_product_per_head():
    torch.manual_seed(0)
    attn = Attention(dim=6, heads=2, dim_head=4)
    x = torch.randn(1, 5, 6)
    w = attn.qkv.weight                                     # [3 * 2 * 4, 6], rows q | k | v
    heads = []
    for h in range(2):
        q, k, v = (x[0] @ w[(j * 2 + h) * 4:(j * 2 + h + 1) * 4].T for j in range(3))
        heads.append(torch.softmax(q @ k.T / math.sqrt(4), dim=-1) @ v)
    expected = torch.cat(heads, dim=-1) @ attn.out.weight.T + attn.out.bias
    with torch.no_grad():
        assert torch.allclose(attn(x)[0], expected, atol=1e-6)


# ----------------------------------------------------------------------------- ablation


def test_disabled_attention_sublayer_gives_twice_its_input():
    x = torch.randn(4, 8, 16)
    off = TransformerLayer(16, 2, 8, attention=False)
    assert torch.equal(off.attention_sublayer(x), 2 * x)
    skip = TransformerLayer(16, 2, 8, attention=False, ablation="skip")
    assert torch.equal(skip.attention_sublayer(x), x)
    on = TransformerLayer(16, 2, 8)
    assert not torch.allclose(on.attention_sublayer(x), 2 * x)


def test_ablation_switches_reach_the_blocks():
    model = PointTnT(dataclasses.replace(TINY, local_attention=False))
    block = model.blocks[0]
    x = torch.randn(3, TINY.k, TINY.point_dim)
    assert torch.equal(block.local.attention_sublayer(x), 2 * x)
    assert isinstance(block.glob.attn, torch.nn.Sequential)
    base = Baseline(dataclasses.replace(TINY, global_attention=False))
    assert isinstance(base.blocks[0].attn, torch.nn.Identity)


# ----------------------------------------------------------------------------- MACs


def test_macs_match_the_spec_and_the_hand_count():
    # hand count (macs.py docstring formulas): TnT-3 1,179,737,856; Baseline 4,229,631,744
    tnt, base = point_tnt_macs(PointTnTConfig(), 1024), baseline_macs(PointTnTConfig(), 1024)
    assert abs(tnt / 1.18e9 - 1) < 0.05 and abs(base / 4.23e9 - 1) < 0.05
    assert (tnt, base) == (1_179_737_856, 4_229_631_744)


# ----------------------------------------------------------------------------- training


def shapes(n_per_class: int, points: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Points on a unit sphere (class 0) or a unit cube's surface (class 1)."""
    g = torch.Generator().manual_seed(seed)
    sphere = torch.randn(n_per_class, points, 3, generator=g)
    sphere = sphere / sphere.norm(dim=-1, keepdim=True)
    cube = torch.rand(n_per_class, points, 3, generator=g) * 2 - 1
    face = torch.randint(3, (n_per_class, points), generator=g)
    sign = torch.randint(2, (n_per_class, points), generator=g).float() * 2 - 1
    cube.scatter_(-1, face[..., None], sign[..., None])
    x = torch.cat([sphere, cube])
    y = torch.cat([torch.zeros(n_per_class), torch.ones(n_per_class)]).long()
    return x, y


def test_training_smoke_loss_decreases():
    torch.manual_seed(0)
    config = dataclasses.replace(TINY, n_classes=2, depth=1, dropout=0.0, fps_start="random")
    model = PointTnT(config)
    x, y = shapes(8, 64, seed=0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3
