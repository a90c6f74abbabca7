"""The Keyword Transformer's MFCC front end (kws_streaming ``mfcc_tf``), batched in torch.

Recipe (spec kws_fl.md section 2.1), for 1-s clips at 16 kHz:

* frames of 480 samples (30 ms), hop 160 (10 ms), no padding: 1 + (16000 - 480) // 160 = 98;
* periodic Hann window w[n] = 0.5 - 0.5 cos(2 pi n / 480);
* magnitude (not power) of the 512-point real DFT: 257 bins;
* 80 triangular mel bands, HTK mel m(f) = 1127 ln(1 + f / 700), 20-7600 Hz, triangles linear
  in the mel domain, unnormalised, the DC bin's row zero;
* natural log of max(mel, 1e-12);
* DCT-II c_k = sum_n x_n 2 cos(pi (2n + 1) k / 160) / sqrt(160), k = 0..39.

So a clip becomes 98 x 40 (time x coefficient). All-zero audio gives c0 = 160 ln(1e-12) /
sqrt(160) = -349.508 in every frame and 0 elsewhere. torchaudio would need another torch
build, and librosa normalises differently; this is the recipe itself, as two matrices.

Device: the buffers are made on the CPU whatever the default device (the feature cache's
front end runs there, so a cached feature never depends on the device); a method that holds the
module places it on the cell's device (:func:`perloc.bench.core.device.build`), and the forward
pass runs wherever its input and buffers are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from perloc.bench.core import device


@dataclass(frozen=True)
class MfccParams:
    sample_rate: int = 16_000
    frame: int = 480
    hop: int = 160
    n_fft: int = 512
    n_mels: int = 80
    f_min: float = 20.0
    f_max: float = 7600.0
    n_coefficients: int = 40
    log_floor: float = 1e-12

    def n_frames(self, n_samples: int) -> int:
        return 1 + (n_samples - self.frame) // self.hop


def hz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def mel_weights(p: MfccParams) -> np.ndarray:
    """[n_fft // 2 + 1, n_mels] triangles linear in mel, the DC bin's row zero."""
    bins = np.arange(p.n_fft // 2 + 1) * p.sample_rate / p.n_fft
    mel = hz_to_mel(bins)[:, None]
    edges = np.linspace(hz_to_mel(p.f_min), hz_to_mel(p.f_max), p.n_mels + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (mel - lower) / (centre - lower)
    falling = (upper - mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0] = 0.0
    return weights


def dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_in, n_out]: x @ D = sum_n x_n 2 cos(pi (2n + 1) k / (2 n_in)) / sqrt(2 n_in)."""
    n, k = np.arange(n_in)[:, None], np.arange(n_out)[None, :]
    return 2.0 * np.cos(np.pi * (2 * n + 1) * k / (2 * n_in)) / math.sqrt(2 * n_in)


class Mfcc(nn.Module):
    """``forward(audio [B, T]) -> [B, frames, n_coefficients]`` (float32)."""

    def __init__(self, params: MfccParams = MfccParams()) -> None:
        super().__init__()
        self.params = p = params
        n = device.host_tensor(np.arange(p.frame, dtype=np.float64))
        self.register_buffer("window", (0.5 - 0.5 * torch.cos(2 * math.pi * n / p.frame)).float(),
                             persistent=False)
        self.register_buffer("mel", device.host_tensor(mel_weights(p), dtype=torch.float32),
                             persistent=False)
        self.register_buffer("dct", device.host_tensor(dct_matrix(p.n_mels, p.n_coefficients),
                                                       dtype=torch.float32), persistent=False)

    def forward(self, audio: Tensor) -> Tensor:
        p = self.params
        if audio.ndim != 2 or audio.shape[-1] < p.frame:
            raise ValueError(f"audio must be [B, T >= {p.frame}], got {tuple(audio.shape)}")
        frames = audio.float().unfold(-1, p.frame, p.hop) * self.window
        magnitude = torch.fft.rfft(frames, n=p.n_fft).abs()
        log_mel = torch.log(torch.clamp(magnitude @ self.mel, min=p.log_floor))
        return log_mel @ self.dct
