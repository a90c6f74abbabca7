"""The MFCC front end against an independent numpy/scipy computation of the same recipe."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import torch

from perloc.datasets.features.mfcc import Mfcc


def reference_mfcc(x: np.ndarray) -> np.ndarray:
    """Frame by frame, with scipy's window and DCT and a loop-built filterbank."""
    window = scipy.signal.get_window("hann", 480, fftbins=True)
    freqs = np.linspace(0, 8000, 257)
    mel = lambda f: 1127.0 * math.log(1.0 + f / 700.0)  # noqa: E731
    edges = np.linspace(mel(20.0), mel(7600.0), 82)
    bank = np.zeros((80, 257))
    for band in range(80):
        lo, mid, hi = edges[band:band + 3]
        for k in range(1, 257):
            m = mel(freqs[k])
            if lo < m < hi:
                bank[band, k] = (m - lo) / (mid - lo) if m <= mid else (hi - m) / (hi - mid)
    out = []
    for start in range(0, len(x) - 480 + 1, 160):
        spectrum = np.abs(np.fft.rfft(x[start:start + 480] * window, n=512))
        log_mel = np.log(np.maximum(bank @ spectrum, 1e-12))
        c = scipy.fft.dct(log_mel, type=2, norm="ortho")[:40]
        c[0] *= math.sqrt(2.0)
        out.append(c)
    return np.array(out)


def test_shape_is_98_by_40():
    assert Mfcc()(torch.zeros(3, 16000)).shape == (3, 98, 40)


def test_all_zero_audio_gives_the_known_c0():
    out = Mfcc()(torch.zeros(1, 16000))[0]
    assert torch.allclose(out[:, 0], torch.full((98,), 160 * math.log(1e-12) / math.sqrt(160)),
                          rtol=1e-6)
    assert out[0, 0].item() == pytest.approx(-349.508, abs=1e-3)
    assert out[:, 1:].abs().max() < 1e-3


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_the_independent_reference(seed):
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(16000)
    ours = Mfcc()(torch.as_tensor(x[None], dtype=torch.float32))[0].double().numpy()
    ref = reference_mfcc(x)
    assert np.abs(ours - ref).max() <= 1e-4 * np.abs(ref).max()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-3)
