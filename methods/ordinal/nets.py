"""Networks of Paper I: a backbone, FC trunks and the label-diversity heads, and their loss.

``OrdinalNet(backbone, trunk_width, dims, outputs, trunks)``: images [B, 3, H, W] ->
backbone features -> ``trunks`` FC(trunk_width) + ReLU layers (one per label dimension for
the classification methods, as the paper's BIWI nets; one shared trunk for Direct) -> one
linear layer per trunk with all of that dimension's head outputs -> logits [B, T] (T the sum
of every head's bins over the dimensions, laid out as :class:`~perloc.methods.ordinal.bins.
BinSet` says) or, for Direct, the D regressed values.

Backbones (spec §1.4, §7): ``resnet50`` is torchvision's ResNet-50 layout with random
initialisation (:mod:`perloc.methods.layers.resnet`; no pretrained weights can be fetched:
the paper fine-tunes ImageNet weights), 2048-d pooled features; ``cnn`` is this harness's
small CNN for the CPU profiles: four conv3x3-BN-ReLU blocks of ``width``, 2w, 4w, 8w channels,
each followed by 2x2 max pooling, then global average pooling (8w-d features).

The loss (spec §1.5): E = sum over heads of CE(one-hot q^m, p^m), averaged over the batch,
computed with a segmented log-softmax over the flat outputs (one pass for all heads).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from perloc.methods.layers.resnet import resnet50

BACKBONES = ("cnn", "resnet50")


class SmallCnn(nn.Module):
    """Four conv3x3-BN-ReLU-maxpool blocks (w, 2w, 4w, 8w channels), global average pool."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        layers, cin = [], 3
        for k in range(4):
            cout = width * 2 ** k
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            cin = cout
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_features = cin

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def make_backbone(name: str, width: int) -> nn.Module:
    if name == "cnn":
        return SmallCnn(width)
    if name == "resnet50":
        return resnet50(None)
    raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {name!r}")


class OrdinalNet(nn.Module):
    """Backbone -> per-dimension (or shared) FC + ReLU trunks -> linear outputs."""

    def __init__(self, backbone: nn.Module, trunk_width: int, outputs: tuple[int, ...]) -> None:
        super().__init__()
        self.backbone = backbone
        features = backbone.out_features
        self.trunks = nn.ModuleList(nn.Sequential(nn.Linear(features, trunk_width),
                                                  nn.ReLU(inplace=True))
                                    for _ in outputs)
        self.heads = nn.ModuleList(nn.Linear(trunk_width, n) for n in outputs)

    def forward(self, images: Tensor) -> Tensor:
        z = self.backbone(images)
        return torch.cat([head(trunk(z)) for trunk, head in zip(self.trunks, self.heads,
                                                                strict=True)], dim=1)


def segment_log_softmax(logits: Tensor, segment: Tensor, n_segments: int) -> Tensor:
    """log softmax of ``logits`` [B, T] within each segment of outputs (``segment`` [T] the
    segment of each output): x_t - max_s - log sum_{u in s} exp(x_u - max_s)."""
    index = segment.expand_as(logits)
    peak = torch.full((len(logits), n_segments), -torch.inf, dtype=logits.dtype,
                      device=logits.device).scatter_reduce(1, index, logits, "amax")
    shifted = logits - peak.detach().gather(1, index)
    sums = torch.zeros_like(peak).scatter_add(1, index, shifted.exp())
    return shifted - sums.log().gather(1, index)


def label_diversity_loss(logits: Tensor, segment: Tensor, n_segments: int,
                         target_index: Tensor) -> Tensor:
    """sum over heads of -log p_m(true bin), mean over the batch (``target_index`` [B, M]:
    the flat output index of each head's true bin)."""
    log_probs = segment_log_softmax(logits.float(), segment, n_segments)
    return -log_probs.gather(1, target_index).sum(dim=1).mean()


def head_probabilities(logits: Tensor, segment: Tensor, n_segments: int) -> Tensor:
    """Every head's softmax, laid out flat [B, T]."""
    return segment_log_softmax(logits.float(), segment, n_segments).exp()
