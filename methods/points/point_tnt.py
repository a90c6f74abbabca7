"""Point-TnT (Paper II; spec dold_pointtnt.md §4) and its naive-Transformer Baseline.

Shapes: input clouds ``x [B, N, 3]``; M anchors, k neighbours, d_E edge width
(``point_dim``), d_Y anchor width (``patch_dim``), h heads of width d_h (``dim_head``, 64 in
both branches, so the local attention projects 32 -> h*64 internally), L blocks, d_f
(``emb_dims``). Forward (§4.2):

1. anchors ``s = FPS(x, M)`` (``fps_start``, :mod:`~perloc.methods.points.ops`), under no grad;
2. neighbours ``nbr = kNN(x_s, x, k, dilation)`` (self included: one all-zero edge);
3. edges ``e_mj = x_j - x_m`` [B, M, k, 3] (no absolute position);
4. ``E = Linear(3 -> d_E)(e)`` as (B*M, k, d_E); ``Y_0 = Linear(3 -> d_Y)(x_s)`` [B, M, d_Y];
5. L blocks: ``E <- Local(E)``; ``Y <- Y + Linear(2 d_E -> d_Y)(LN([max_k E, mean_k E]))``;
   ``Y <- Global(Y)``; keep ``Y_l``;
6. ``Z = [max_M, mean_M](GELU(Linear(L d_Y -> d_f)(LN([Y_1, ..., Y_L]))))`` [B, 2 d_f]
   (:meth:`PointTnT.features`);
7. classifier: Linear(2 d_f -> 512) BN GELU Dropout, Linear(512 -> 256) BN GELU Dropout,
   Linear(256 -> C) (the code's GELU, not DGCNN's LeakyReLU).

Local / Global are pre-norm Transformer layers: ``x <- x + MSA(LN(x))``, ``x <- x +
MLP(LN(x))``, MLP ``dim -> 4 dim -> dim`` with GELU; MSA: ``qkv = Linear(dim -> 3 h d_h, no
bias)``, ``softmax(q k^T / sqrt(d_h)) v`` per head, output ``Linear(h d_h -> dim)`` with bias;
no dropout in either.

Ablation (§4.2, gotcha 15): ``local_attention=False`` / ``global_attention=False`` replace that
attention sub-layer (its LN and MSA) by the identity and, as the official code does
(``ablation="official"``), keep the residual add, so the sub-layer gives ``x + x = 2x``;
``ablation="skip"`` drops the add (output x), the deviation one might expect. Either way the
disabled LN and MSA have no parameters.

Baseline (naive Transformer): every point a token, ``Linear(3 -> d_Y)``, ``depth`` Global
layers, the same LN/Linear/GELU/max+mean embedding and classifier; no FPS or kNN. It takes a
:class:`PointTnTConfig` and uses patch_dim, heads, dim_head, depth, emb_dims, n_classes,
global_attention, ablation and dropout.

Trainable parameters (LN and BN affine included, BN running stats not), spec §4.3, 15
classes: Point-TnT-1 (h 1, d_Y 64) 1,733,007; -2 (h 2, d_Y 128) 2,637,711; -3 (h 3, d_Y 192)
3,935,631 (3,942,056 for 40 classes); Baseline 3,752,719. Multiply-accumulates at N = 1024:
:mod:`~perloc.methods.points.macs` (TnT-3 1.18 G, Baseline 4.23 G).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from perloc.methods.checks import require_positive_ints, require_probability
from perloc.methods.points.ops import FPS_STARTS, farthest_point_sample, gather_points, knn

__all__ = [
    "ABLATIONS",
    "Attention",
    "Baseline",
    "ClassifierHead",
    "PointTnT",
    "PointTnTConfig",
    "TransformerLayer",
    "baseline",
    "point_tnt",
]

ABLATIONS = ("official", "skip")
MLP_RATIO = 4


@dataclass(frozen=True)
class PointTnTConfig:
    """Point-TnT-3 on ScanObjectNN (spec §4.1, §5.3); ``point_tnt(size)`` for -1 / -2."""

    n_points: int = 1024
    anchors: int = 192
    k: int = 20
    dilation: int = 1
    point_dim: int = 32
    patch_dim: int = 192
    heads: int = 3
    dim_head: int = 64
    depth: int = 4
    emb_dims: int = 1024
    n_classes: int = 15
    local_attention: bool = True
    global_attention: bool = True
    fps_start: str = "far"
    dropout: float = 0.5
    ablation: str = "official"

    def __post_init__(self) -> None:
        require_positive_ints(self, ("n_points", "anchors", "k", "dilation", "point_dim",
                                     "patch_dim", "heads", "dim_head", "depth", "emb_dims",
                                     "n_classes"))
        require_probability("dropout", self.dropout)
        if self.fps_start not in FPS_STARTS:
            raise ValueError(f"fps_start must be one of {FPS_STARTS}, got {self.fps_start!r}")
        if self.ablation not in ABLATIONS:
            raise ValueError(f"ablation must be one of {ABLATIONS}, got {self.ablation!r}")


class Attention(nn.Module):
    """Multi-head self-attention ``[..., T, dim] -> [..., T, dim]`` (qkv without bias, scale
    ``1/sqrt(d_h)``, output projection with bias); equivariant to permutations of T."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        self.qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.out = nn.Linear(heads * dim_head, dim)

    def forward(self, x: Tensor) -> Tensor:
        *lead, t, _ = x.shape
        qkv = self.qkv(x).view(*lead, t, 3, self.heads, self.dim_head)
        q, k, v = qkv.movedim(-3, 0).transpose(-3, -2).unbind(0)   # each [..., h, T, d_h]
        y = F.scaled_dot_product_attention(q, k, v)                 # scale 1/sqrt(d_h)
        return self.out(y.transpose(-3, -2).reshape(*lead, t, self.heads * self.dim_head))


