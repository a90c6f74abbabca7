"""Audio file reading with strict checks, and librosa-compatible silence splitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from perloc.bench.core.errors import UserError


def read_audio(path: Path, expected_rate: int, *, channels: int | None = 1) -> np.ndarray:
    """Read a whole file as float32 (frames,) for mono or (frames, channels).

    Raises UserError naming the file when it is missing, undecodable, at another sample
    rate, has the wrong channel count, is empty, or holds NaN/Inf samples.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise UserError(f"{path}: cannot decode audio ({_first_line(exc)})") from None
    if rate != expected_rate:
        raise UserError(f"{path}: sample rate {rate} Hz, expected {expected_rate} Hz")
    if channels is not None and data.shape[1] != channels:
        raise UserError(f"{path}: {data.shape[1]} channels, expected {channels}")
    if data.shape[0] == 0:
        raise UserError(f"{path}: no audio samples")
    if not np.isfinite(data).all():
        raise UserError(f"{path}: contains NaN or Inf samples")
    return data[:, 0] if channels == 1 else data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def frame_power_db(y: np.ndarray, frame_length: int = 2048, hop_length: int = 512) -> np.ndarray:
    """Per-frame mean power in dB relative to the loudest frame.

    Frames are centred (zero padding of frame_length // 2 on both sides), as librosa's
    ``feature.rms(center=True)``: p_t = mean(frame_t^2), db_t = 10 log10(max(p_t, 1e-10))
    - 10 log10(max(max_t p_t, 1e-10)).
    """
    pad = frame_length // 2
    padded = np.pad(np.asarray(y, dtype=np.float64), (pad, pad))
    n_frames = 1 + (len(padded) - frame_length) // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length][:n_frames]
    power = np.mean(frames**2, axis=1)
    return 10 * np.log10(np.maximum(power, 1e-10)) - 10 * np.log10(max(power.max(), 1e-10))


def nonsilent_intervals(y: np.ndarray, top_db: float = 20.0, frame_length: int = 2048,
                        hop_length: int = 512) -> np.ndarray:
    """[start, end) sample intervals whose frame power is above -top_db dB of the peak.

    Same rule as ``librosa.effects.split`` (top_db 20, frame 2048, hop 512 in Paper V).
    """
    loud = frame_power_db(y, frame_length, hop_length) > -top_db
    edges = list(np.flatnonzero(np.diff(loud.astype(np.int8))) + 1)
    if loud[0]:
        edges.insert(0, 0)
    if loud[-1]:
        edges.append(len(loud))
    samples = np.minimum(np.asarray(edges, dtype=np.int64) * hop_length, len(y))
    return samples.reshape(-1, 2)


def trim_silence(y: np.ndarray, top_db: float = 20.0) -> np.ndarray:
    """Concatenate the non-silent intervals of ``y`` (Paper V's silence removal)."""
    intervals = nonsilent_intervals(y, top_db)
    if len(intervals) == 0:
        return y[:0]
    return np.concatenate([y[a:b] for a, b in intervals])
