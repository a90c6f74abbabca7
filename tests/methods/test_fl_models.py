"""Federated client models (spec kws_fl.md §5.7): parameter counts derived by hand from the
layer shapes, the architectures' structure, the raw-audio wrappers, the FL_MODELS registry and
their behaviour under the FP8 QAT wrapper (§5.2: which tensors are FP8, the FP32 share)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from perloc.datasets.features.mfcc import Mfcc
from perloc.methods.fl.models import (
    FL_MODELS,
    FlModel,
    MatchboxNet,
    kwt1,
    lenet,
    matchboxnet,
    matchboxnet_audio,
    matchboxnet_mfcc,
    precision_split,
    resnet18_gn,
)
from perloc.methods.kws.classifier import AudioClassifier
from perloc.methods.kws.kwt_model import KWT, KWT_SIZES
from perloc.methods.layers.fp8 import FP8QATLayer, fp8_qat, fp8_weight_alphas, qat_ranges
from perloc.methods.layers.fp8_payload import QuantizedTensor, quantize_state_dict

torch.set_num_threads(1)
NORMS = (nn.GroupNorm, nn.LayerNorm, nn.modules.batchnorm._BatchNorm)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(cin, cout, k, bias=True, groups=1):
    return cin // groups * cout * k + (cout if bias else 0)


def linear(cin, cout, bias=True):
    return cin * cout + (cout if bias else 0)


# ----------------------------------------------------------------------------- LeNet


@pytest.mark.parametrize(("classes", "spec"), [(10, 797_962), (100, 815_332)])
def test_lenet_parameter_count_from_the_layer_shapes(classes, spec):
    # conv5x5 3->64, conv5x5 64->64, FC 64*5*5 -> 384 -> 192 -> classes, all with biases
    by_hand = (conv(3, 64, 25) + conv(64, 64, 25) + linear(1600, 384) + linear(384, 192)
               + linear(192, classes))
    assert by_hand == spec
    assert n_params(lenet(classes)) == spec


def test_lenet_shapes():
    model = lenet(10)
    assert [m.kernel_size for m in (model.conv1, model.conv2)] == [(5, 5), (5, 5)]
    assert model.fc1.in_features == 1600  # 32 -conv5-> 28 -pool-> 14 -conv5-> 10 -pool-> 5
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


# ----------------------------------------------------------------------------- ResNet18-GN


def test_resnet18_gn_parameter_count():
    widths = (64, 128, 256, 512)
    convs = 7 * 7 * 3 * 64  # stem
    cin = 64
    for w in widths:  # two basic blocks of two 3x3 convs; a 1x1 downsample where shapes change
        convs += 9 * cin * w + 3 * 9 * w * w + (cin * w if cin != w else 0)
        cin = w
    norm_channels = 64 + sum(4 * w for w in widths) + sum(widths[1:])  # stem, blocks, downsample
    by_hand = convs + 2 * norm_channels + linear(512, 10)
    assert by_hand == 11_181_642
    model = resnet18_gn(10)
    assert n_params(model) == 11_181_642
    assert abs(n_params(model) / 11.18e6 - 1) < 0.005  # spec: about 11.18M
    assert n_params(resnet18_gn(100)) == 11_181_642 + 90 * 513


def test_resnet18_gn_has_group_norm_everywhere_and_the_imagenet_stem():
    model = resnet18_gn(10)
    norms = [(name, m) for name, m in model.named_modules() if isinstance(m, NORMS)]
    assert len(norms) == 1 + 16 + 3  # stem, 2 per block, 3 downsample branches
    assert all(isinstance(m, nn.GroupNorm) and m.num_groups == 2 for _, m in norms)
    downsample = [name for name, _ in norms if name.endswith("downsample.1")]
    assert downsample == ["layer2.0.downsample.1", "layer3.0.downsample.1",
                          "layer4.0.downsample.1"]
    assert model.conv1.kernel_size == (7, 7) and model.conv1.stride == (2, 2)
    assert isinstance(model.maxpool, nn.MaxPool2d)
    seen = {}

    def record(module, inputs, output):
        seen["in"] = inputs[0].shape

    model.avgpool.register_forward_hook(record)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert seen["in"] == (2, 512, 1, 1)  # 32 -> 16 (conv1) -> 8 (maxpool) -> 8, 4, 2, 1


def test_resnet18_gn_equals_torchvision_resnet18_with_group_norm():
    """Same keys, shapes, init (same seed -> same tensors) and function as
    ``torchvision.models.resnet18(norm_layer=GroupNorm(2, C), num_classes=10)``; torchvision's
    compiled ops do not load beside the project's torch build, so this runs only where it
    imports (checked by hand with torchvision 0.28: equal)."""
    try:
        from torchvision.models import resnet18
    except Exception as error:  # ImportError, or RuntimeError from mismatched compiled ops
        pytest.skip(f"torchvision does not import here: {error!r}")

    def tv_model():
        return resnet18(weights=None, norm_layer=lambda c: nn.GroupNorm(2, c), num_classes=10)

    torch.manual_seed(0)
    theirs = tv_model()
    torch.manual_seed(0)
    ours = resnet18_gn(10)
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(theirs.eval()(x), ours.eval()(x))


# ----------------------------------------------------------------------------- MatchboxNet


def matchboxnet_by_hand(classes: int, n_mfcc: int) -> int:
    bn = 2  # per channel: weight and bias (running stats are buffers)

    def separable(cin, cout, k):
        return cin * k + cin * cout + bn * cout  # depthwise, pointwise, BN

    prologue = separable(n_mfcc, 128, 11)
    blocks, cin = 0, 128
    for k in (13, 15, 17):
        blocks += separable(cin, 64, k) + cin * 64 + bn * 64  # + residual 1x1 and its BN
        cin = 64
    epilogue = separable(64, 128, 29) + 128 * 128 + bn * 128
    return prologue + blocks + epilogue + linear(128, classes)


def test_matchboxnet_parameter_counts():
    assert matchboxnet_by_hand(35, 64) == 77_859  # the paper's "77K" for 3x1x64 (64 MFCCs)
    assert matchboxnet_by_hand(35, 40) == 74_523
    assert n_params(matchboxnet(35, n_mfcc=64)) == 77_859
    assert n_params(matchboxnet(35)) == 74_523
    assert n_params(matchboxnet(12)) == matchboxnet_by_hand(12, 40)


def test_matchboxnet_layers():
    model = matchboxnet(35)
    convs = [(m.in_channels, m.out_channels, m.kernel_size[0], m.dilation[0], m.groups)
             for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert convs == [
        (40, 40, 11, 1, 40), (40, 128, 1, 1, 1),  # prologue: depthwise, pointwise
        (128, 128, 13, 1, 128), (128, 64, 1, 1, 1), (128, 64, 1, 1, 1),  # block 1 + residual
        (64, 64, 15, 1, 64), (64, 64, 1, 1, 1), (64, 64, 1, 1, 1),
        (64, 64, 17, 1, 64), (64, 64, 1, 1, 1), (64, 64, 1, 1, 1),
        (64, 64, 29, 2, 64), (64, 128, 1, 1, 1),  # epilogue: k=29 dilation 2
        (128, 128, 1, 1, 1)]
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv1d))
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    assert len(bns) == 9 and all(m.eps == 1e-3 and m.momentum == 0.1 for m in bns)


def test_matchboxnet_shapes_and_layouts():
    torch.manual_seed(0)
    model = matchboxnet(35).eval()
    x = torch.randn(2, 40, 98)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (2, 35)
        assert model(torch.randn(2, 40, 50)).shape == (2, 35)  # any length (average over time)
        frames = MatchboxNet(35, frames_first=True).eval()
        frames.load_state_dict(model.state_dict())
        assert torch.allclose(frames(x.transpose(1, 2)), out, atol=1e-6)


# ----------------------------------------------------------------------------- audio models


def test_audio_models_reuse_the_kws_front_end_and_kwt():
    kwt = kwt1(35)
    assert isinstance(kwt, AudioClassifier) and isinstance(kwt.front, Mfcc)
    assert isinstance(kwt.classifier, KWT)
    assert kwt.classifier.params == dataclasses.replace(KWT_SIZES["kwt-1"], n_classes=35)
    assert n_params(kwt) == 608_803  # spec §3.1, 35 classes
    mbx = matchboxnet_audio(35)
    assert isinstance(mbx, AudioClassifier) and isinstance(mbx.front, Mfcc)
    assert isinstance(mbx.classifier, MatchboxNet) and mbx.classifier.frames_first
    assert n_params(mbx) == 74_523
    audio = 0.1 * torch.randn(2, 16_000, generator=torch.Generator().manual_seed(0))
    for model in (kwt, mbx):
        assert model.eval()(audio).shape == (2, 35)


# ----------------------------------------------------------------------------- registry


def test_registry():
    assert list(FL_MODELS) == ["lenet", "resnet18-gn", "kwt-1", "matchboxnet"]
    assert {k: (m.modality, m.input_shape) for k, m in FL_MODELS.items()} == {
        "lenet": ("image", (3, 32, 32)), "resnet18-gn": ("image", (3, 32, 32)),
        "kwt-1": ("audio", (98, 40)), "matchboxnet": ("audio", (98, 40))}
    assert FL_MODELS["lenet"].build is lenet and FL_MODELS["matchboxnet"].build is matchboxnet_mfcc
    with pytest.raises(dataclasses.FrozenInstanceError):
        FL_MODELS["lenet"].name = "x"
    with pytest.raises(ValueError, match="modality"):
        FlModel("x", "video", lenet, (1,))


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError, match="n_classes"):
        lenet(0)
    with pytest.raises(ValueError, match="groups"):
        resnet18_gn(10, groups=0)
    with pytest.raises(ValueError, match="dropout"):
        matchboxnet(35, dropout=1.0)


# ----------------------------------------------------------------------------- FP8 QAT

# name -> (wrapped Linear/Conv layers, FP32 parameters counted by hand, classes)
QAT = {
    "lenet": (2 + 3, 64 + 64 + 384 + 192 + 10, 10),  # biases only
    "resnet18-gn": (1 + 16 + 3 + 1, 2 * 4800 + 10, 10),  # GroupNorm weight+bias, FC bias
    # embed bias; per block proj bias, MLP biases, 2 LayerNorms; head bias; class token; pos
    "kwt-1": (1 + 12 * 4 + 1, 64 + 12 * (64 + 256 + 64 + 4 * 64) + 35 + 64 + 99 * 64, 35),
    "matchboxnet": (2 + 3 * 3 + 2 + 1 + 1, 2 * (128 + 6 * 64 + 2 * 128) + 35, 35),
}


def example_input(entry: FlModel, batch: int = 2) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    scale = 1.0 if entry.modality == "image" else 0.1
    return scale * torch.randn(batch, *entry.input_shape, generator=gen)


@pytest.mark.parametrize("name", list(FL_MODELS))
def test_fp8_qat_wraps_every_linear_and_conv_and_trains(name):
    entry = FL_MODELS[name]
    n_wrapped, n_fp32, classes = QAT[name]
    torch.manual_seed(0)
    model = entry.build(classes)
    before = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))]
    total = n_params(model)
    fp8_qat(model)
    wrapped = [m for m in model.modules() if isinstance(m, FP8QATLayer)]
    assert len(before) == len(wrapped) == n_wrapped
    assert {id(m.layer) for m in wrapped} == {id(m) for m in before}
    assert all(not isinstance(m.layer, NORMS) for m in wrapped)
    unwrapped = [m for m in model.modules()
                 if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))
                 and not any(m is w.layer for w in wrapped)]
    assert unwrapped == []
    split = precision_split(model)
    assert split.fp32 == n_fp32 and split.fp8 + split.fp32 == total
    assert split.ranges == 2 * n_wrapped  # one α and one β per wrapped layer
    if entry.modality == "image":
        assert split.fp32_share < 0.02  # spec §5.2: biases + norms < 2 %
    model.train()
    logits = model(example_input(entry))
    assert logits.shape == (2, classes)
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    for w in wrapped:
        assert w.layer.weight.grad is not None and torch.isfinite(w.layer.weight.grad).all()
    assert all(a.grad is not None and torch.isfinite(a.grad) for a in qat_ranges(model))


def test_fp32_shares():
    shares = {}
    for name, (_, _, classes) in QAT.items():
        model = fp8_qat(FL_MODELS[name].build(classes))
        shares[name] = round(100 * precision_split(model).fp32_share, 2)
    assert shares == {"lenet": 0.09, "resnet18-gn": 0.09, "kwt-1": 2.33, "matchboxnet": 2.11}


@pytest.mark.parametrize("name", list(FL_MODELS))
def test_communicated_fp8_tensors(name):
    """The QAT-quantized weights are exactly the 2+-dimensional float tensors, except KWT's
    position embedding and class token (3-D, FP32 under QAT)."""
    model = fp8_qat(FL_MODELS[name].build(QAT[name][2]))
    state = model.state_dict()
    multi_dim = {k for k, t in state.items() if t.is_floating_point() and t.dim() >= 2}
    extra = {"pos", "class_token"} if name == "kwt-1" else set()
    assert multi_dim - set(fp8_weight_alphas(model)) == extra
    assert set(fp8_weight_alphas(model)) <= multi_dim


def test_batchnorm_running_stats_travel_as_fp32():
    model = fp8_qat(matchboxnet_audio(35))
    payload = quantize_state_dict(model.state_dict(), fp8_weight_alphas(model),
                                  select=set(fp8_weight_alphas(model)))
    stats = [k for k in payload if k.endswith(("running_mean", "running_var"))]
    assert len(stats) == 2 * 9
    assert all(payload[k].dtype == torch.float32 and not isinstance(payload[k], QuantizedTensor)
               for k in stats)
    counters = [k for k in payload if k.endswith("num_batches_tracked")]
    assert len(counters) == 9 and all(payload[k].dtype == torch.int64 for k in counters)
