"""SincNet band-pass filter bank (Ravanelli & Bengio 2018, "SincConv_fast") with circular
"same" padding computed by FFT.

Each of the C filters is a windowed difference of two sinc low-passes with learnable low
cut-off ``low_hz_`` and bandwidth ``band_hz_`` (both ``(C, 1)``, the names used by SincNet and
by the NGCC-PHAT checkpoint)::

    low  = min_low_hz + |low_hz_|
    high = clamp(low + min_band_hz + |band_hz_|, min_low_hz, fs / 2)
    h[t] = (sin(2 pi high t / fs) - sin(2 pi low t / fs)) / (pi t / fs) * w[t] / (2 (high - low))
    h[0] = 1                                   (t = -(K-1)/2 .. (K-1)/2, kernel K forced odd)

The half Hamming window ``w`` is sampled exactly as SincConv_fast does
(``0.54 - 0.46 cos(2 pi n / K)`` at ``n = linspace(0, K/2 - 1, K // 2)``, which is slightly
stretched compared with a textbook window); kept for fidelity to trained checkpoints.
Initialisation: C + 1 cut-offs equally spaced on the mel scale between 30 Hz and
``fs / 2 - (min_low_hz + min_band_hz)``; ``low_hz_`` = the first C, ``band_hz_`` = their gaps.

The filters are symmetric, so circular padding + ``F.conv1d`` equals a circular convolution:
:meth:`SincConv.forward` does one rfft of the input (n = N) times the kernel spectra, then C
irffts (~0.008 GFLOP per 2048-sample signal instead of 0.54 for the direct 1023-tap conv).
Under no-grad the kernel spectra are cached until the parameters change. :meth:`direct` is the
reference path (circular pad + conv1d).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from perloc.methods.layers.conv import (
    check_length,
    circular_conv_direct,
    circular_conv_fft,
    kernel_spectrum,
)


def to_mel(hz):
    """Hz -> mel (2595 log10(1 + f / 700))."""
    return 2595 * np.log10(1 + np.asarray(hz, dtype=np.float64) / 700)


def to_hz(mel):
    """mel -> Hz (inverse of :func:`to_mel`)."""
    return 700 * (10 ** (np.asarray(mel, dtype=np.float64) / 2595) - 1)


class SincConv(nn.Module):
    """Band-pass filter bank ``[B, 1, N] -> [B, C, N]`` (no bias), circular "same" padding."""

    def __init__(
        self,
        out_channels: int,
        kernel_size: int,
        sample_rate: float = 16000,
        min_low_hz: float = 50,
        min_band_hz: float = 50,
    ) -> None:
        super().__init__()
        if out_channels < 1 or kernel_size < 1 or sample_rate <= 0:
            raise ValueError("out_channels, kernel_size and sample_rate must be positive")
        self.out_channels = out_channels
        self.kernel_size = kernel_size + 1 - kernel_size % 2  # forced odd
        self.sample_rate, self.min_low_hz, self.min_band_hz = sample_rate, min_low_hz, min_band_hz
        self.fft = True  # False: forward uses the direct conv (benchmarks)
        high = sample_rate / 2 - (min_low_hz + min_band_hz)
        hz = to_hz(np.linspace(to_mel(30.0), to_mel(high), out_channels + 1))
        self.low_hz_ = nn.Parameter(torch.tensor(hz[:-1], dtype=torch.float32).view(-1, 1))
        self.band_hz_ = nn.Parameter(torch.tensor(np.diff(hz), dtype=torch.float32).view(-1, 1))
        half = self.kernel_size // 2
        n_lin = torch.linspace(0, self.kernel_size / 2 - 1, steps=half)
        window = 0.54 - 0.46 * torch.cos(2 * math.pi * n_lin / self.kernel_size)
        t = 2 * math.pi * torch.arange(-half, 0, dtype=torch.float32).view(1, -1) / sample_rate
        self.register_buffer("window_", window.view(1, -1), persistent=False)
        self.register_buffer("n_", t, persistent=False)
        self._cache: tuple[tuple, Tensor] | None = None

    def filters(self) -> Tensor:
        """The kernels ``(C, 1, K)`` (differentiable in ``low_hz_`` and ``band_hz_``)."""
        low = self.min_low_hz + self.low_hz_.abs()
        high = torch.clamp(
            low + self.min_band_hz + self.band_hz_.abs(), self.min_low_hz, self.sample_rate / 2
        )
        band = high - low
        left = (torch.sin(high @ self.n_) - torch.sin(low @ self.n_)) / (self.n_ / 2)
        left = left * self.window_
        kernel = torch.cat([left, 2 * band, left.flip(1)], dim=1) / (2 * band)
        return kernel.view(self.out_channels, 1, self.kernel_size)

    def spectrum(self, n: int) -> Tensor:
        """Kernel spectra ``[C, n // 2 + 1]`` for n-sample signals; cached under no-grad."""
        params = (self.low_hz_, self.band_hz_)
        if torch.is_grad_enabled() and any(p.requires_grad for p in params):
            return kernel_spectrum(self.filters()[:, 0], n)
        key = (n, *((p._version, p.data_ptr(), p.device, p.dtype) for p in params))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, kernel_spectrum(self.filters()[:, 0], n))
        return self._cache[1]

    def _input(self, x: Tensor) -> Tensor:
        if x.ndim == 2:
            x = x[:, None]
        if x.ndim != 3 or x.shape[1] != 1:
            raise ValueError(f"SincConv expects [B, 1, N] or [B, N], got {tuple(x.shape)}")
        check_length(x.shape[-1], self.kernel_size)
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Filter ``x [B, 1, N]`` (or ``[B, N]``) -> ``[B, C, N]`` via FFT (or :meth:`direct`)."""
        if not self.fft:
            return self.direct(x)
        x = self._input(x)
        return circular_conv_fft(x, self.spectrum(x.shape[-1]))

    def direct(self, x: Tensor) -> Tensor:
        """Reference path: ``F.pad(x, (K//2, K//2), "circular")`` then ``F.conv1d``."""
        return circular_conv_direct(self._input(x), self.filters())

    def extra_repr(self) -> str:
        return f"{self.out_channels}, kernel_size={self.kernel_size}, fs={self.sample_rate}"
