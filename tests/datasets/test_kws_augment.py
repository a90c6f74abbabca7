"""KWT augmentation: known answers for stretch and shift, noise bounds, batch-shared masks."""

from __future__ import annotations

import numpy as np
import torch

from perloc.datasets.kws_augment import (
    AugmentParams,
    augment_waveform,
    background_noise,
    shift,
    spec_augment,
    stretch,
)


def test_stretch_by_one_is_the_identity_and_slows_a_tone_down():
    t = torch.arange(16000, dtype=torch.float64) / 16000
    tone = torch.sin(2 * torch.pi * 500 * t)[None]
    assert torch.allclose(stretch(tone, torch.tensor([1.0], dtype=torch.float64)), tone)
    slowed = stretch(tone, torch.tensor([1.1], dtype=torch.float64))[0].numpy()
    peak = np.argmax(np.abs(np.fft.rfft(slowed))) * 16000 / 16000
    assert abs(peak - 500 / 1.1) < 3  # a longer clip plays the tone lower


def test_stretch_below_one_pads_the_centre():
    out = stretch(torch.ones(1, 16000), torch.tensor([0.9], dtype=torch.float64))[0]
    assert out[:800].abs().sum() == 0 and out[-800:].abs().sum() == 0 and (out[800:15200] == 1).all()


def test_shift_moves_and_zero_fills():
    x = torch.arange(1, 11, dtype=torch.float32)[None].repeat(2, 1)
    out = shift(x, torch.tensor([3, -2]))
    assert out[0].tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert out[1].tolist() == [3, 4, 5, 6, 7, 8, 9, 10, 0, 0]


def test_background_noise_is_bounded_and_sometimes_off():
    gen = torch.Generator().manual_seed(0)
    noise = [np.ones(40000, dtype=np.float32)]
    out = background_noise(torch.zeros(400, 16000), noise, AugmentParams(), gen)
    level = out[:, 0]
    assert (level >= 0).all() and (level <= 0.1).all()
    assert 0.1 < (level == 0).float().mean() < 0.35  # probability 0.8 of noise
    assert torch.equal(out, out[:, :1].expand_as(out))  # a constant recording stays constant


def test_spec_augment_masks_are_shared_and_bounded():
    gen = torch.Generator().manual_seed(1)
    features = torch.ones(5, 98, 40)
    out = spec_augment(features, AugmentParams(), gen)
    assert torch.equal(out[0], out[4])  # one set of masks for the batch
    zero_rows = (out[0] == 0).all(dim=1).sum()
    zero_cols = (out[0] == 0).all(dim=0).sum()
    assert zero_rows <= 2 * 24 and zero_cols <= 2 * 6


def test_waveform_pipeline_is_seeded():
    noises = [np.random.default_rng(0).standard_normal(20000).astype(np.float32) * 0.1]
    x = torch.randn(4, 16000) * 0.1
    a = augment_waveform(x, noises, AugmentParams(), torch.Generator().manual_seed(5))
    b = augment_waveform(x, noises, AugmentParams(), torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == x.shape and a.abs().max() <= 1
