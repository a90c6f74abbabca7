"""SELD input features: parity with the librosa / numpy reference recipes, hand-derived GCC peaks
and SALSA-Lite phase differences, the scaler and the feature cache."""

from __future__ import annotations

import dataclasses

import librosa
import numpy as np
import pytest
import torch

from perloc.datasets.seld_labels import MIC_POSITIONS
from perloc.methods.seld.feature_store import (
    FeatureScaler,
    SeldFeatureCache,
    audio_digest,
    feature_key,
    fit_scaler,
)
from perloc.methods.seld.features import (
    FeatureParams,
    NgccLogMel,
    gcc_ms,
    gcc_phat_lags,
    log_mel,
    salsa_lite,
)

FS, HOP, WIN, NFFT = 24_000, 480, 960, 1024
P = FeatureParams()


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """One random 4-channel clip [1, 4, N] (float64, as the baseline reads int16 / 32768)."""
    rng = np.random.default_rng(0)
    return 0.1 * rng.standard_normal((1, 4, FS + 123)) + 1e-8


def _librosa_stft(x: np.ndarray, pad_mode: str = "constant") -> np.ndarray:
    """[C, T, F] complex128: librosa's centred STFT cut to floor(N / 480) frames."""
    spec = [librosa.stft(ch, n_fft=NFFT, hop_length=HOP, win_length=WIN, window="hann",
                         center=True, pad_mode=pad_mode) for ch in x]
    return np.stack(spec)[..., : x.shape[-1] // HOP].transpose(0, 2, 1)


def test_shapes_and_frame_count(clip):
    t = clip.shape[-1] // HOP  # floor(N / 480) = 50
    assert log_mel(clip).shape == (1, 4, t, 64)
    assert gcc_phat_lags(clip).shape == (1, 6, t, 64)
    assert gcc_ms(clip).shape == (1, 10, t, 64)
    assert salsa_lite(clip).shape == (1, 7, t, 382)
    assert NgccLogMel()(torch.from_numpy(clip)).shape == (1, 4, t, 64)
    assert P.salsa_bins == (2, 85, 384) and P.salsa_zero_from == 85


def test_log_mel_matches_librosa_melspectrogram_and_power_to_db(clip):
    """Tolerance 1e-4 dB: ours runs in float32, librosa in float64 (measured ~5e-6)."""
    expected = []
    for ch in clip[0]:
        mel = librosa.feature.melspectrogram(y=ch, sr=FS, n_fft=NFFT, hop_length=HOP,
                                             win_length=WIN, window="hann", center=True,
                                             pad_mode="constant", power=2.0, n_mels=64)
        mel = mel[:, : clip.shape[-1] // HOP]
        expected.append(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0).T)
    np.testing.assert_allclose(log_mel(clip)[0].numpy(), np.stack(expected), rtol=0, atol=1e-4)


def test_log_mel_top_db_floor_is_per_file_and_channel():
    """A silent channel next to a loud one is floored 80 dB below its own maximum, not the
    loud channel's: power_to_db runs per channel in the baseline."""
    noise = np.random.default_rng(1).standard_normal(4800)
    x = np.zeros((1, 4, 4800))
    x[0, 0] = 100 * noise  # maximum ~ +60 dB: a shared floor would be ~ -20 dB
    x[0, 1, :1000] = noise[:1000]  # ~ +20 dB, then silence (-100 dB before the floor)
    out = log_mel(x)[0].numpy()
    assert out[1].min() == pytest.approx(out[1].max() - 80.0, abs=1e-4)
    assert out[0].min() > out[1].min() + 20
    assert (out[2] == -100.0).all()  # all zero: amin 1e-10 everywhere, nothing to floor


def test_gcc_matches_the_baseline_numpy_recipe(clip):
    """R = conj(X_m) X_n, exp(i angle R), irfft to 1024 lags, last 32 then first 32 lags."""
    spec = _librosa_stft(clip[0])
    expected = []
    for m in range(4):
        for n in range(m + 1, 4):
            cc = np.fft.irfft(np.exp(1j * np.angle(np.conj(spec[m]) * spec[n])))
            expected.append(np.concatenate([cc[:, -32:], cc[:, :32]], axis=-1))
    np.testing.assert_allclose(gcc_phat_lags(clip)[0].numpy(), np.stack(expected), atol=1e-5)


@pytest.mark.parametrize("d", [1, 3, 7])
def test_gcc_peak_of_an_integer_delay_on_mic_2(d):
    """Mic 2 hears mic 1's noise d samples later: x_2[t] = x_1[t - d] (a circular shift, so
    exactly X_2 = X_1 exp(-i w d) per frame up to the window edges); mics 3, 4 equal mic 1.
    Pair (m, n) = (1, 2): R = conj(X_1) X_2 = |X_1|^2 exp(-i w d), whose inverse transform is a
    delta at lag +d, stored at index 32 + d. Pairs (2, 3), (2, 4): X_n = X_2 exp(+i w d), lag -d,
    index 32 - d. Pairs (1, 3), (1, 4), (3, 4): identical signals, lag 0, index 32."""
    rng = np.random.default_rng(d)
    x = np.repeat(rng.standard_normal((1, 1, 9600)), 4, axis=1)
    x[0, 1] = np.roll(x[0, 0], d)
    peaks = gcc_phat_lags(x)[0].argmax(dim=-1)[:, 1:-1]  # [6, T], the zero-padded ends left out
    expected = torch.tensor([32 + d, 32, 32, 32 - d, 32 - d, 32])
    assert (peaks == expected[:, None]).all()


def test_gcc_ms_is_log_mel_then_gcc(clip):
    out = gcc_ms(clip)
    assert torch.equal(out[:, :4], log_mel(clip)) and torch.equal(out[:, 4:], gcc_phat_lags(clip))


def test_salsa_lite_matches_the_baseline_numpy_recipe(clip):
    """Spectra within 0.05 dB (float32 vs float64, worst in near-empty bins; median ~1e-6)."""
    spec = _librosa_stft(clip[0])
    k = np.arange(NFFT // 2 + 1)
    k[0] = 1
    phase = np.angle(spec[1:] * np.conj(spec[:1])) / (2 * np.pi * FS / (NFFT * 343) * k)
    phase = phase[..., 2:384]
    phase[..., 85:] = 0  # the reference quirk: index 85 after slicing = absolute bin 87
    spectra = librosa.power_to_db(np.abs(spec) ** 2, ref=1.0, amin=1e-10, top_db=None)[..., 2:384]
    out = salsa_lite(clip)[0].numpy()
    np.testing.assert_allclose(out[:4], spectra, atol=0.05)
    assert np.median(np.abs(out[:4] - spectra)) < 1e-4
    np.testing.assert_allclose(out[4:], phase, atol=1e-5)


def _plane_wave_tone(k: int, u: np.ndarray, n: int = 9600) -> np.ndarray:
    """[4, n] a cosine at bin k's frequency f_k = k fs / n_fft arriving from direction u: mic m
    hears it at t_m = -u . r_m / c (earlier where it is closer to the source)."""
    t = np.arange(n) / FS
    arrival = -(MIC_POSITIONS @ u) / 343.0
    return np.cos(2 * np.pi * (k * FS / NFFT) * (t[None] - arrival[:, None]))


@pytest.mark.parametrize("zero_after_slice", [True, False])
def test_salsa_lite_plane_wave_phase_differences(zero_after_slice):
    """At bin k, X_m = X_1 exp(-i w_k (t_m - t_1)) with w_k = 2 pi f_k, so the normalised phase
    difference is -w_k (t_m - t_1) / (2 pi f_k / c) = -c (t_m - t_1) = u . (r_m - r_1) metres,
    at every unzeroed bin (|.| <= 2.5 rad below 2 kHz: no wrapping). Tolerance 1e-3 m: the
    tone's negative-frequency image leaks through the Hann sidelobes (~1e-4 m at k = 5).
    Reference zeroing starts at absolute bin 87 (index 85), the corrected one at bin 85."""
    params = FeatureParams(salsa_zero_after_slice=zero_after_slice)
    az, el = np.radians(60.0), np.radians(20.0)
    u = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    expected = (MIC_POSITIONS[1:] - MIC_POSITIONS[:1]) @ u
    last = 86 if zero_after_slice else 84  # last absolute bin with a phase feature
    bins = [5, 20, 47, last, last + 1]
    out = salsa_lite(np.stack([_plane_wave_tone(k, u) for k in bins]), params).numpy()
    for i, k in enumerate(bins):
        phase = out[i, 4:, 1:-1, k - 2]  # [3, T]; the padded first and last frames left out
        if k <= last:
            np.testing.assert_allclose(phase, np.broadcast_to(expected[:, None], phase.shape),
                                       atol=1e-3)
        else:
            assert (phase == 0).all()
    assert (out[:, 4:, :, last - 1:] == 0).all() and (out[:, 4:, :, last - 2] != 0).all()


def test_ngcc_log_mel_matches_the_torchaudio_recipe_in_librosa(clip):
    """Reference: librosa STFT with reflect padding / sum w^2, HTK-scale Slaney-norm mel,
    power_to_db over the whole [4, 64, T] example (one 80 dB floor for all channels).
    Tolerance 1e-4 dB (float32 vs float64, measured ~9e-6)."""
    spec = _librosa_stft(clip[0], pad_mode="reflect")
    window = librosa.filters.get_window("hann", WIN, fftbins=True)
    power = np.abs(spec) ** 2 / np.sum(window**2)
    mel = power @ librosa.filters.mel(sr=FS, n_fft=NFFT, n_mels=64, htk=True, norm="slaney").T
    expected = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=80.0)
    module = NgccLogMel()
    x = torch.from_numpy(clip).float().requires_grad_()
    out = module(x)
    np.testing.assert_allclose(out[0].detach().numpy(), expected, atol=1e-4)
    out.sum().backward()  # usable inside a network: gradients reach the audio
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert not list(module.parameters()) and not module.state_dict()  # nothing to train or save


def test_scaler_streams_to_the_column_mean_and_std():
    rng = np.random.default_rng(2)
    files = [rng.normal(3.0, 2.0, size=(7, t, 5)) for t in (11, 1, 30)]
    files[0][2, :, 1] = 4.0  # a constant column in one file only
    scaler = fit_scaler(files)
    whole = np.concatenate(files, axis=1)  # [C, sum T, F]
    np.testing.assert_allclose(scaler.mean, whole.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(scaler.std, whole.std(axis=1), rtol=1e-12)
    out = scaler.transform(files[2])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, (files[2] - whole.mean(axis=1)[:, None]) /
                               whole.std(axis=1)[:, None], rtol=1e-5, atol=1e-6)
    constant = FeatureScaler().partial_fit(np.ones((1, 4, 2)))
    assert (constant.std == 1).all()  # zero spread is read as 1, as sklearn does
    batched = FeatureScaler().partial_fit(np.stack([files[0][:, :1], files[1]]))  # [B, C, T, F]
    np.testing.assert_allclose(batched.mean, np.concatenate([files[0][:, :1], files[1]],
                                                            axis=1).mean(axis=1), rtol=1e-12)
    state = FeatureScaler.from_state(scaler.state())
    assert np.array_equal(state.transform(files[1]), scaler.transform(files[1]))


def test_scaler_fits_on_training_files_unless_asked_for_all():
    train, test = np.zeros((2, 3, 4)), np.full((2, 5, 4), 8.0)
    assert (fit_scaler([train], [test]).mean == 0).all()
    assert (fit_scaler([train], [test], fit_on="all").mean == 5.0).all()  # baseline: 40 / 8
    with pytest.raises(ValueError, match="fit_on"):
        fit_scaler([train], fit_on="test")


def test_feature_cache_is_hit_and_keyed_by_params(tmp_path, clip):
    audio = clip[0].astype(np.float32)
    loads = []

    def load():
        loads.append(1)
        return audio

    cache = SeldFeatureCache(tmp_path / "seld.h5")
    version = audio_digest(audio)
    first = cache.get("salsa-lite", version, load)
    assert first.shape == (7, 50, 382) and cache.computed == 1
    again = SeldFeatureCache(tmp_path / "seld.h5").get("salsa-lite", version, load)
    assert np.array_equal(first, again) and len(loads) == 1  # read back, audio not loaded
    np.testing.assert_array_equal(first, salsa_lite(audio[None])[0].numpy())
    changed = dataclasses.replace(FeatureParams(), salsa_zero_after_slice=False)
    assert feature_key("salsa-lite", version) != feature_key("salsa-lite", version, changed)
    assert feature_key("salsa-lite", version) != feature_key("gcc-ms", version)
    assert feature_key("salsa-lite", version) != feature_key("salsa-lite", version + "x")
    other = cache.get("salsa-lite", version, load, changed)
    assert cache.computed == 2 and len(loads) == 2 and not np.array_equal(first, other)
