"""KWT training augmentation (spec kws_fl.md section 2.2), batched in torch; training only.

Waveform, in this order: (1) speed/stretch resampling r ~ U(0.85, 1.15): the clip is resized
to int(16000 r) samples by linear interpolation (half-pixel centres, as ``tf.image.resize``)
and centre-cropped or centre-padded back; (2) a time shift uniform in [-1600, 1599] samples,
zero-filled; (3) background noise: a random recording and 1-s segment, scaled by U(0, 0.1)
with probability 0.8 (else 0), added, and the sum clipped to [-1, 1]. Then, on the MFCC,
SpecAugment: 2 time masks of width U{0..24} and 2 coefficient masks of width U{0..6}, one set
of masks per batch (shared by every example, as the reference draws them), masked values
multiplied by 0.

Device: every draw comes from the explicit generator, on the generator's device; every other
tensor follows the batch's (the harness makes training batches on the CPU and the training
loop moves them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class AugmentParams:
    stretch: tuple[float, float] = (0.85, 1.15)
    shift: int = 1600
    noise_probability: float = 0.8
    noise_volume: float = 0.1
    time_masks: int = 2
    time_width: int = 25  # exclusive upper bound of a time mask's width
    coefficient_masks: int = 2
    coefficient_width: int = 7


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64, device=gen.device)


def stretch(audio: Tensor, rate: Tensor) -> Tensor:
    """Resize each clip to int(T * rate) samples, then centre-crop / centre-pad back to T."""
    b, t = audio.shape
    lengths = (t * rate).floor().clamp(min=2)
    out_index = torch.arange(t, dtype=torch.float64, device=audio.device)[None, :]
    offset = torch.floor((lengths - t) / 2)[:, None]  # crop start (>= 0) or minus the pad
    j = out_index + offset  # position in the resized clip
    src = (j + 0.5) * (t / lengths[:, None]) - 0.5
    left = src.floor().clamp(0, t - 1)
    right = (left + 1).clamp(max=t - 1)
    weight = (src - left).clamp(0, 1)
    rows = torch.arange(b, device=audio.device)[:, None]
    x = audio.double()
    values = x[rows, left.long()] * (1 - weight) + x[rows, right.long()] * weight
    inside = (j >= 0) & (j < lengths[:, None])
    return torch.where(inside, values, 0.0).to(audio.dtype)


def shift(audio: Tensor, shifts: Tensor) -> Tensor:
    """out[i] = audio[i - s] (zero where i - s is outside the clip), per example."""
    t = audio.shape[1]
    source = torch.arange(t, device=audio.device)[None, :] - shifts[:, None]
    valid = (source >= 0) & (source < t)
    values = torch.gather(audio, 1, source.clamp(0, t - 1))
    return torch.where(valid, values, torch.zeros((), dtype=audio.dtype, device=audio.device))


def background_noise(audio: Tensor, noises: list[np.ndarray], p: AugmentParams,
                     gen: torch.Generator) -> Tensor:
    """Add a scaled random 1-s noise segment to each clip and clip to [-1, 1]."""
    b, t = audio.shape
    picks = torch.randint(len(noises), (b,), generator=gen, device=gen.device)
    segments = []
    for k in picks.tolist():
        noise = noises[k]
        start = int(torch.randint(max(len(noise) - t, 0) + 1, (1,), generator=gen,
                                  device=gen.device))
        segment = np.zeros(t, dtype=np.float32)
        piece = noise[start:start + t]
        segment[: len(piece)] = piece
        segments.append(segment)
    volume = _uniform(b, 0.0, p.noise_volume, gen)
    draw = torch.rand(b, generator=gen, dtype=torch.float64, device=gen.device)
    volume = torch.where(draw < p.noise_probability, volume, 0.0).to(audio.device)
    noise = torch.as_tensor(np.stack(segments), device=audio.device)
    noisy = audio + volume[:, None].to(audio.dtype) * noise
    return noisy.clamp(-1.0, 1.0)


def augment_waveform(audio: Tensor, noises: list[np.ndarray], p: AugmentParams,
                     gen: torch.Generator) -> Tensor:
    b = audio.shape[0]
    audio = stretch(audio, _uniform(b, *p.stretch, gen).to(audio.device))
    audio = shift(audio, torch.randint(-p.shift, p.shift, (b,), generator=gen,
                                       device=gen.device).to(audio.device))
    return background_noise(audio, noises, p, gen)


def spec_augment(features: Tensor, p: AugmentParams, gen: torch.Generator) -> Tensor:
    """Zero ``time_masks`` frame bands and ``coefficient_masks`` coefficient bands, shared by
    the whole batch ``features [B, T, F]``."""
    _, t, f = features.shape
    keep = torch.ones(t, f, dtype=features.dtype, device=features.device)
    for count, width, size, axis in ((p.time_masks, p.time_width, t, 0),
                                     (p.coefficient_masks, p.coefficient_width, f, 1)):
        for _ in range(count):
            w = int(torch.randint(width, (1,), generator=gen, device=gen.device))
            start = int(torch.randint(max(size - w, 0) + 1, (1,), generator=gen,
                                      device=gen.device))
            if axis == 0:
                keep[start:start + w] = 0
            else:
                keep[:, start:start + w] = 0
    return features * keep
