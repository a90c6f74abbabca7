"""CST-Former (Shul & Choi, ICASSP 2024), the SELD network of every Paper VI table (spec
seld.md §4.6), in its "unfolded local embedding" (ULE) form with CMT blocks.

Features [B, ch, 250, F] -> multi-ACCDOA [B, 50, 3, 4, C]:

* encoder: 3 x (Conv2d 3x3 -> BatchNorm2d -> ReLU -> MaxPool2d(time, freq) -> Dropout2d(0.05)),
  time pools (1, 1, 5) (250 -> 50 frames), frequency pools (1, 2, 2) for Small (64 -> 16 bins),
  (1, 1, 1) for Large, (1, 4, 6) for SALSA-Lite Small (382 -> 15);
* 2 CMT blocks, each: x += depthwise 3x3 conv (local perception unit); channel-spectral-
  temporal attention; x += Dropout(0.1)(IRFFN(LayerNorm_c(x))). The attention has three
  residual parts, each followed by dropout and a LayerNorm over the whole (F' x 64) frame vector:
  channel attention over the 64 feature maps, with tokens the 10 x 4 (time x frequency) patches
  of each map (embed 40, 8 heads); spectral attention over the F' bins (embed 64, 8 heads);
  temporal attention over the 50 frames (embed 64, 8 heads). IRFFN: 1x1 conv to 4 x 64 ->
  GELU -> BN; y = y + BN(GELU(depthwise 3x3(y))); 1x1 conv back to 64 -> BN;
* head: Linear(F' x 64 -> 256) -> Linear(256 -> 3 x 4 x C), no activation; Xavier-uniform
  linear layers, Kaiming-uniform convolutions.

At the paper sizes: 549,660 parameters for GCC + MS input, 530,780 for SALSA-Lite Small and
1,372,956 for Large with GCC + MS (Paper VI Table 1: 550K, 530K, 1.37M).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from perloc.methods.checks import require_positive_ints
from perloc.methods.seld.seldnet import N_TRACKS, N_VALUES, accdoa_view, pooled_bins

TIME_POOL = (1, 1, 5)
FREQ_POOLS = {"small": (1, 2, 2), "large": (1, 1, 1), "small-salsa": (1, 4, 6)}
PATCH = (10, 4)  # unfolded local embedding: time x frequency patch of one feature map


@dataclass(frozen=True)
class CstFormerParams:
    """Paper sizes by default (Small); ``filters`` and ``blocks`` shrink it for CPU profiles."""

    size: str = "small"  # small | large | small-salsa (frequency pooling)
    filters: int = 64
    blocks: int = 2
    heads: int = 8
    fc: int = 256
    dropout: float = 0.05
    drop_path: float = 0.1
    ffn_ratio: int = 4
    n_classes: int = 13

    def __post_init__(self) -> None:
        require_positive_ints(self, ("filters", "blocks", "heads", "fc", "ffn_ratio",
                                     "n_classes"))
        if self.size not in FREQ_POOLS:
            raise ValueError(f"size must be one of {', '.join(FREQ_POOLS)}, got {self.size!r}")
        if self.filters % self.heads or (PATCH[0] * PATCH[1]) % self.heads:
            raise ValueError(f"filters ({self.filters}) and the patch size 40 must be multiples "
                             f"of heads ({self.heads})")


class _Residual(nn.Module):
    """x + MHSA(tokens of x) -> dropout -> LayerNorm over the frame vector."""

    def __init__(self, embed: int, heads: int, frame_dim: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(embed, heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(frame_dim)

    def attend(self, tokens: Tensor) -> Tensor:
        return self.attention(tokens, tokens, tokens, need_weights=False)[0]

    def finish(self, update: Tensor, x: Tensor) -> Tensor:
        """``update``, ``x``: [B, C, T, F] -> LayerNorm over (F, C) of dropout(update + x)."""
        y = self.dropout(update + x).permute(0, 2, 3, 1)  # [B, T, F, C]
        y = self.norm(y.flatten(2)).reshape(y.shape)
        return y.permute(0, 3, 1, 2)


class CstAttention(nn.Module):
    """Channel (unfolded patches), spectral and temporal attention on [B, C, T, F]."""

    def __init__(self, channels: int, frames: int, bins: int, p: CstFormerParams) -> None:
        super().__init__()
        frame_dim = channels * bins
        self.unfold = nn.Unfold(PATCH, stride=PATCH)
        self.fold = nn.Fold((frames, bins), PATCH, stride=PATCH)
        self.channel = _Residual(PATCH[0] * PATCH[1], p.heads, frame_dim, p.dropout)
        self.spectral = _Residual(channels, p.heads, frame_dim, p.dropout)
        self.temporal = _Residual(channels, p.heads, frame_dim, p.dropout)

    def forward(self, x: Tensor) -> Tensor:
        b, c, t, f = x.shape
        patches = self.unfold(x)  # [B, C * 40, P]
        n_patches = patches.shape[-1]
        tokens = patches.reshape(b, c, -1, n_patches).permute(0, 3, 1, 2).flatten(0, 1)
        mixed = self.channel.attend(tokens)  # [B * P, C, 40]
        mixed = mixed.reshape(b, n_patches, c, -1).permute(0, 2, 3, 1).flatten(1, 2)
        x = self.channel.finish(self.fold(mixed), x)
        tokens = x.permute(0, 2, 3, 1).flatten(0, 1)  # [B * T, F, C]
        update = self.spectral.attend(tokens).reshape(b, t, f, c).permute(0, 3, 1, 2)
        x = self.spectral.finish(update, x)
        tokens = x.permute(0, 3, 2, 1).flatten(0, 1)  # [B * F, T, C]
        update = self.temporal.attend(tokens).reshape(b, f, t, c).permute(0, 3, 2, 1)
        return self.temporal.finish(update, x)


def _depthwise(channels: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, 3, padding=1, groups=channels)


class Irffn(nn.Module):
    """Inverted residual feed-forward: 1x1 up -> GELU -> BN; + BN(GELU(dw 3x3)); 1x1 down -> BN."""

    def __init__(self, channels: int, ratio: int) -> None:
        super().__init__()
        hidden = channels * ratio
        self.up = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.GELU(), nn.BatchNorm2d(hidden))
        self.depthwise = nn.Sequential(_depthwise(hidden), nn.GELU(), nn.BatchNorm2d(hidden))
        self.down = nn.Sequential(nn.Conv2d(hidden, channels, 1), nn.BatchNorm2d(channels))

    def forward(self, x: Tensor) -> Tensor:
        y = self.up(x)
        return self.down(y + self.depthwise(y))


class CmtBlock(nn.Module):
    """x += LPU(x); x = CST attention(x); x += drop(IRFFN(LayerNorm over channels(x)))."""

    def __init__(self, channels: int, frames: int, bins: int, p: CstFormerParams) -> None:
        super().__init__()
        self.local = _depthwise(channels)
        self.attention = CstAttention(channels, frames, bins, p)
        self.norm = nn.LayerNorm(channels)
        self.ffn = Irffn(channels, p.ffn_ratio)
        self.drop_path = nn.Dropout(p.drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = self.attention(x + self.local(x))
        normed = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + self.drop_path(self.ffn(normed))


class CstFormer(nn.Module):
    """Features [B, ch, T, F] -> multi-ACCDOA [B, T / 5, 3, 4, C]."""

    def __init__(self, in_channels: int, n_bins: int, frames: int = 250,
                 p: CstFormerParams = CstFormerParams()) -> None:
        super().__init__()
        self.params = p
        pools = FREQ_POOLS[p.size]
        widths = [in_channels] + [p.filters] * 3
        self.encoder = nn.Sequential(*(nn.Sequential(
            nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(),
            nn.MaxPool2d((t, f)), nn.Dropout2d(p.dropout))
            for a, b, t, f in zip(widths[:-1], widths[1:], TIME_POOL, pools, strict=True)))
        bins, out_frames = pooled_bins(n_bins, pools), pooled_bins(frames, TIME_POOL)
        if bins < 1 or out_frames % PATCH[0]:
            raise ValueError(f"{n_bins} bins x {frames} frames do not fit CST-Former's pooling "
                             f"and {PATCH} patches")
        self.blocks = nn.Sequential(*(CmtBlock(p.filters, out_frames, bins, p)
                                      for _ in range(p.blocks)))
        self.head = nn.Sequential(nn.Linear(bins * p.filters, p.fc),
                                  nn.Linear(p.fc, N_TRACKS * N_VALUES * p.n_classes))
        self.apply(_init)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.encoder(x))  # [B, C, T', F']
        x = x.permute(0, 2, 3, 1).flatten(2)  # [B, T', F' x C] (frequency-major, as the reference)
        return accdoa_view(self.head(x), self.params.n_classes)


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)

