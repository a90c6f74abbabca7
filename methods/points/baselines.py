"""PointNet and DGCNN classifiers, the classic baselines of Paper II's ScanObjectNN table, and
DIP's PointNet patch descriptor (the baseline of its 3DMatch table).

Both take ``x [B, N, 3]`` and return logits ``[B, n_classes]``; BN layers are ``BatchNorm1d``
/ ``BatchNorm2d`` with torch's defaults.

**PointNet** (Qi et al., CVPR 2017; the classification net of the authors' TensorFlow code):
``T-Net(k)``: shared MLP k -> 64 -> 128 -> 1024 (1x1 convs with bias, BN, ReLU), max over
points, FC 1024 -> 512 -> 256 (BN, ReLU), then Linear 256 -> k^2 with zero weights and the
flattened identity as bias, so it starts as ``A = I`` [B, k, k]. Network: ``x <- x A_3``
(input T-Net, k = 3), shared MLP 3 -> 64 -> 64, ``h <- h A_64`` (feature T-Net), shared MLP
64 -> 64 -> 128 -> 1024, max over the N points, FC 1024 -> 512 -> 256 with BN, ReLU and
dropout 0.3 (keep probability 0.7) after each, Linear 256 -> C. The feature-transform
regulariser is ``REG_WEIGHT * ||A A^T - I||_F^2 / 2`` summed over the batch (TF
``l2_loss``), from :meth:`PointNet.forward_with_transform` and :func:`orthogonality_loss`.
Parameters: 3,480,049 for 40 classes (T-Net(3) 803,081, T-Net(64) 1,857,344, the rest
819,624), 3,473,624 for 15; the commonly quoted figure is ~3.5M.

**DGCNN** (Wang et al., ACM TOG 2019; the authors' PyTorch classification net): four EdgeConv
layers of 64, 64, 128, 256 channels, each ``max_j LeakyReLU_0.2(BN(W [x_j - x_i, x_i]))``
over the k = 20 nearest neighbours j of i (self included), a 1x1 conv without bias; the
neighbours of layer 1 are found in xyz space (:func:`~perloc.methods.points.ops.knn`), of
layers 2-4 in the previous layer's feature space (:func:`~perloc.methods.points.ops.
knn_features`: the dynamic graph). The four outputs are concatenated (512), Conv1d 512 ->
emb_dims (1024, no bias) BN LeakyReLU, max and mean over points (2 emb_dims), then
Linear(2 emb_dims -> 512, no bias) BN LeakyReLU Dropout 0.5, Linear(512 -> 256) BN LeakyReLU
Dropout 0.5, Linear(256 -> C). Parameters: 1,809,576 for 40 classes (the commonly quoted
~1.8M), 1,803,151 for 15.

**DIP** (Poiesi & Boscaini, ICPR 2020; the authors' PyTorch network) at width w (1024 there):
a spatial transformer ``T-Net(3)`` with per-point widths w/4, w/2, w and FC w/2, w/4 aligns the
LRF patch (``x <- x A``); per-point Conv1d 3 -> w/4 -> w/2 (BN, ReLU) -> w (BN, no ReLU); max
over points; Linear w -> w/2 BN ReLU, Linear w/2 -> w/4, Dropout 0.3, BN, ReLU; Linear
w/4 -> out (32); L2-normalised. :meth:`DipNet.aligned` also returns the aligned patch for the
Chamfer term of DIP's loss. (DIP's transformer has no ReLU after its last per-point layer;
the shared T-Net block used here has one.)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from perloc.methods.checks import require_positive_int, require_probability
from perloc.methods.points.ops import gather_points, knn, knn_features

__all__ = ["DGCNN", "DipNet", "PointNet", "REG_WEIGHT", "TNet", "orthogonality_loss"]

REG_WEIGHT = 1e-3
LEAKY_SLOPE = 0.2


def shared_mlp(widths: tuple[int, ...]) -> nn.Sequential:
    """Per-point ``Conv1d(1x1, bias) -> BN -> ReLU`` layers on ``[B, C, N]``."""
    layers: list[nn.Module] = []
    for cin, cout in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Conv1d(cin, cout, 1), nn.BatchNorm1d(cout), nn.ReLU()]
    return nn.Sequential(*layers)


def fc_bn(widths: tuple[int, ...], act: nn.Module, dropout: float, bias: bool = True
          ) -> nn.Sequential:
    """``Linear -> BN -> act -> Dropout`` per step of ``widths``."""
    layers: list[nn.Module] = []
    for cin, cout in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(cin, cout, bias=bias), nn.BatchNorm1d(cout), act, nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class TNet(nn.Module):
    """``h [B, k, N] -> A [B, k, k]``, initialised to the identity transform; PointNet's
    widths by default (``mlp`` per point, then ``fc`` after the max-pool)."""

    def __init__(self, k: int, mlp: tuple[int, ...] = (64, 128, 1024),
                 fc: tuple[int, ...] = (512, 256)) -> None:
        super().__init__()
        self.k = k
        self.mlp = shared_mlp((k, *mlp))
        self.fc = fc_bn((mlp[-1], *fc), nn.ReLU(), 0.0)
        self.out = nn.Linear(fc[-1], k * k)
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():
            self.out.bias.copy_(torch.eye(k).flatten())

    def forward(self, h: Tensor) -> Tensor:
        g = self.mlp(h).amax(dim=-1)
        return self.out(self.fc(g)).view(-1, self.k, self.k)


def orthogonality_loss(transform: Tensor) -> Tensor:
    """``REG_WEIGHT * sum_b ||A_b A_b^T - I||_F^2 / 2`` for ``transform [B, k, k]``."""
    eye = torch.eye(transform.shape[-1], dtype=transform.dtype, device=transform.device)
    diff = transform @ transform.transpose(1, 2) - eye
    return REG_WEIGHT * (diff ** 2).sum() / 2


def check_points(x: Tensor) -> None:
    if x.dim() != 3 or x.shape[-1] != 3:
        raise ValueError(f"expected points [B, N, 3], got shape {tuple(x.shape)}")


class PointNet(nn.Module):
    """PointNet classifier ``x [B, N, 3] -> logits [B, n_classes]`` (module docstring)."""

    def __init__(self, n_classes: int = 40, dropout: float = 0.3) -> None:
        super().__init__()
        require_positive_int("n_classes", n_classes)
        require_probability("dropout", dropout)
        self.input_transform = TNet(3)
        self.mlp1 = shared_mlp((3, 64, 64))
        self.feature_transform = TNet(64)
        self.mlp2 = shared_mlp((64, 64, 128, 1024))
        self.fc = fc_bn((1024, 512, 256), nn.ReLU(), dropout)
        self.out = nn.Linear(256, n_classes)

    def forward_with_transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x [B, N, 3] -> (logits [B, C], feature transform A_64 [B, 64, 64])``."""
        check_points(x)
        h = x.transpose(1, 2)                                  # [B, 3, N]
        h = (h.transpose(1, 2) @ self.input_transform(h)).transpose(1, 2)
        h = self.mlp1(h)
        a = self.feature_transform(h)
        h = (h.transpose(1, 2) @ a).transpose(1, 2)
        g = self.mlp2(h).amax(dim=-1)
        return self.out(self.fc(g)), a

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_transform(x)[0]


