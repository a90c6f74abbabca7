"""KWT: the paper's parameter counts, shapes, PostNorm blocks and the distillation heads."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from perloc.methods.kws.kwt_model import KWT, KWT_SIZES


@pytest.mark.parametrize(("name", "count"), [("kwt-1", 607_308), ("kwt-2", 2_394_252),
                                             ("kwt-3", 5_360_844)])
def test_parameter_counts_at_the_paper_configs(name, count):
    assert KWT(KWT_SIZES[name]).parameter_count() == count


def test_35_class_counts():
    counts = [KWT(dataclasses.replace(p, n_classes=35)).parameter_count()
              for p in KWT_SIZES.values()]
    assert counts == [608_803, 2_397_219, 5_365_283]


def test_logits_shape_and_distillation_heads():
    torch.manual_seed(0)
    x = torch.randn(4, 98, 40)
    assert KWT(KWT_SIZES["kwt-1"]).eval()(x).shape == (4, 12)
    model = KWT(dataclasses.replace(KWT_SIZES["kwt-1"], distill=True))
    cls, dist = model.train()(x)
    assert cls.shape == dist.shape == (4, 12)
    model.eval()
    with torch.no_grad():
        cls, dist = model.train()(x)
        averaged = model.eval()(x)
    assert torch.allclose(averaged, (cls + dist) / 2, atol=1e-6)


def test_init_is_truncated_at_two_std():
    model = KWT(KWT_SIZES["kwt-1"])
    assert model.pos.abs().max() <= 0.04 + 1e-7
    assert model.blocks[0].qkv.weight.abs().max() <= 0.04 + 1e-7
    assert model.blocks[0].qkv.bias is None and model.blocks[0].proj.bias is not None


def test_bad_sizes_are_rejected():
    from perloc.methods.kws.kwt_model import KwtParams

    with pytest.raises(ValueError, match="dim must be an int >= 1"):
        KwtParams(dim=0)
    with pytest.raises(ValueError, match="not divisible by heads"):
        KwtParams(dim=64, heads=3)