class PreNorm(nn.Sequential):
    """``fn(LN(x))`` (children ``norm``, ``fn``)."""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn


def feed_forward(dim: int) -> nn.Sequential:
    """MLP ``dim -> 4 dim -> dim`` with GELU."""
    return nn.Sequential(nn.Linear(dim, MLP_RATIO * dim), nn.GELU(),
                         nn.Linear(MLP_RATIO * dim, dim))


class TransformerLayer(nn.Module):
    """Pre-norm layer ``x + A(x)`` then ``x + MLP(LN(x))``, ``A = MSA(LN(.))``; with
    ``attention=False`` ``A`` is the identity (``2x`` with ``ablation="official"``, ``x`` with
    ``"skip"``)."""

    def __init__(self, dim: int, heads: int, dim_head: int, attention: bool = True,
                 ablation: str = "official") -> None:
        super().__init__()
        self.attn = PreNorm(dim, Attention(dim, heads, dim_head)) if attention else nn.Identity()
        self.residual = attention or ablation == "official"
        self.mlp = PreNorm(dim, feed_forward(dim))

    def attention_sublayer(self, x: Tensor) -> Tensor:
        """The first residual sub-layer alone: ``x + A(x)`` (or ``A(x)`` when skipped)."""
        y = self.attn(x)
        return y + x if self.residual else y

    def forward(self, x: Tensor) -> Tensor:
        x = self.attention_sublayer(x)
        return x + self.mlp(x)


class ClassifierHead(nn.Sequential):
    """``Z [B, 2 d_f] -> logits [B, C]``: (Linear BN GELU Dropout) x2 (512, 256), Linear."""

    def __init__(self, in_dim: int, n_classes: int, dropout: float) -> None:
        layers: list[nn.Module] = []
        for width in (512, 256):
            layers += [nn.Linear(in_dim, width), nn.BatchNorm1d(width), nn.GELU(),
                       nn.Dropout(dropout)]
            in_dim = width
        super().__init__(*layers, nn.Linear(in_dim, n_classes))


