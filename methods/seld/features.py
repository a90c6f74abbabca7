"""SELD input features of the 4-channel MIC format (spec seld.md §3.1, §3.2, §4.5).

Every set is computed in torch from one STFT per channel, batched over files and channels,
at fs = 24 kHz with a hop of 480 samples (20 ms), a periodic Hann window of 960 samples centred
in n_fft = 1024 points, a centred STFT (n_fft / 2 padding at both ends) cut to floor(N / 480)
frames. Audio is ``[B, 4, N]`` (torch or numpy); outputs are float32 ``[B, C, T, F]``, on
the audio tensor's device (array audio goes to the cell's device).

* :func:`log_mel` ``[B, 4, T, 64]``, the DCASE baseline's librosa recipe: |STFT|^2 (zero
  padding, no window normalisation) -> 64 Slaney-scale mel bands 0 .. fs/2 with Slaney area
  norm (``librosa.filters.mel``) -> 10 log10(max(1e-10, .)), then floored at 80 dB below the
  maximum of that file's channel (``librosa.power_to_db`` on one channel's [T, 64]).
  The baseline reads int16 / 32768 + 1e-8; that scaling is the caller's.
* :func:`gcc_phat_lags` ``[B, 6, T, 64]``: per frame and pair (m, n) in (1,2), (1,3), (1,4),
  (2,3), (2,4), (3,4) the phase of the baseline's cross-spectrum R = conj(X_m) X_n (R / |R|,
  and 1 where R = 0, as exp(i angle(R))), inverse rFFT to 1024 lags, then lags -32 .. +31:
  index i holds lag i - 32 (zero lag at index 32). If mic n hears the signal d samples after
  mic m (x_n[t] = x_m[t - d]), X_n = X_m exp(-i w d), R = |X_m|^2 exp(-i w d), the inverse
  transform of a delta at +d: the peak is at lag +d, index 32 + d. For the same ordered pair
  NGCC's X_m conj(X_n) (:mod:`perloc.methods.layers.gcc`) peaks at -d (gotcha 18).
* :func:`gcc_ms` ``[B, 10, T, 64]``: the 4 log-mel channels, then the 6 GCC channels, from one
  shared STFT.
* :func:`salsa_lite` ``[B, 7, T, 382]``: bins [2, 384) (50 Hz .. 9 kHz). Channels 0-3: the
  log-power spectrogram 10 log10(max(1e-10, |X|^2)) (no top_db). Channels 4-6: normalised
  phase differences of mics 2-4 against mic 1, angle(X_m conj(X_1)) / (delta k) with delta =
  2 pi fs / (n_fft c), c = 343 m/s, k the bin index (k = 0 read as 1). For a plane wave with
  unit direction u (towards the source) and mic positions r this is u . (r_m - r_1) in metres,
  the same at every bin below spatial aliasing. They are zeroed from the 2 kHz bin (85) on;
  the reference code applies that index after slicing from bin 2, so zeros start at absolute
  bin 87 (gotcha 19). ``FeatureParams.salsa_zero_after_slice`` (default True) keeps that; False
  zeroes from absolute bin 85.
* :class:`NgccLogMel` (and :func:`ngcc_log_mel`) ``[B, 4, T, 64]``: the NGCC+MS network's own
  log-mel, the torchaudio recipe written in torch (an ``nn.Module``, differentiable): STFT with
  reflect padding, divided by sqrt(sum w^2) (torchaudio ``normalized=True``), power -> 64 mel
  bands on the HTK mel scale with Slaney area norm (``librosa.filters.mel(htk=True,
  norm="slaney")``) -> 10 log10(max(1e-10, .)) floored at 80 dB below the maximum of each
  *example over all its channels* (torchaudio's AmplitudeToDB packs the channel axis). It
  differs from :func:`log_mel` (gotcha 17): do not mix the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np
import torch
from torch import Tensor, nn

from perloc.bench.core import device

PAIRS = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))  # 0-based (1,2), (1,3), ... (3,4)
ROWS_PER_CHUNK = 4096  # (frame, pair) cross-spectra per inverse FFT block (~16 MB of lags)


@dataclass(frozen=True)
class FeatureParams:
    """Front-end settings; the defaults are the DCASE2024 baseline's and Paper VI's."""

    fs: int = 24_000
    hop: int = 480
    win: int = 960
    n_fft: int = 1024
    n_mels: int = 64
    n_lags: int = 64  # GCC lags kept: -n_lags/2 .. n_lags/2 - 1
    amin: float = 1e-10
    top_db: float | None = 80.0  # log-mel floor below the maximum (None: no floor)
    salsa_fmin: float = 50.0  # Hz: lowest bin kept (floor(f n_fft / fs), at least 1)
    salsa_fmax_doa: float = 2000.0  # Hz: phase differences zeroed from this bin on
    salsa_fmax: float = 9000.0  # Hz: bins kept below this one
    speed_of_sound: float = 343.0
    salsa_zero_after_slice: bool = True  # the reference quirk: zeros from bin 87, not 85

    def __post_init__(self) -> None:
        if not 0 < self.win <= self.n_fft or self.hop < 1:
            raise ValueError(f"need 0 < win <= n_fft and hop >= 1, got {self}")
        if self.n_lags < 2 or self.n_lags % 2 or self.n_lags > self.n_fft:
            raise ValueError(f"n_lags must be even, 2 .. n_fft, got {self.n_lags}")
        lower, upper, cutoff = self.salsa_bins
        if not lower < cutoff <= self.n_fft // 2 + 1 or upper > cutoff:
            raise ValueError(f"SALSA-Lite bins {lower}, {upper}, {cutoff} are out of order")

    def n_frames(self, n_samples: int) -> int:
        return n_samples // self.hop

    @property
    def salsa_bins(self) -> tuple[int, int, int]:
        """(lower, upper, cutoff) bins: kept [lower, cutoff), phase zeroed from ``upper``."""
        def to_bin(f: float) -> int:
            return int(np.floor(f * self.n_fft / self.fs))
        return (max(1, to_bin(self.salsa_fmin)), to_bin(min(self.salsa_fmax_doa, self.fs // 2)),
                to_bin(self.salsa_fmax))

    @property
    def salsa_zero_from(self) -> int:
        """Index inside the kept bins from which the phase channels are zero."""
        lower, upper, _ = self.salsa_bins
        return upper if self.salsa_zero_after_slice else upper - lower


DEFAULT = FeatureParams()


@lru_cache(maxsize=8)
def mel_matrix(params: FeatureParams = DEFAULT, htk: bool = False) -> Tensor:
    """[n_fft/2 + 1, n_mels] float32 mel filterbank, 0 .. fs/2, Slaney area norm."""
    weights = librosa.filters.mel(sr=params.fs, n_fft=params.n_fft, n_mels=params.n_mels,
                                  fmin=0.0, fmax=params.fs / 2, htk=htk, norm="slaney")
    return device.host_tensor(np.ascontiguousarray(weights.T, dtype=np.float32))


def _audio(audio) -> Tensor:
    """A tensor stays where it is; array data goes to the cell's device."""
    x = audio if torch.is_tensor(audio) else device.tensor(np.asarray(audio))
    if x.ndim != 3:
        raise ValueError(f"audio must have shape [B, channels, N], got {tuple(x.shape)}")
    return x.to(torch.float32)


