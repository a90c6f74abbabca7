import numpy as np
import pytest
import soundfile as sf

from perloc.bench.core.errors import UserError
from perloc.datasets.audio import frame_power_db, nonsilent_intervals, read_audio, trim_silence


def _tone(seconds: float, fs: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_trim_silence_drops_leading_trailing_and_inner_silence():
    silence = np.zeros(16000, dtype=np.float32)
    y = np.concatenate([silence, _tone(1.0), silence, _tone(0.5), silence])
    intervals = nonsilent_intervals(y)
    assert len(intervals) == 2
    # boundaries fall on the 512-sample hop grid, within one frame of the truth
    assert abs(intervals[0, 0] - 16000) <= 2048 and abs(intervals[1, 1] - 56000) <= 2048
    trimmed = trim_silence(y)
    assert 1.4 * 16000 < len(trimmed) < 1.9 * 16000


def test_frame_power_is_relative_to_the_loudest_frame():
    db = frame_power_db(np.concatenate([_tone(0.5), 0.01 * _tone(0.5)]))
    assert db.max() == pytest.approx(0.0)
    assert db[-3] == pytest.approx(-40.0, abs=1.0)


def test_read_audio_good_file(tmp_path):
    path = tmp_path / "a.flac"
    sf.write(path, _tone(0.3), 16000, subtype="PCM_16")
    assert read_audio(path, 16000).shape == (4800,)


def test_read_audio_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.flac"
    with pytest.raises(UserError, match="missing.flac: file not found"):
        read_audio(missing, 16000)
    wrong_rate = tmp_path / "rate.flac"
    sf.write(wrong_rate, _tone(0.3), 22050, subtype="PCM_16")
    with pytest.raises(UserError, match="rate.flac: sample rate 22050 Hz, expected 16000"):
        read_audio(wrong_rate, 16000)
    stereo = tmp_path / "stereo.flac"
    sf.write(stereo, np.stack([_tone(0.3)] * 2, axis=1), 16000, subtype="PCM_16")
    with pytest.raises(UserError, match="stereo.flac: 2 channels"):
        read_audio(stereo, 16000)
    good = tmp_path / "good.flac"
    sf.write(good, _tone(1.0), 16000, subtype="PCM_16")
    truncated = tmp_path / "truncated.flac"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(UserError, match="truncated.flac: "):
        read_audio(truncated, 16000)
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="empty.flac: "):
        read_audio(empty, 16000)
    nan = tmp_path / "nan.wav"
    data = _tone(0.1)
    data[10] = np.nan
    sf.write(nan, data, 16000, subtype="FLOAT")
    with pytest.raises(UserError, match="nan.wav: contains NaN"):
        read_audio(nan, 16000)
