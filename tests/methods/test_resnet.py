"""The shared hand-built torchvision ResNet (methods/layers/resnet.py): parameter counts
(torchvision's published numbers and a count from the layer shapes), output shapes with and
without ``fc``, torchvision's state-dict names, the v1.5 bottleneck layout, initialisation, and
a comparison with torchvision itself where it imports."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from perloc.methods.layers.resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet50

torch.set_num_threads(1)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def r50() -> ResNet:
    torch.manual_seed(0)
    return resnet50(1000)


def bottleneck_resnet_by_hand(depths=(3, 4, 6, 3), classes=None) -> int:
    """Parameters of a v1 bottleneck ResNet from its layer shapes (BN: weight + bias)."""
    total = 7 * 7 * 3 * 64 + 2 * 64  # stem conv + bn
    cin = 64
    for width, depth in zip((64, 128, 256, 512), depths, strict=True):
        out = 4 * width
        for i in range(depth):
            c = cin if i == 0 else out
            total += c * width + width * 9 * width + width * out  # 1x1, 3x3, 1x1
            total += 2 * (width + width + out)
        total += cin * out + 2 * out  # downsample (every stage: 64 -> 256 too)
        cin = out
    return total + (0 if classes is None else 2048 * classes + classes)


def test_parameter_counts_are_torchvisions(r50):
    assert bottleneck_resnet_by_hand(classes=1000) == 25_557_032  # torchvision resnet50
    assert bottleneck_resnet_by_hand() == 23_508_032
    assert n_params(r50) == 25_557_032
    assert n_params(resnet50()) == 23_508_032  # the backbone: no fc
    assert n_params(resnet18(1000)) == 11_689_512  # torchvision resnet18
    assert n_params(resnet18()) == 11_689_512 - 512 * 1000 - 1000


def test_shapes_with_and_without_fc(r50):
    x = torch.randn(2, 3, 64, 64)
    backbone = resnet50()
    assert backbone.fc is None and backbone.out_features == 2048
    assert not any(k.startswith("fc.") for k in backbone.state_dict())
    with torch.no_grad():
        assert backbone.eval()(x).shape == (2, 2048)
        assert resnet50(10).eval()(x).shape == (2, 10)
        small = resnet18(10).eval()
        assert small.out_features == 512 and small(x).shape == (2, 10)
        trunk = resnet18().eval()  # a classifier's state dict without fc loads strictly
        trunk.load_state_dict({k: v for k, v in small.state_dict().items()
                               if not k.startswith("fc.")}, strict=True)
        assert torch.equal(trunk(x), small.features(x))
    assert r50.fc.in_features == 2048 and r50.fc.out_features == 1000


def test_state_dict_names_are_torchvisions(r50):
    keys = list(r50.state_dict())
    for key in ("conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                "bn1.running_var", "bn1.num_batches_tracked", "layer1.0.conv1.weight",
                "layer1.0.bn1.weight", "layer1.0.downsample.0.weight",
                "layer1.0.downsample.1.weight", "layer1.0.downsample.1.running_mean",
                "layer3.5.conv2.weight", "layer4.2.conv3.weight", "layer4.2.bn3.running_var",
                "fc.weight", "fc.bias"):
        assert key in keys
    # 53 convs, 53 BNs (5 entries each), fc weight + bias: torchvision's 320 entries
    assert len(keys) == 53 + 5 * 53 + 2
    assert keys[:2] == ["conv1.weight", "bn1.weight"] and keys[-2:] == ["fc.weight", "fc.bias"]
    assert [k for k in keys if "downsample.0" in k] == [
        f"layer{i}.0.downsample.0.weight" for i in range(1, 5)]
    assert "layer4.3.conv1.weight" not in keys and "layer3.6.conv1.weight" not in keys
    r18 = list(resnet18(10).state_dict())
    assert "layer1.0.downsample.0.weight" not in r18  # basic block: 64 -> 64 keeps the shape
    assert "layer2.0.downsample.1.running_var" in r18 and "layer4.1.bn2.bias" in r18


def test_bottleneck_layout_v15(r50):
    block = r50.layer2[0]
    assert isinstance(block, Bottleneck) and block.expansion == 4
    assert (block.conv1.stride, block.conv2.stride, block.conv3.stride) == ((1, 1), (2, 2),
                                                                              (1, 1))
    assert (block.conv1.in_channels, block.conv2.in_channels, block.conv3.out_channels) == (
        256, 128, 512)
    assert block.downsample[0].stride == (2, 2) and block.downsample[0].kernel_size == (1, 1)
    assert all(r50.get_submodule(f"layer{i}")[1].downsample is None for i in range(1, 5))
    assert r50.conv1.kernel_size == (7, 7) and r50.conv1.stride == (2, 2)
    assert r50.maxpool.kernel_size == 3 and r50.maxpool.stride == 2
    assert isinstance(resnet18().layer1[0], BasicBlock)


def test_initialisation(r50):
    w = r50.layer4[2].conv2.weight  # 512 x 512 x 3 x 3: fan_out 4608
    assert abs(w.std().item() / math.sqrt(2 / (512 * 9)) - 1) < 0.01
    assert all(torch.equal(m.weight, torch.ones_like(m.weight))
               and torch.equal(m.bias, torch.zeros_like(m.bias))
               for m in r50.modules() if isinstance(m, nn.BatchNorm2d))
    assert r50.fc.weight.abs().max() <= 1 / math.sqrt(2048)  # torch's default Linear init
    zeroed = resnet18(norm=lambda c: nn.GroupNorm(2, c), zero_init_residual=True)
    assert all(not b.bn2.weight.any() and b.bn1.weight.all()
               for i in range(1, 5) for b in zeroed.get_submodule(f"layer{i}"))
    assert not any(k.endswith("running_mean") for k in zeroed.state_dict())
    assert n_params(zeroed) == n_params(resnet18())  # GroupNorm: weight + bias as BN


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_classes"):
        resnet18(0)
    with pytest.raises(ValueError, match="stage depths"):
        ResNet(BasicBlock, (2, 2, 2))
    with pytest.raises(ValueError, match="layers"):
        ResNet(BasicBlock, (2, 0, 2, 2))


def test_equals_torchvision_where_it_imports(r50):
    """Same state-dict keys and shapes as ``torchvision.models.resnet50(weights=None)``, and its
    state dict loads strictly; skipped where torchvision does not import (here: its compiled
    ops do not match the project's torch build)."""
    try:
        from torchvision.models import resnet50 as tv_resnet50
    except Exception as error:  # ImportError, or RuntimeError from mismatched compiled ops
        pytest.skip(f"torchvision does not import here: {error!r}")
    theirs = tv_resnet50(weights=None).state_dict()
    ours = r50.state_dict()
    assert {k: v.shape for k, v in theirs.items()} == {k: v.shape for k, v in ours.items()}
    resnet50(1000).load_state_dict(theirs, strict=True)
