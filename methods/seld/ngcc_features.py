"""Paper VI's multi-target NGCC-PHAT (spec seld.md §4.2-4.5): learned TDOA features for SELD.

Raw audio [B, 4, T x 480] (standardised per channel) -> TDOA features [B, 6 x C, T, 13]:

* f, shared by the four microphones, over each channel's whole signal: SincConv(32 filters,
  479 taps, mel-spaced 30 Hz .. fs/2 - 100 Hz) and Conv1d 11 / 9 / 7 (32 channels), circular
  "same" padding, BatchNorm (momentum 0.05), LeakyReLU(0.2) after all but the last;
* per 20 ms window (480 samples), channel by channel, GCC-PHAT of the 6 pairs (1,2), (1,3),
  (1,4), (2,3), (2,4), (3,4) with n_fft 960 (linear correlation), weight 1 / (|X_i X_j*| +
  1e-3), lags -6..+6 (a positive lag: the sound reaches the pair's first microphone later);
* g on each (pair, window) over the 13 lags: Conv1d 32 -> 32 with kernels 11, 9, 7, then 32 -> C
  with kernel 3, each with zero "same" padding, BatchNorm and LeakyReLU(0.2).

Pre-training adds a TDOA head, Conv1d(C -> K tracks, 3), whose logits are averaged over the 5
windows of a 100 ms label frame and trained with the multi-target PIT loss
(:func:`perloc.methods.seld.losses.pit_tdoa_loss`); the head is dropped afterwards. In SELD
training the extractor is frozen completely: no gradients and its BatchNorm layers in eval
mode (the reference leaves them in training mode, spec gotcha 25; freezing them fully makes the
features a function of the audio alone, so they are computed once per file and cached). A
trainable MLP, Linear(13 -> 32) -> LayerNorm -> GELU -> Dropout(0.5) -> Linear(32 -> 64), maps
the lags to 64 bins, and the 4 log-mel channels go first: [B, 4 + 6 C, T, 64].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from perloc.methods.checks import require_positive_ints
from perloc.methods.layers.conv import ConvBlock
from perloc.methods.layers.gcc import GCCParams, all_pairs, gcc
from perloc.methods.tdoa.ngcc import NgccParams, SincBackbone

N_MICS = 4
POST_KERNELS = (11, 9, 7)
WINDOWS_PER_LABEL = 5  # 20 ms windows in a 100 ms label frame


@dataclass(frozen=True)
class NgccSeldParams:
    """Paper VI: L = 32 channels, C = 16 feature channels, K = 3 tracks, tau_max = 6."""

    window: int = 480
    channels: int = 32
    out_channels: int = 16
    tracks: int = 3
    max_tau: int = 6
    sinc_kernel: int = 479
    fs: int = 24_000
    bn_momentum: float = 0.05
    eps: float = 1e-3

    def __post_init__(self) -> None:
        require_positive_ints(self, ("window", "channels", "out_channels", "tracks",
                                     "sinc_kernel", "fs"))

    @property
    def n_lags(self) -> int:
        return 2 * self.max_tau + 1


class NgccSeld(nn.Module):
    """The multi-target NGCC-PHAT extractor (module docstring) with its pre-training head."""

    def __init__(self, p: NgccSeldParams = NgccSeldParams()) -> None:
        super().__init__()
        self.params = p
        self.gcc_params = GCCParams("phat", p.eps, p.max_tau, 2 * p.window)
        self.register_buffer("pairs", all_pairs(N_MICS), persistent=False)
        self.register_buffer("scale", torch.ones(N_MICS), persistent=True)  # per-channel std
        # f is Paper V's SincNet backbone (the TDOA task's NGCC-PHAT) at these sizes
        self.filters = SincBackbone(NgccParams(
            sig_len=p.window, max_tau=p.max_tau, channels=p.channels, corr_channels=p.channels,
            sinc_kernel=p.sinc_kernel, fs=p.fs, bn_momentum=p.bn_momentum))
        widths = [p.channels] * (len(POST_KERNELS) + 1)
        post = [ConvBlock(a, b, k) for a, b, k in zip(widths[:-1], widths[1:], POST_KERNELS,
                                                       strict=True)]
        post.append(ConvBlock(p.channels, p.out_channels, 3))
        self.post = nn.Sequential(*post)
        self.tdoa_head = nn.Conv1d(p.out_channels, p.tracks, 3, padding=1)

    def features(self, audio: Tensor) -> Tensor:
        """[B, 4, T * window] -> TDOA features [B, 6, C, T, lags]."""
        p = self.params
        b, m, n = audio.shape
        t = n // p.window
        x = (audio[..., :t * p.window] / self.scale[:, None]).reshape(b * m, t * p.window)
        x = self.filters(x)  # [B * M, L, T * window]
        x = x.reshape(b, m, p.channels, t, p.window).permute(0, 3, 2, 1, 4)
        corr = gcc(x.reshape(b * t * p.channels, m, p.window), self.pairs, self.gcc_params)
        corr = corr.reshape(b, t, p.channels, len(self.pairs), p.n_lags).permute(0, 3, 1, 2, 4)
        out = self.post(corr.reshape(-1, p.channels, p.n_lags))  # [(B, 6, T), C, lags]
        return out.reshape(b, len(self.pairs), t, p.out_channels, p.n_lags).transpose(2, 3)

    def tdoa_logits(self, audio: Tensor) -> Tensor:
        """[B, 4, frames * 5 * window] -> logits [B, frames, 6 pairs, K, lags], averaged over
        the 5 windows of each label frame."""
        feats = self.features(audio)  # [B, 6, C, T, lags]
        b, pairs, c, t, lags = feats.shape
        logits = self.tdoa_head(feats.permute(0, 1, 3, 2, 4).reshape(-1, c, lags))
        logits = logits.reshape(b, pairs, t // WINDOWS_PER_LABEL, WINDOWS_PER_LABEL, -1, lags)
        return logits.mean(dim=3).transpose(1, 2)


class LagProjection(nn.Module):
    """The trainable lag MLP: [..., 13] -> [..., 64]."""

    def __init__(self, lags: int, bins: int = 64, hidden: int = 32, dropout: float = 0.5) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(lags, hidden), nn.LayerNorm(hidden), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(hidden, bins))

    def forward(self, tdoa: Tensor) -> Tensor:
        return self.net(tdoa)
