"""DS-CNN (Zhang et al. 2017, "Hello Edge: Keyword Spotting on Microcontrollers"), the DS-CNN-L
layout that Paper III's Table 3 cites at 95.4 %.

* input MFCC [B, 98, 40] -> [B, 1, 98, 40] (a [B, 1, 98, 40] input is taken as is);
* Conv2D ``filters`` (276), kernel (10, 4), stride (2, 1), TensorFlow 'same' padding (zeros,
  the odd one after: (4, 4) in time and (1, 2) in frequency here), with bias, BatchNorm, ReLU:
  [B, 276, 49, 40];
* ``blocks`` (5) depthwise-separable blocks: depthwise 3 x 3 (groups = channels, stride 2 x 2
  in the first block and 1 x 1 after, padding 1, no bias), BatchNorm, ReLU; pointwise 1 x 1
  (no bias), BatchNorm, ReLU: [B, 276, 25, 20];
* global average pool over time and frequency, dropout (0.0 by default), Linear 276 ->
  n_classes.

The depthwise convolutions pad symmetrically by 1 (PyTorch style); TensorFlow's 'same' would
pad the strided one by (1, 1) x (0, 1), which gives the same output size.

Size (trainable parameters, defaults): 414,012 with 12 classes, 420,383 with 35 classes.

Hello Edge fed 49 x 10 MFCCs (40 ms windows, 20 ms stride, 10 coefficients); here the input is
the harness's shared 98 x 40 KWT front end, so the feature maps, and with them the MACs, are
larger than the paper's (the parameter count does not depend on the input size).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from perloc.methods.checks import (
    require_positive_int,
    require_positive_ints,
    require_probability,
)


def require_positive_pair(name: str, value) -> None:
    """ValueError naming ``name`` unless ``value`` is a tuple of two ints >= 1."""
    if not isinstance(value, tuple) or len(value) != 2:
        raise ValueError(f"{name} must be a tuple of two ints >= 1, got {value!r}")
    for i, item in enumerate(value):
        require_positive_int(f"{name}[{i}]", item)


@dataclass(frozen=True)
class DsCnnParams:
    n_classes: int = 12
    filters: int = 276
    blocks: int = 5
    first_kernel: tuple[int, int] = (10, 4)
    first_stride: tuple[int, int] = (2, 1)
    dropout: float = 0.0
    frames: int = 98
    coefficients: int = 40

    def __post_init__(self) -> None:
        require_positive_ints(self, ("n_classes", "filters", "blocks", "frames", "coefficients"))
        require_positive_pair("first_kernel", self.first_kernel)
        require_positive_pair("first_stride", self.first_stride)
        require_probability("dropout", self.dropout)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow 'same' zero padding (before, after) of one axis: ceil(size / stride)
    outputs, the odd pad after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'same' padding for any stride (computed from the input size)."""

    def forward(self, x: Tensor) -> Tensor:
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        return super().forward(F.pad(x, (left, right, top, bottom)))


def ds_block(channels: int, stride: int) -> nn.Sequential:
    """Depthwise 3 x 3 (stride, padding 1) + BN + ReLU, pointwise 1 x 1 + BN + ReLU."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=channels, bias=False),
        nn.BatchNorm2d(channels), nn.ReLU(),
        nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())


class DsCnn(nn.Module):
    """``forward(mfcc [B, frames, coefficients] or [B, 1, frames, coefficients]) ->
    logits [B, n_classes]``."""

    def __init__(self, params: DsCnnParams = DsCnnParams()) -> None:
        super().__init__()
        self.params = p = params
        self.stem = nn.Sequential(
            SameConv2d(1, p.filters, p.first_kernel, stride=p.first_stride),
            nn.BatchNorm2d(p.filters), nn.ReLU())
        self.blocks = nn.Sequential(*(ds_block(p.filters, 2 if i == 0 else 1)
                                      for i in range(p.blocks)))
        self.dropout = nn.Dropout(p.dropout)
        self.head = nn.Linear(p.filters, p.n_classes)

    def _as_image(self, mfcc: Tensor) -> Tensor:
        """[B, frames, coefficients] -> [B, 1, frames, coefficients]; shape checked."""
        x = mfcc.unsqueeze(1) if mfcc.dim() == 3 else mfcc
        expected = (1, self.params.frames, self.params.coefficients)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"mfcc must be [B, {expected[1]}, {expected[2]}] or "
                             f"[B, 1, {expected[1]}, {expected[2]}], got {list(mfcc.shape)}")
        return x

    def features(self, mfcc: Tensor) -> Tensor:
        """The pooled features [B, filters] (before dropout)."""
        x = self.blocks(self.stem(self._as_image(mfcc)))
        return x.mean(dim=(2, 3))

    def forward(self, mfcc: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(mfcc)))

    def parameter_count(self) -> int:
        return sum(q.numel() for q in self.parameters() if q.requires_grad)
