"""torchvision's ResNet written out module for module (the one ResNet of the code base).

torchvision cannot be imported beside this project's torch build (its compiled ops do not
match), so :class:`ResNet` rebuilds ``torchvision.models.resnet.ResNet`` (v1.5) by hand with
the same module names, state-dict keys, tensor shapes, registration order and initialisation;
a torchvision ``state_dict()`` loads with ``strict=True`` (with ``n_classes`` equal to its
class count; a torchvision checkpoint's ``fc.weight`` / ``fc.bias`` must be dropped to load it
into a backbone built with ``n_classes=None``).

* :class:`BasicBlock` (expansion 1): conv3x3(stride)-norm-ReLU-conv3x3-norm, plus the
  shortcut, ReLU. Children ``conv1 bn1 relu conv2 bn2 downsample``.
* :class:`Bottleneck` (expansion 4, the v1.5 layout: the stride sits on the 3x3 conv):
  conv1x1-norm-ReLU-conv3x3(stride)-norm-ReLU-conv1x1(x4)-norm, plus the shortcut, ReLU.
  Children ``conv1 bn1 conv2 bn2 conv3 bn3 relu downsample``.
* ``downsample`` (only where the shape changes: stride != 1 or channels != width * expansion)
  is ``nn.Sequential(conv1x1(stride), norm)``, keys ``downsample.0.weight``,
  ``downsample.1.*``.
* :class:`ResNet`: the ImageNet stem (``conv1`` 7x7 stride 2 pad 3, ``bn1``, ``relu``,
  ``maxpool`` 3x3 stride 2 pad 1), ``layer1``..``layer4`` (widths 64, 128, 256, 512; stride 1
  for ``layer1``, 2 after), ``avgpool`` (adaptive, 1x1), then ``fc = Linear(512 * expansion,
  n_classes)`` when ``n_classes`` is given. With ``n_classes=None`` there is no ``fc`` and
  ``forward`` returns the pooled features [B, :attr:`ResNet.out_features`] (2048 for
  ResNet-50, 512 for ResNet-18).
* ``norm``: any ``Callable[[channels], nn.Module]`` (torchvision's ``norm_layer``), used
  everywhere, the downsample branches included (default ``nn.BatchNorm2d``).
* Initialisation as torchvision's: every ``Conv2d`` Kaiming-normal (fan-out, ReLU), every
  BatchNorm / GroupNorm weight 1 and bias 0, ``fc`` torch's default ``Linear`` init;
  ``zero_init_residual`` zeroes the last norm weight of each block (``bn3`` / ``bn2``). The
  random draws happen in torchvision's order, so the same seed gives the same tensors.

Factories: :func:`resnet18` ([2, 2, 2, 2] basic blocks; 11,689,512 parameters with 1000
classes, 11,176,512 without ``fc``) and :func:`resnet50` ([3, 4, 6, 3] bottlenecks;
25,557,032 with 1000 classes, 23,508,032 without ``fc``), the counts torchvision publishes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from perloc.methods.checks import require_positive_int

__all__ = ["BasicBlock", "Bottleneck", "Norm", "ResNet", "conv1x1", "conv3x3", "resnet18",
           "resnet50"]

Norm = Callable[[int], nn.Module]
WIDTHS = (64, 128, 256, 512)


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias."""
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias."""
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """conv3x3(stride)-norm-ReLU-conv3x3-norm + shortcut, ReLU (torchvision's BasicBlock)."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1,
                 downsample: nn.Module | None = None, norm: Norm = nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv1 = conv3x3(cin, width, stride)
        self.bn1 = norm(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(width, width)
        self.bn2 = norm(width)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """conv1x1-norm-ReLU-conv3x3(stride)-norm-ReLU-conv1x1(width x 4)-norm + shortcut, ReLU
    (torchvision's v1.5 Bottleneck: the stride on the 3x3 conv)."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1,
                 downsample: nn.Module | None = None, norm: Norm = nn.BatchNorm2d) -> None:
        super().__init__()
        self.conv1 = conv1x1(cin, width)
        self.bn1 = norm(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = norm(width)
        self.conv3 = conv1x1(width, width * self.expansion)
        self.bn3 = norm(width * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


Block = type[BasicBlock] | type[Bottleneck]


class ResNet(nn.Module):
    """torchvision's ResNet: ``forward(images [B, 3, H, W])`` -> logits [B, n_classes], or
    with ``n_classes=None`` the average-pooled features [B, out_features] (no ``fc``)."""

    def __init__(self, block: Block, layers: Sequence[int], n_classes: int | None = None,
                 norm: Norm = nn.BatchNorm2d, zero_init_residual: bool = False) -> None:
        super().__init__()
        if len(layers) != len(WIDTHS):
            raise ValueError(f"need {len(WIDTHS)} stage depths, got {list(layers)}")
        for i, depth in enumerate(layers, start=1):
            require_positive_int(f"layers[{i - 1}]", depth)
        if n_classes is not None:
            require_positive_int("n_classes", n_classes)
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        for i, (width, depth) in enumerate(zip(WIDTHS, layers, strict=True), start=1):
            setattr(self, f"layer{i}", self._make_layer(block, width, depth,
                                                        1 if i == 1 else 2, norm))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.out_features = WIDTHS[-1] * block.expansion
        self.n_classes = n_classes
        self.fc = None if n_classes is None else nn.Linear(self.out_features, n_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                last = (m.bn3 if isinstance(m, Bottleneck)
                        else m.bn2 if isinstance(m, BasicBlock) else None)
                if last is not None and getattr(last, "weight", None) is not None:
                    nn.init.constant_(last.weight, 0)

    def _make_layer(self, block: Block, width: int, depth: int, stride: int,
                    norm: Norm) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != width * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, width * block.expansion, stride),
                                       norm(width * block.expansion))
        blocks = [block(self.inplanes, width, stride, downsample, norm)]
        self.inplanes = width * block.expansion
        blocks += [block(self.inplanes, width, norm=norm) for _ in range(1, depth)]
        return nn.Sequential(*blocks)

    def features(self, x: Tensor) -> Tensor:
        """The pooled features [B, out_features] (what ``fc`` would read)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.features(x)
        return x if self.fc is None else self.fc(x)


def resnet18(n_classes: int | None = None, norm: Norm = nn.BatchNorm2d,
             zero_init_residual: bool = False) -> ResNet:
    """torchvision's ``resnet18(weights=None)``: [2, 2, 2, 2] basic blocks (512-d features)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), n_classes, norm, zero_init_residual)


def resnet50(n_classes: int | None = None, norm: Norm = nn.BatchNorm2d,
             zero_init_residual: bool = False) -> ResNet:
    """torchvision's ``resnet50(weights=None)``: [3, 4, 6, 3] bottlenecks (2048-d features)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), n_classes, norm, zero_init_residual)
