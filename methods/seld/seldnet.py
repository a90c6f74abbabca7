"""SELDnet, the DCASE2024 audio-only baseline (spec seld.md §3.4), and the multi-ACCDOA output.

Input features [B, ch, T, F] (T feature frames of 20 ms; ch = 10 for GCC + MS, 7 for
SALSA-Lite, 100 for NGCC + MS) -> output [B, T / 5, 3 tracks, 4 (x, y, z, d), C]:

* 3 conv blocks: Conv2d 3x3 (``filters``, padding 1) -> BatchNorm2d -> ReLU -> MaxPool2d(time
  pool, frequency pool) -> Dropout2d(0.05); time pools (5, 1, 1), frequency pools (4, 4, 2),
  so 250 frames -> 50 and F -> floor(floor(floor(F / 4) / 4) / 2);
* a 2-layer bidirectional GRU (``rnn`` units, dropout 0.05); tanh, then the forward and
  backward halves multiplied elementwise;
* ``attention_layers`` self-attention layers (8 heads, dropout 0.05), each residual +
  LayerNorm;
* Linear(rnn -> rnn) with no activation, then Linear(rnn -> 3 x 4 x C) with no output
  activation; the 156 outputs (C = 13) are laid out [track][x, y, z, d][class], i.e. track k at
  52 k, x at +0, y at +13, z at +26, d at +39 (``accdoa_view``).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from perloc.methods.checks import require_positive_ints

N_TRACKS, N_VALUES = 3, 4  # multi-ACCDOA: 3 tracks of (x, y, z, distance)
TIME_POOL = (5, 1, 1)
FREQ_POOL = (4, 4, 2)


def accdoa_view(output: Tensor, n_classes: int) -> Tensor:
    """[B, T, 3 * 4 * C] -> [B, T, 3, 4, C] (the baseline's [track][value][class] layout)."""
    return output.reshape(*output.shape[:-1], N_TRACKS, N_VALUES, n_classes)


@dataclass(frozen=True)
class SeldnetParams:
    """The DCASE2024 baseline by default; ``filters``/``rnn`` shrink it for CPU profiles."""

    filters: int = 64
    rnn: int = 128
    heads: int = 8
    attention_layers: int = 2
    dropout: float = 0.05
    n_classes: int = 13

    def __post_init__(self) -> None:
        require_positive_ints(self, ("filters", "rnn", "heads", "n_classes"))
        if self.rnn % self.heads:
            raise ValueError(f"rnn ({self.rnn}) must be a multiple of heads ({self.heads})")


def pooled_bins(n_bins: int, pools: tuple[int, ...]) -> int:
    for pool in pools:
        n_bins //= pool
    return n_bins


class ConvPool2d(nn.Sequential):
    """Conv2d 3x3 -> BatchNorm2d -> ReLU -> MaxPool2d(pool) -> Dropout2d."""

    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int], dropout: float) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                         nn.MaxPool2d(pool), nn.Dropout2d(dropout))


class Seldnet(nn.Module):
    """Features [B, ch, T, F] -> multi-ACCDOA [B, T / 5, 3, 4, C]."""

    def __init__(self, in_channels: int, n_bins: int, p: SeldnetParams = SeldnetParams()) -> None:
        super().__init__()
        self.params = p
        widths = [in_channels] + [p.filters] * 3
        self.conv = nn.Sequential(*(ConvPool2d(a, b, (t, f), p.dropout) for a, b, t, f in
                                    zip(widths[:-1], widths[1:], TIME_POOL, FREQ_POOL,
                                        strict=True)))
        bins = pooled_bins(n_bins, FREQ_POOL)
        if bins < 1:
            raise ValueError(f"{n_bins} frequency bins pool to nothing")
        self.gru = nn.GRU(p.filters * bins, p.rnn, num_layers=2, batch_first=True,
                          dropout=p.dropout, bidirectional=True)
        self.attention = nn.ModuleList(nn.MultiheadAttention(p.rnn, p.heads, dropout=p.dropout,
                                                             batch_first=True)
                                       for _ in range(p.attention_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(p.rnn) for _ in range(p.attention_layers))
        self.fc = nn.Sequential(nn.Linear(p.rnn, p.rnn), nn.Linear(p.rnn, 3 * 4 * p.n_classes))

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)  # [B, filters, T / 5, bins]
        x = x.permute(0, 2, 1, 3).flatten(2)  # [B, T / 5, filters * bins]
        x, _ = self.gru(x)
        x = x.tanh()
        half = x.shape[-1] // 2
        x = x[..., :half] * x[..., half:]
        for attention, norm in zip(self.attention, self.norms, strict=True):
            x = norm(x + attention(x, x, x, need_weights=False)[0])
        return accdoa_view(self.fc(x), self.params.n_classes)