def _window(params: FeatureParams, device) -> Tensor:
    return torch.hann_window(params.win, periodic=True, dtype=torch.float32, device=device)


def _stft(x: Tensor, params: FeatureParams, pad_mode: str, window: Tensor) -> Tensor:
    """Centred STFT of ``x [B, C, N]`` -> complex ``[B, C, T, F]``, T = floor(N / hop)."""
    b, c, n = x.shape
    t = params.n_frames(n)
    if t < 1:
        raise ValueError(f"audio of {n} samples is shorter than one hop ({params.hop})")
    spec = torch.stft(x.reshape(b * c, n), params.n_fft, hop_length=params.hop,
                      win_length=params.win, window=window, center=True, pad_mode=pad_mode,
                      return_complex=True)
    return spec[..., :t].transpose(-1, -2).reshape(b, c, t, -1)


def stft(audio, params: FeatureParams = DEFAULT) -> Tensor:
    """The baseline's STFT (librosa's centred, zero-padded) ``[B, C, T, n_fft/2 + 1]``."""
    x = _audio(audio)
    return _stft(x, params, "constant", _window(params, x.device))


def _power(spec: Tensor) -> Tensor:
    return spec.real.square() + spec.imag.square()


def _to_db(power: Tensor, params: FeatureParams, top_db_dims: tuple[int, ...] | None) -> Tensor:
    db = 10.0 * torch.log10(power.clamp_min(params.amin))
    if params.top_db is not None and top_db_dims is not None:
        db = torch.maximum(db, db.amax(dim=top_db_dims, keepdim=True) - params.top_db)
    return db


def _log_mel(spec: Tensor, params: FeatureParams) -> Tensor:
    mel = _power(spec) @ mel_matrix(params).to(spec.device)
    return _to_db(mel, params, (-2, -1))  # floor per (file, channel), as power_to_db per channel