class Embedding(nn.Module):
    """Per-block tokens ``[B, T, L d_Y] -> Z [B, 2 d_f]``: LN, Linear, GELU, [max_T, mean_T]."""

    def __init__(self, in_dim: int, emb_dims: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.linear = nn.Linear(in_dim, emb_dims)

    def forward(self, tokens: Tensor) -> Tensor:
        h = F.gelu(self.linear(self.norm(tokens)))
        return torch.cat([h.amax(dim=1), h.mean(dim=1)], dim=-1)


class EdgeToPatch(nn.Module):
    """Edge tokens ``[B*M, k, d_E] -> [B, M, d_Y]``: [max_k, mean_k], LN, Linear."""

    def __init__(self, point_dim: int, patch_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(2 * point_dim)
        self.linear = nn.Linear(2 * point_dim, patch_dim)

    def forward(self, edges: Tensor, batch: int) -> Tensor:
        pooled = torch.cat([edges.amax(dim=1), edges.mean(dim=1)], dim=-1)
        return self.linear(self.norm(pooled)).view(batch, -1, self.linear.out_features)


class TnTBlock(nn.Module):
    """One local + global block: ``(E, Y) -> (Local(E), Global(Y + EdgeToPatch(Local(E))))``."""

    def __init__(self, c: PointTnTConfig) -> None:
        super().__init__()
        self.local = TransformerLayer(c.point_dim, c.heads, c.dim_head, c.local_attention,
                                      c.ablation)
        self.to_patch = EdgeToPatch(c.point_dim, c.patch_dim)
        self.glob = TransformerLayer(c.patch_dim, c.heads, c.dim_head, c.global_attention,
                                     c.ablation)

    def forward(self, edges: Tensor, anchors: Tensor) -> tuple[Tensor, Tensor]:
        edges = self.local(edges)
        anchors = self.glob(anchors + self.to_patch(edges, anchors.shape[0]))
        return edges, anchors


def check_cloud(x: Tensor, minimum: int) -> None:
    if x.dim() != 3 or x.shape[-1] != 3:
        raise ValueError(f"expected points [B, N, 3], got shape {tuple(x.shape)}")
    if x.shape[1] < minimum:
        raise ValueError(f"need at least {minimum} points per cloud, got {x.shape[1]}")


class PointTnT(nn.Module):
    """``forward(x [B, N, 3]) -> logits [B, n_classes]``; :meth:`features` gives Z."""

    def __init__(self, config: PointTnTConfig = PointTnTConfig()) -> None:
        super().__init__()
        self.config = c = config
        self.edge_embed = nn.Linear(3, c.point_dim)
        self.anchor_embed = nn.Linear(3, c.patch_dim)
        self.blocks = nn.ModuleList(TnTBlock(c) for _ in range(c.depth))
        self.embedding = Embedding(c.depth * c.patch_dim, c.emb_dims)
        self.head = ClassifierHead(2 * c.emb_dims, c.n_classes, c.dropout)

    def patches(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Anchor xyz ``[B, M, 3]`` and edge offsets ``e_mj = x_j - x_m`` ``[B, M, k, 3]``."""
        c = self.config
        check_cloud(x, max(c.anchors, c.k * c.dilation))
        anchor_xyz = gather_points(x, farthest_point_sample(x, c.anchors, c.fps_start))
        neighbours = gather_points(x, knn(anchor_xyz, x, c.k, c.dilation))
        return anchor_xyz, neighbours - anchor_xyz[:, :, None]

    def features(self, x: Tensor) -> Tensor:
        """``x [B, N, 3] -> Z [B, 2 emb_dims]`` (steps 1-6)."""
        anchor_xyz, offsets = self.patches(x)
        b, m, k, _ = offsets.shape
        edges = self.edge_embed(offsets).view(b * m, k, -1)
        anchors = self.anchor_embed(anchor_xyz)
        kept = []
        for block in self.blocks:
            edges, anchors = block(edges, anchors)
            kept.append(anchors)
        return self.embedding(torch.cat(kept, dim=-1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class Baseline(nn.Module):
    """Naive Transformer: ``forward(x [B, N, 3]) -> logits [B, n_classes]``, every point a
    token; :meth:`features` gives Z [B, 2 emb_dims]."""

    def __init__(self, config: PointTnTConfig = PointTnTConfig()) -> None:
        super().__init__()
        self.config = c = config
        self.point_embed = nn.Linear(3, c.patch_dim)
        self.blocks = nn.ModuleList(
            TransformerLayer(c.patch_dim, c.heads, c.dim_head, c.global_attention, c.ablation)
            for _ in range(c.depth))
        self.embedding = Embedding(c.depth * c.patch_dim, c.emb_dims)
        self.head = ClassifierHead(2 * c.emb_dims, c.n_classes, c.dropout)

    def features(self, x: Tensor) -> Tensor:
        check_cloud(x, 1)
        tokens, kept = self.point_embed(x), []
        for block in self.blocks:
            tokens = block(tokens)
            kept.append(tokens)
        return self.embedding(torch.cat(kept, dim=-1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


TNT_SIZES = {1: 1, 2: 2, 3: 3}   # size -> heads; patch_dim = 64 * heads (spec §4.3)


def point_tnt(size: int = 3, n_classes: int = 15, **overrides) -> PointTnT:
    """Point-TnT-``size`` (h = size, d_Y = 64 h; Table 2) with config ``overrides``."""
    if size not in TNT_SIZES:
        raise ValueError(f"size must be 1, 2 or 3, got {size!r}")
    heads = TNT_SIZES[size]
    return PointTnT(PointTnTConfig(heads=heads, patch_dim=64 * heads, n_classes=n_classes,
                                   **overrides))


def baseline(n_classes: int = 15, **overrides) -> Baseline:
    """The paper's Baseline (h 3, d_Y 192, 4 global layers; 3,752,719 parameters for 15)."""
    return Baseline(replace(PointTnTConfig(n_classes=n_classes), **overrides))
