"""Audio file reading with strict checks, and librosa-compatible silence splitting.

:func:`read_audio` decodes a whole file; :func:`probe_audio` checks a file without decoding
it (the header, and that the file is as long as its header says: the WAV ``data`` chunk, the
last FLAC frame), cheap enough to run over every file of a training set before any work.
Both raise one :class:`UserError` line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from perloc.bench.core.errors import UserError

_DECODE_ERRORS = (sf.LibsndfileError, RuntimeError, ValueError, TypeError, EOFError, OSError)


def dataset_folder(root: Path, flag: str) -> Path:
    """``root`` when it is a folder; else a UserError naming ``flag`` (``--data-root`` for a
    run, ``--root`` for ``bench data check``) and the path."""
    root = Path(root)
    if root.is_dir():
        return root
    if root.exists():
        raise UserError(f"{flag}: {root} is not a folder")
    if root.is_symlink():
        raise UserError(f"{flag}: {root} is a broken symbolic link")
    raise UserError(f"{flag}: {root} does not exist")


def require_file(path: Path) -> None:
    """A UserError naming ``path`` unless it is a readable regular file (or a link to one)."""
    if path.is_file():
        return
    if path.is_symlink():
        raise UserError(f"{path}: broken symbolic link")
    if path.exists():
        raise UserError(f"{path}: not a regular file")
    raise UserError(f"{path}: file not found")


def read_audio(path: Path, expected_rate: int, *, channels: int | None = 1) -> np.ndarray:
    """Read a whole file as float32 (frames,) for mono or (frames, channels).

    Raises UserError naming the file when it is missing, undecodable, truncated (shorter than
    its header says), at another sample rate, has the wrong channel count, is empty, or holds
    NaN/Inf samples.
    """
    path = Path(path)
    require_file(path)
    _check_wav_length(path)
    try:
        with sf.SoundFile(str(path)) as handle:
            rate, declared = handle.samplerate, handle.frames
            data = handle.read(dtype="float32", always_2d=True)
    except _DECODE_ERRORS as exc:
        raise UserError(f"{path}: cannot decode audio ({_first_line(exc)})") from None
    if rate != expected_rate:
        raise UserError(f"{path}: sample rate {rate} Hz, expected {expected_rate} Hz")
    if channels is not None and data.shape[1] != channels:
        raise UserError(f"{path}: {data.shape[1]} channels, expected {channels}")
    if data.shape[0] == 0:
        raise UserError(f"{path}: no audio samples")
    if 0 < declared != data.shape[0]:
        raise UserError(f"{path}: truncated (the header announces {declared} samples, "
                        f"{data.shape[0]} could be read)")
    if not np.isfinite(data).all():
        raise UserError(f"{path}: contains NaN or Inf samples")
    return data[:, 0] if channels == 1 else data


def probe_audio(path: Path, expected_rate: int, *, channels: int | None = 1) -> int:
    """Check a file without decoding its samples; return its length in samples.

    The same errors as :func:`read_audio` for a missing file, an unreadable header, another
    sample rate or channel count, no samples, and a WAV or FLAC file cut short (its ``data``
    chunk or its last FLAC frame incomplete). Damage inside the audio that leaves the header
    and the end intact is found only by decoding.
    """
    path = Path(path)
    require_file(path)
    _check_wav_length(path)
    try:
        info = sf.info(str(path))
    except _DECODE_ERRORS as exc:
        raise UserError(f"{path}: cannot decode audio ({_first_line(exc)})") from None
    if info.samplerate != expected_rate:
        raise UserError(f"{path}: sample rate {info.samplerate} Hz, expected {expected_rate} Hz")
    if channels is not None and info.channels != channels:
        raise UserError(f"{path}: {info.channels} channels, expected {channels}")
    if info.frames <= 0:
        raise UserError(f"{path}: no audio samples")
    problem = _flac_end_problem(path)
    if problem:
        raise UserError(f"{path}: {problem}")
    return int(info.frames)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _check_wav_length(path: Path) -> None:
    """A UserError when a RIFF/WAVE file's ``data`` chunk is longer than the bytes left
    (libsndfile would silently read the shorter file). Not a WAV file: nothing to check."""
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return
            size = handle.seek(0, 2)
            position = 12
            while position + 8 <= size:
                handle.seek(position)
                chunk = handle.read(8)
                length = int.from_bytes(chunk[4:8], "little")
                if chunk[:4] == b"data":
                    have = size - position - 8
                    if length not in (0, 0xFFFFFFFF) and length > have:  # 0/~0: streamed
                        raise UserError(f"{path}: truncated (the header announces {length} "
                                        f"bytes of audio, the file holds {have})")
                    return
                position += 8 + length + (length & 1)
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _crc_table(poly: int, width: int) -> tuple[int, ...]:
    top, mask, table = 1 << (width - 1), (1 << width) - 1, []
    for byte in range(256):
        crc = byte << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly if crc & top else crc << 1) & mask
        table.append(crc)
    return tuple(table)


_CRC8, _CRC16 = _crc_table(0x07, 8), _crc_table(0x8005, 16)
_UTF8_LEADS = ((0x80, 0x00), (0xE0, 0xC0), (0xF0, 0xE0), (0xF8, 0xF0), (0xFC, 0xF8),
               (0xFE, 0xFC), (0xFF, 0xFE))  # (mask, value) of a lead byte with n more bytes


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def _flac_frame_header(data: bytes, at: int, block: int) -> tuple[int, int] | None:
    """(first sample, samples) of the FLAC frame whose header starts at ``at``, or None when
    the bytes there are not a frame header (bad CRC-8). ``block``: the stream's fixed block
    size (STREAMINFO), which numbers the frames of a fixed-blocksize stream."""
    end = len(data)
    if at + 5 > end:
        return None
    size_code, variable = data[at + 2] >> 4, data[at + 1] & 1
    rate_code = data[at + 2] & 0x0F
    if size_code == 0 or rate_code == 0x0F or data[at + 3] & 1:
        return None
    first = data[at + 4]  # the frame or sample number, UTF-8-like: 1 to 7 bytes
    extra = next((n for n, (mask, lead) in enumerate(_UTF8_LEADS) if first & mask == lead), None)
    if extra is None:
        return None
    number = first & ~_UTF8_LEADS[extra][0] & 0xFF
    position = at + 5
    for _ in range(extra):
        if position >= end or data[position] & 0xC0 != 0x80:
            return None
        number, position = (number << 6) | (data[position] & 0x3F), position + 1
    if size_code in (6, 7):
        width = size_code - 5
        samples = int.from_bytes(data[position:position + width], "big") + 1
        position += width
    else:
        samples = 192 if size_code == 1 else (576 << (size_code - 2) if size_code < 6
                                              else 256 << (size_code - 8))
    position += {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if position >= end or _crc8(data[at:position]) != data[position]:
        return None
    return (number if variable else number * block), samples


def _flac_end_problem(path: Path) -> str | None:
    """Why a FLAC file does not end with a complete last frame (None: it does, or it is not a
    FLAC file). The last frame is found by its header (sync code, CRC-8); its CRC-16 must
    match and it must end at STREAMINFO's total sample count."""
    try:
        with path.open("rb") as handle:
            if handle.read(4) != b"fLaC":
                return None
            total, block, max_frame = 0, 0, 0
            while True:
                header = handle.read(4)
                if len(header) < 4:
                    return "truncated (inside its FLAC metadata)"
                length = int.from_bytes(header[1:4], "big")
                if header[0] & 0x7F == 0:  # STREAMINFO
                    info = handle.read(length)
                    if len(info) < 34:
                        return "truncated (inside its FLAC metadata)"
                    block = int.from_bytes(info[2:4], "big")
                    max_frame = int.from_bytes(info[7:10], "big")
                    total = int.from_bytes(info[13:18], "big") & ((1 << 36) - 1)
                else:
                    handle.seek(length, 1)
                if header[0] & 0x80:
                    break
            audio = handle.tell()
            size = handle.seek(0, 2)
            if size <= audio:
                return "no FLAC audio frames"
            handle.seek(max(audio, size - max(2 * max_frame, 1 << 16)))
            tail = handle.read()
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    if len(tail) > 128 and tail[-128:-125] == b"TAG":  # an ID3v1 trailer
        tail = tail[:-128]
    at = len(tail)
    while True:
        at = max(tail.rfind(b"\xff\xf8", 0, at), tail.rfind(b"\xff\xf9", 0, at))
        if at < 0:
            return "truncated (its last FLAC frame is incomplete)"
        frame = _flac_frame_header(tail, at, block)
        if frame is None or _crc16(tail[at:-2]) != int.from_bytes(tail[-2:], "big"):
            continue
        end = frame[0] + frame[1]
        if total and end != total:
            return f"truncated (its FLAC frames end at sample {end} of {total})"
        return None


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
