"""Small 1-D convolution helpers: "same" padding, a conv block, circular convolution by FFT.

* :func:`same_pad` gives the (left, right) padding that keeps the length for stride 1
  (``(k - 1) // 2`` left, ``k // 2`` right; symmetric for odd kernels).
* :class:`ConvBlock` is ``Conv1d -> BatchNorm1d -> activation -> Dropout`` as an
  ``nn.Sequential`` (children ``0``-``3``, so its state_dict keys are ``0.weight``,
  ``1.running_mean``, ...), with circular or zero "same" padding.
* :func:`circular_conv_fft` computes ``F.conv1d(F.pad(x, same_pad(k), "circular"), w)`` (a
  circular cross-correlation) for single-channel inputs as ``irfft(rfft(x) * conj(rfft(w_c)))``,
  ``w_c`` the kernel zero-padded to the signal length with its centre tap at index 0. For a
  symmetric kernel this is also the circular convolution. Cost is one rfft per signal plus one
  irfft per output channel, independent of the kernel length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEAKY_SLOPE = 0.2


def same_pad(kernel: int) -> tuple[int, int]:
    """(left, right) zero/circular padding that keeps the length of a stride-1 convolution."""
    if kernel < 1:
        raise ValueError(f"kernel must be >= 1, got {kernel}")
    return (kernel - 1) // 2, kernel // 2


class ConvBlock(nn.Sequential):
    """``Conv1d(k, "same") -> BatchNorm1d(momentum) -> LeakyReLU(0.2) | identity -> Dropout``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        padding: str = "zeros",
        momentum: float = 0.1,
        act: bool = True,
        dropout: float = 0.0,
    ) -> None:
        if kernel % 2 != 1:
            raise ValueError(f"ConvBlock needs an odd kernel for 'same' padding, got {kernel}")
        if padding not in ("zeros", "circular"):
            raise ValueError(f"padding must be 'zeros' or 'circular', got {padding!r}")
        super().__init__(
            nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2, padding_mode=padding),
            nn.BatchNorm1d(c_out, momentum=momentum),
            nn.LeakyReLU(LEAKY_SLOPE) if act else nn.Identity(),
            nn.Dropout(dropout),
        )


def kernel_spectrum(weight: Tensor, n: int) -> Tensor:
    """``conj(rfft(w_c, n))`` of kernels ``weight [C, K]`` (K odd, K <= n), ``w_c`` centred at 0."""
    c, k = weight.shape
    if k % 2 != 1 or k > n:
        raise ValueError(f"kernel length must be odd and <= signal length {n}, got {k}")
    h = k // 2
    zeros = weight.new_zeros(c, n - k)
    centred = torch.cat([weight[:, h:], zeros, weight[:, :h]], dim=1)
    return torch.fft.rfft(centred, n=n).conj()


def circular_conv_fft(x: Tensor, spectrum: Tensor, bias: Tensor | None = None) -> Tensor:
    """Circular "same" conv of ``x [B, 1, N]`` with kernels given by ``spectrum [C, N//2+1]``
    (from :func:`kernel_spectrum`) -> ``[B, C, N]``."""
    n = x.shape[-1]
    out = torch.fft.irfft(torch.fft.rfft(x, n=n) * spectrum, n=n)
    return out if bias is None else out + bias[:, None]


def circular_conv_direct(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Reference: ``F.pad(x, same_pad(k), "circular")`` then ``F.conv1d`` (``weight [C, 1, K]``)."""
    return F.conv1d(F.pad(x, same_pad(weight.shape[-1]), mode="circular"), weight, bias)


class CircularFFTConv1d(nn.Conv1d):
    """``Conv1d(1 -> C, K)`` with circular "same" padding computed by FFT (long kernels).

    Same parameters (``weight``, ``bias``) and output as ``nn.Conv1d(..., padding=K // 2,
    padding_mode="circular")``; used for the "w/o SincNet" ablation's 1023-tap first layer.
    """

    def __init__(self, out_channels: int, kernel: int) -> None:
        if kernel % 2 != 1:
            raise ValueError(f"kernel must be odd, got {kernel}")
        super().__init__(1, out_channels, kernel)

    def forward(self, x: Tensor) -> Tensor:
        check_length(x.shape[-1], self.kernel_size[0])
        return circular_conv_fft(x, kernel_spectrum(self.weight[:, 0], x.shape[-1]), self.bias)

    def direct(self, x: Tensor) -> Tensor:
        """Reference path: circular padding + ``F.conv1d``."""
        check_length(x.shape[-1], self.kernel_size[0])
        return circular_conv_direct(x, self.weight, self.bias)


def check_length(n: int, kernel: int) -> None:
    """Raise ValueError when a signal of ``n`` samples is shorter than the kernel."""
    if n < kernel:
        raise ValueError(
            f"signal length {n} is shorter than the {kernel}-tap kernel; circular 'same' "
            f"padding needs at least {kernel} samples"
        )