def _gcc(spec: Tensor, params: FeatureParams) -> Tensor:
    """Baseline GCC-PHAT lags ``[B, 6, T, n_lags]`` of a spectrum ``[B, 4, T, F]``."""
    b, _, t, f = spec.shape
    first, second = (torch.tensor(ix, device=spec.device) for ix in zip(*PAIRS, strict=True))
    half, n = params.n_lags // 2, params.n_fft
    frames = spec.permute(0, 2, 1, 3).reshape(b * t, -1, f)  # [B*T, 4, F]
    out = torch.empty(b * t, len(PAIRS), params.n_lags, device=spec.device)
    step = max(1, ROWS_PER_CHUNK // len(PAIRS))
    for r0 in range(0, b * t, step):
        block = frames[r0:r0 + step]
        cross = block[:, second] * block[:, first].conj()  # conj(X_m) X_n
        mag = cross.abs()
        cross = torch.where(mag > 0, cross / mag.clamp_min(torch.finfo(mag.dtype).tiny),
                            torch.ones((), dtype=cross.dtype, device=cross.device))
        lags = torch.fft.irfft(cross, n=n)
        out[r0:r0 + step, :, :half] = lags[..., n - half:]
        out[r0:r0 + step, :, half:] = lags[..., :half]
    return out.view(b, t, len(PAIRS), -1).transpose(1, 2)


def log_mel(audio, params: FeatureParams = DEFAULT) -> Tensor:
    """Baseline log-mel ``[B, 4, T, n_mels]`` (module docstring)."""
    return _log_mel(stft(audio, params), params)


def gcc_phat_lags(audio, params: FeatureParams = DEFAULT) -> Tensor:
    """Baseline GCC-PHAT ``[B, 6, T, n_lags]``, zero lag at index n_lags / 2."""
    return _gcc(stft(audio, params), params)


def gcc_ms(audio, params: FeatureParams = DEFAULT) -> Tensor:
    """GCC + MS ``[B, 10, T, 64]``: 4 log-mel channels then 6 GCC channels, one STFT."""
    spec = stft(audio, params)
    return torch.cat([_log_mel(spec, params), _gcc(spec, params)], dim=1)


def salsa_lite(audio, params: FeatureParams = DEFAULT) -> Tensor:
    """SALSA-Lite ``[B, 7, T, cutoff - lower]`` (module docstring; 382 bins by default)."""
    lower, _, cutoff = params.salsa_bins
    spec = stft(audio, params)[..., lower:cutoff]
    spectra = _to_db(_power(spec), params, None)
    k = torch.arange(lower, cutoff, dtype=torch.float32, device=spec.device).clamp_min(1)
    delta = 2 * np.pi * params.fs / (params.n_fft * params.speed_of_sound)
    phase = torch.angle(spec[:, 1:] * spec[:, :1].conj()) / (delta * k)
    phase[..., params.salsa_zero_from:] = 0.0
    return torch.cat([spectra, phase], dim=1)


class NgccLogMel(nn.Module):
    """The NGCC+MS branch's log-mel ``forward(audio [B, C, N]) -> [B, C, T, n_mels]``.

    Torchaudio's ``Spectrogram(n_fft, win_length, hop_length, normalized=True, power=2)`` cut
    to floor(N / hop) frames, ``MelScale(n_mels, fs, norm="slaney", mel_scale="htk")`` and
    ``AmplitudeToDB("power", top_db)``, in torch (module docstring). Reflect padding needs
    N > n_fft / 2.
    """

    def __init__(self, params: FeatureParams = DEFAULT) -> None:
        super().__init__()
        self.params = params
        window = _window(params, None)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("mel", mel_matrix(params, htk=True).clone(), persistent=False)
        self.norm = float(window.square().sum())  # |X / sqrt(sum w^2)|^2 = |X|^2 / sum w^2

    def forward(self, audio: Tensor) -> Tensor:
        spec = _stft(_audio(audio), self.params, "reflect", self.window)
        mel = (_power(spec) / self.norm) @ self.mel
        return _to_db(mel, self.params, (-3, -2, -1))


def ngcc_log_mel(audio, params: FeatureParams = DEFAULT) -> Tensor:
    """:class:`NgccLogMel` as a function (on the device of ``audio``)."""
    x = _audio(audio)
    return device.build(lambda: NgccLogMel(params)).to(x.device)(x)


FEATURE_SETS = {
    "log-mel": log_mel,
    "gcc-phat": gcc_phat_lags,
    "gcc-ms": gcc_ms,
    "salsa-lite": salsa_lite,
    "ngcc-log-mel": ngcc_log_mel,
}


def compute_features(name: str, audio, params: FeatureParams = DEFAULT) -> Tensor:
    """The feature set ``name`` (a key of :data:`FEATURE_SETS`) of ``audio [B, 4, N]``."""
    if name not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {name!r} (known: {', '.join(FEATURE_SETS)})")
    return FEATURE_SETS[name](audio, params)
