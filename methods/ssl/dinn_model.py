"""DI-NN baseline (Grinstein et al. 2023, "dual input" CRNN), spec tdoa_ssl.md section 7.1.

The network sees the raw multichannel frame ``signals [B, M, N]`` and a flat metadata vector
``metadata [B, n]`` with ``n = 3 M + extra`` (the microphone coordinates, flattened mic by mic,
then room dimensions and RT60 in Paper VII's 3-D setting)::

    STFT per channel (n_fft 1024, hop 256, rectangular window, centred, normalized, one-sided,
    DC dropped, [real | imag] along frequency)             -> [B, M, frames, 1024]
    BatchNorm2d(M) -> 4 x {[Conv2d 2x2 pad 1 no bias -> BN -> ReLU] x 2 -> AvgPool 2x2}
    mean over frequency -> BiGRU(512 -> 2 x 256) -> mean over time        -> [B, 512]
    metadata: BatchNorm1d(1) on [B, 1, n] -> Linear(n, 2n) -> ReLU -> Linear(2n, n)
    concat -> Linear(512 + n, 512 + n) -> ReLU -> Linear(512 + n, 3)

One model per microphone count ("DI-NN_M"): a frame with another M raises ``ValueError``.

Initialisation follows the reference code ([R-dinn] ``init_layer`` / ``init_gru``): Kaiming-uniform
(gain sqrt 2) on every conv/linear weight with zero biases, BatchNorm weight ~ N(1, 0.02) and zero
bias; GRU input weights per gate uniform(+-sqrt(3 / fan_in)), hidden weights per gate the same
for the reset/update gates and orthogonal for the candidate gate, zero biases (the reference
only touched the forward direction; here both directions get it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from perloc.methods.checks import require_positive_ints


@dataclass(frozen=True)
class DinnParams:
    """DI-NN hyperparameters; the defaults are Paper VII's DI-NN_11 (3-D, 11 microphones)."""

    n_mics: int = 11
    sig_len: int = 2048  # frame length N (the network itself accepts any N)
    n_fft: int = 1024
    channels: tuple[int, ...] = (64, 128, 256, 512)
    gru_hidden: int = 256  # per direction
    dropout: float = 0.0  # after every conv block and in the fusion head (0 in the paper)
    coord_dims: int = 3
    extra_metadata: int = 4  # room dims (3) + RT60 (1)
    n_out: int = 3

    def __post_init__(self) -> None:
        require_positive_ints(self, ("n_mics", "sig_len", "n_fft", "gru_hidden", "coord_dims", "n_out"))
        if self.n_fft < 4 or self.n_fft % 2:
            raise ValueError(f"n_fft must be an even int >= 4, got {self.n_fft}")
        if not self.channels or any(int(c) < 1 for c in self.channels):
            raise ValueError(f"channels must be a non-empty tuple of ints >= 1: {self.channels}")
        if self.extra_metadata < 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError("extra_metadata must be >= 0 and dropout in [0, 1)")

    @property
    def n_metadata(self) -> int:
        """Length of the metadata vector: mic coordinates then the extra entries."""
        return self.coord_dims * self.n_mics + self.extra_metadata

    @property
    def hop(self) -> int:
        """STFT hop (torch.stft default, n_fft // 4)."""
        return self.n_fft // 4

    @property
    def n_frames(self) -> int:
        """STFT frames of a ``sig_len`` frame with centre padding (9 for 2048 / 1024)."""
        return 1 + self.sig_len // self.hop


def stft_features(signals: Tensor, n_fft: int = 1024, window: Tensor | None = None) -> Tensor:
    """DI-NN front end: ``signals [B, M, N]`` -> ``[B, M, frames, n_fft]`` (float32).

    ``torch.stft`` with hop ``n_fft // 4``, a rectangular window (the reference passes none),
    ``center=True`` (reflect padding), ``normalized=True`` (scaled by ``n_fft ** -0.5``),
    one-sided; the DC bin is dropped and the real parts of bins 1..n_fft/2 are followed by
    their imaginary parts.
    """
    b, m, n = signals.shape
    if window is None:
        window = torch.ones(n_fft, dtype=torch.float32, device=signals.device)
    spec = torch.stft(signals.reshape(b * m, n).float(), n_fft, hop_length=n_fft // 4,
                      window=window, center=True, normalized=True, onesided=True,
                      return_complex=True)[:, 1:]  # [B M, n_fft / 2, frames]
    feats = torch.cat([spec.real, spec.imag], dim=1)
    return feats.reshape(b, m, n_fft, -1).transpose(2, 3)