class DipNet(nn.Module):
    """DIP's descriptor ``x [B, N, 3] -> [B, out]`` (unit rows) at ``width`` (module doc)."""

    def __init__(self, width: int = 1024, out: int = 32, dropout: float = 0.3) -> None:
        super().__init__()
        require_positive_int("width", width)
        require_probability("dropout", dropout)
        w = width
        self.transform = TNet(3, (w // 4, w // 2, w), (w // 2, w // 4))
        self.mlp = nn.Sequential(*shared_mlp((3, w // 4, w // 2)), nn.Conv1d(w // 2, w, 1),
                                 nn.BatchNorm1d(w))
        self.fc = nn.Sequential(nn.Linear(w, w // 2), nn.BatchNorm1d(w // 2), nn.ReLU(),
                                nn.Linear(w // 2, w // 4), nn.Dropout(dropout),
                                nn.BatchNorm1d(w // 4), nn.ReLU(), nn.Linear(w // 4, out))

    def aligned(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(descriptors [B, out], the T-Net-aligned patch [B, N, 3])."""
        check_points(x)
        moved = x @ self.transform(x.transpose(1, 2))
        g = self.mlp(moved.transpose(1, 2)).amax(dim=-1)
        return torch.nn.functional.normalize(self.fc(g), dim=-1), moved

    def forward(self, x: Tensor) -> Tensor:
        return self.aligned(x)[0]


class EdgeConv(nn.Module):
    """``h [B, N, C], idx [B, N, k] -> [B, N, out]``: ``max_j act(BN(W [h_j - h_i, h_i]))``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2 * cin, cout, 1, bias=False)
        self.norm = nn.BatchNorm2d(cout)
        self.act = nn.LeakyReLU(LEAKY_SLOPE)

    def forward(self, h: Tensor, idx: Tensor) -> Tensor:
        centre = h[:, :, None].expand(-1, -1, idx.shape[-1], -1)
        edge = torch.cat([gather_points(h, idx) - centre, centre], dim=-1)   # [B, N, k, 2C]
        y = self.act(self.norm(self.conv(edge.permute(0, 3, 1, 2))))        # [B, out, N, k]
        return y.amax(dim=-1).transpose(1, 2)


class DGCNN(nn.Module):
    """DGCNN classifier ``x [B, N, 3] -> logits [B, n_classes]`` (module docstring)."""

    WIDTHS = (64, 64, 128, 256)

    def __init__(self, n_classes: int = 40, k: int = 20, emb_dims: int = 1024,
                 dropout: float = 0.5) -> None:
        super().__init__()
        for name, v in (("n_classes", n_classes), ("k", k), ("emb_dims", emb_dims)):
            require_positive_int(name, v)
        require_probability("dropout", dropout)
        self.k = k
        cins = (3,) + self.WIDTHS[:-1]
        self.edge_convs = nn.ModuleList(EdgeConv(a, b) for a, b in zip(cins, self.WIDTHS,
                                                                        strict=True))
        self.embed = nn.Sequential(nn.Conv1d(sum(self.WIDTHS), emb_dims, 1, bias=False),
                                   nn.BatchNorm1d(emb_dims), nn.LeakyReLU(LEAKY_SLOPE))
        act = nn.LeakyReLU(LEAKY_SLOPE)
        self.fc = nn.Sequential(fc_bn((2 * emb_dims, 512), act, dropout, bias=False),
                                fc_bn((512, 256), act, dropout))
        self.out = nn.Linear(256, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_points(x)
        h, outs = x, []
        for i, conv in enumerate(self.edge_convs):
            idx = knn(x, x, self.k) if i == 0 else knn_features(h, self.k)
            h = conv(h, idx)
            outs.append(h)
        e = self.embed(torch.cat(outs, dim=-1).transpose(1, 2))          # [B, emb, N]
        z = torch.cat([e.amax(dim=-1), e.mean(dim=-1)], dim=-1)
        return self.out(self.fc(z))