def _conv_block(c_in: int, c_out: int, dropout: float) -> nn.Sequential:
    """[Conv2d 2x2 (padding 1, no bias) -> BN -> ReLU] x 2 -> AvgPool2d 2x2 (-> Dropout)."""
    layers: list[nn.Module] = []
    for c in (c_in, c_out):
        layers += [nn.Conv2d(c, c_out, 2, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    layers.append(nn.AvgPool2d(2))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def _init_gru(gru: nn.GRU) -> None:
    """[R-dinn] ``init_gru``: per gate uniform(+-sqrt(3/fan_in)); candidate-gate hidden weights
    orthogonal; biases zero. Applied to every layer and direction."""

    def uniform(t: Tensor) -> None:
        bound = math.sqrt(3.0 / t.shape[1])
        nn.init.uniform_(t, -bound, bound)

    h = gru.hidden_size
    for name, param in gru.named_parameters():
        if name.startswith("bias"):
            nn.init.zeros_(param)
            continue
        inits = [uniform, uniform, nn.init.orthogonal_ if "weight_hh" in name else uniform]
        for gate, init in enumerate(inits):
            init(param.data[gate * h : (gate + 1) * h])


def _init_weights(module: nn.Module) -> None:
    """Kaiming-uniform conv/linear weights, zero biases, BN weight ~ N(1, 0.02), GRU as above."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="leaky_relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.GRU):
            _init_gru(layer)


class DINN(nn.Module):
    """DI-NN_M: ``forward(signals [B, M, N], metadata [B, 3 M + extra]) -> [B, 3]``."""

    def __init__(self, params: DinnParams = DinnParams()):
        super().__init__()
        p, n_meta = params, params.n_metadata
        self.params = p
        self.register_buffer("window", torch.ones(p.n_fft), persistent=False)
        self.input_bn = nn.BatchNorm2d(p.n_mics)
        widths = (p.n_mics, *p.channels)
        self.convs = nn.Sequential(
            *(_conv_block(a, b, p.dropout) for a, b in zip(widths[:-1], widths[1:], strict=True))
        )
        self.gru = nn.GRU(p.channels[-1], p.gru_hidden, batch_first=True, bidirectional=True)
        self.meta_bn = nn.BatchNorm1d(1)
        self.meta_mlp = nn.Sequential(
            nn.Linear(n_meta, 2 * n_meta), nn.ReLU(), nn.Linear(2 * n_meta, n_meta)
        )
        fused = 2 * p.gru_hidden + n_meta
        self.head = nn.Sequential(
            nn.Linear(fused, fused), nn.ReLU(), nn.Dropout(p.dropout), nn.Linear(fused, p.n_out)
        )
        _init_weights(self)

    def _check(self, signals: Tensor, metadata: Tensor) -> None:
        p = self.params
        if signals.ndim != 3 or signals.shape[1] != p.n_mics:
            raise ValueError(
                f"DI-NN_{p.n_mics} needs signals [B, {p.n_mics}, N], got {tuple(signals.shape)} "
                f"(one model per microphone count)"
            )
        if metadata.shape != (signals.shape[0], p.n_metadata):
            raise ValueError(
                f"metadata must be [B, {p.n_metadata}] (3 x {p.n_mics} mic coordinates + "
                f"{p.extra_metadata} extra), got {tuple(metadata.shape)}"
            )

    def encode_signals(self, signals: Tensor) -> Tensor:
        """Signal branch: ``[B, M, N]`` -> ``[B, 2 gru_hidden]``."""
        x = self.input_bn(stft_features(signals, self.params.n_fft, self.window))
        x = self.convs(x).mean(dim=3).transpose(1, 2)  # [B, frames', C]
        return self.gru(x)[0].mean(dim=1)

    def forward(self, signals: Tensor, metadata: Tensor) -> Tensor:
        self._check(signals, metadata)
        meta = self.meta_bn(metadata.float().unsqueeze(1)).squeeze(1)
        fused = torch.cat([self.encode_signals(signals), self.meta_mlp(meta)], dim=1)
        return self.head(fused)
