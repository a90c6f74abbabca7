"""The published LuViRA layout and the [R-sfs] layout, written BY HAND here (numpy, pandas,
soundfile; not by the stand-in's writer) from the same content: the adapter reads both to the
same frames, at positions known from the fixture; units are checked against the published
microphone coordinates (spec tdoa_ssl.md section 5.1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from perloc.bench.core.errors import UserError
from perloc.datasets.luvira import TRAJECTORIES, Luvira
from tests.bench.cli_helpers import invoke

RATE = 16_000  # any rate: the published layout takes it from the WAV headers
SECONDS = 1.0  # 16000 samples: 7 frames of 2048 (hop 2048), centres 0.064 + 0.128 k s
# spec 5.1, typed independently of the adapter's table (metres; mic 2 z = 1047.4 mm)
SPEC_MICS_M = np.array([
    [2.4465, 1.7398, 1.1537], [2.8781, -0.6485, 1.0474], [1.3280, -3.1332, 1.5653],
    [-1.0559, -3.5457, 1.1082], [-3.0765, -0.0590, 1.3715], [-2.4119, 2.4772, 1.5450],
    [2.2276, -0.7563, 0.2135], [1.7898, -2.3761, 0.2047], [0.0502, -3.3589, 0.2127],
    [-1.9206, -2.8205, 0.1443], [-2.9237, 0.7184, 0.1470]])
PUBLISHED_HEADER = ["timestamps", "X", "Y", "Z", "Roll", "Pitch", "Yaw", "Residual",
                    *(f"Rot[{k}]" for k in range(9))]


def speaker_mm(t: np.ndarray, index: int) -> np.ndarray:
    """The fixture's speaker: walks along x at 0.5 m/s, y and z fixed per trajectory (mm)."""
    return np.column_stack([-1000 + 500 * t, np.full_like(t, 200.0 + 100 * index),
                            np.full_like(t, 1200.0)])


def _tracks(folder: Path, index: int) -> None:
    rng = np.random.default_rng(index)
    audio = (rng.standard_normal((12, int(SECONDS * RATE))) * 3000).astype(np.int16)
    for i, track in enumerate(audio, start=1):
        sf.write(folder / f"Track {i}.wav", track, RATE, subtype="PCM_16")


def write_fixture(root: Path, layout: str, scale: float = 1.0, occluded=()) -> Path:
    """Eight trajectories in ``layout`` (``published`` or ``r-sfs``), the same audio and
    motion in both; positions multiplied by ``scale`` (1e-3: a file in metres)."""
    t = np.round(np.arange(0, SECONDS + 0.005, 0.01), 2)  # 100 Hz mocap over the audio
    for index, name in enumerate(TRAJECTORIES):
        folder = root / name
        folder.mkdir(parents=True)
        _tracks(folder, index)
        speaker = speaker_mm(t, index) * scale
        if layout == "published":
            table = pd.DataFrame(0.0, index=range(len(t)), columns=PUBLISHED_HEADER)
            table["timestamps"] = t
            table[["X", "Y", "Z"]] = speaker
            table["Residual"] = 0.8
            table[["Rot[0]", "Rot[4]", "Rot[8]"]] = 1.0
            table.loc[list(occluded), "Residual"] = np.nan  # mocap lost the rigid body
            table.to_csv(folder / f"{name}.csv", index=False)
            sf.write(folder / "Sync.wav", np.zeros(int(SECONDS * RATE), np.int16), RATE)
        else:
            columns = {"time": t}
            for i, mic in enumerate(SPEC_MICS_M * 1000 * scale, start=1):
                columns |= {f"mic{i}_{a}": np.full(len(t), mic[k]) for k, a in enumerate("xyz")}
            columns |= {f"speaker_{a}": speaker[:, k] for k, a in enumerate("xyz")}
            table = pd.DataFrame(columns)
            table.loc[list(occluded), [c for c in table.columns if c != "time"]] = np.nan
            table.to_csv(folder / "gt_positions.csv", index=False)
            (folder / "info.json").write_text(json.dumps({"sampling_rate": RATE,
                                                          "number_of_mics": 12}))
    return root


def _one_line(exc: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_both_layouts_read_to_the_same_frames_at_the_known_positions(tmp_path):
    published = Luvira(write_fixture(tmp_path / "published", "published"), silence_db=300.0)
    rsfs = Luvira(write_fixture(tmp_path / "rsfs", "r-sfs"), silence_db=300.0)
    assert {lay.kind for lay in published.layouts.values()} == {"published"}
    assert {lay.kind for lay in rsfs.layouts.values()} == {"r-sfs"}
    assert published.n_static == rsfs.n_static == 11
    for index, name in enumerate(TRAJECTORIES):
        a, b = published.frames(name), rsfs.frames(name)
        assert len(a) == len(b) == 7
        assert np.array_equal(a.signals, b.signals) and np.array_equal(a.source, b.source)
        assert np.array_equal(a.time, b.time) and list(a.trajectory) == list(b.trajectory)
        assert np.allclose(a.position, b.position, atol=1e-6)
        assert np.allclose(a.mic_pos, b.mic_pos, atol=1e-6)
        centres = 0.064 + 0.128 * np.arange(7)
        assert np.allclose(a.time, centres)
        assert np.allclose(a.position, speaker_mm(centres, index) / 1000, atol=1e-6)
        assert np.allclose(a.mic_pos[0], SPEC_MICS_M, atol=1e-6)
        # the source is the 12th track, read at the file's own rate (no info.json)
        expected, _ = sf.read(published.root / name / "Track 12.wav", dtype="float32")
        assert np.allclose(a.source[0], expected[:2048], atol=1e-6)


def test_published_header_with_spaces_and_rows_without_residual(tmp_path):
    # rows 20-40 (0.2-0.4 s): no residual and X/Y/Z zero, i.e. occluded; bridged (< 0.5 s)
    root = write_fixture(tmp_path / "luvira", "published", occluded=range(20, 41))
    for name in TRAJECTORIES:
        path = root / name / f"{name}.csv"
        table = pd.read_csv(path)
        table.loc[20:40, ["X", "Y", "Z"]] = 0.0
        text = table.to_csv(index=False).splitlines()
        text[0] = ",".join(f" {c}  " for c in text[0].split(","))
        path.write_text("\n".join(text) + "\n")
    data = Luvira(root, silence_db=300.0)
    frames = data.frames("music0001")
    assert len(frames) == 7 and data.layouts["music0001"].outside_gt == 0
    assert np.allclose(frames.position, speaker_mm(frames.time, 0) / 1000, atol=1e-6)


def test_rows_without_residual_over_half_a_second_leave_frames_without_position(tmp_path):
    # rows 20-79 (0.2-0.79 s) occluded: centres 0.192 .. 0.704 s lie in a 0.61 s gap
    root = write_fixture(tmp_path / "luvira", "published", occluded=range(20, 80))
    with pytest.raises(UserError) as exc:
        Luvira(root)
    assert _one_line(exc).startswith(f"{root / 'music0001' / 'music0001.csv'}: 5 of the 7 "
                                     "frames of the audio")


def test_one_trajectory_may_be_in_the_other_layout(tmp_path):
    root = write_fixture(tmp_path / "published", "published")
    other = write_fixture(tmp_path / "rsfs", "r-sfs")
    for path in (root / "speech0002").iterdir():
        path.unlink()
    for path in (other / "speech0002").iterdir():
        path.rename(root / "speech0002" / path.name)
    data = Luvira(root)
    assert data.layouts["speech0002"].kind == "r-sfs"
    assert data.layouts["speech0001"].kind == "published"


@pytest.mark.parametrize("layout,file", [("published", "music0003/music0003.csv"),
                                         ("r-sfs", "music0003/gt_positions.csv")])
def test_ground_truth_in_metres_is_one_error_naming_the_file(tmp_path, layout, file):
    root = write_fixture(tmp_path / "luvira", layout)
    good = write_fixture(tmp_path / "metres", layout, scale=1e-3)
    (root / file).unlink()
    (good / file).rename(root / file)
    with pytest.raises(UserError) as exc:
        Luvira(root)
    message = _one_line(exc)
    assert message.startswith(f"{root / file}: ") and "values in metres?" in message


def test_r_sfs_in_centimetres_is_refused_against_the_known_layout(tmp_path):
    # 10x too small: a 0.67 m array passed the old plausibility span (0.1-100 m)
    root = write_fixture(tmp_path / "luvira", "r-sfs")
    cm = write_fixture(tmp_path / "cm", "r-sfs", scale=0.1)
    (root / "speech0001" / "gt_positions.csv").unlink()
    (cm / "speech0001" / "gt_positions.csv").rename(root / "speech0001" / "gt_positions.csv")
    with pytest.raises(UserError, match=r"speech0001/gt_positions.csv: the static microphones "
                                        r"lie 0.1 x as far apart as in the published LuViRA"):
        Luvira(root)


def test_metres_through_the_cli_is_exit_2_and_one_line(tmp_path, capsys):
    root = write_fixture(tmp_path / "luvira", "published")
    metres = write_fixture(tmp_path / "metres", "published", scale=1e-3)
    csv = root / "speech0004" / "speech0004.csv"
    csv.unlink()
    (metres / "speech0004" / "speech0004.csv").rename(csv)
    result = invoke(capsys, "data", "check", "luvira", "--root", str(root))
    assert result.code == 2 and result.out == "", result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {csv}: the speaker's median "
                                                   "position (-0.00075, 0.0009, 0.0012) m")


@pytest.mark.parametrize("extra,expected", [
    ([], "found 0"), (["a.csv", "b.CSV"], "found 3: a.csv, b.CSV, music0002.csv")])
def test_zero_or_several_csvs_is_one_error_naming_the_folder(tmp_path, extra, expected):
    root = write_fixture(tmp_path / "luvira", "published")
    if not extra:
        (root / "music0002" / "music0002.csv").unlink()
    for name in extra:
        (root / "music0002" / name).write_text("timestamps,X,Y,Z,Residual\n")
    with pytest.raises(UserError) as exc:
        Luvira(root)
    assert _one_line(exc) == (f"{root / 'music0002'}: expected exactly one ground-truth *.csv "
                              f"(published layout, no info.json), {expected}")


def test_bad_published_header_is_named(tmp_path):
    root = write_fixture(tmp_path / "luvira", "published")
    path = root / "speech0003" / "speech0003.csv"
    table = pd.read_csv(path).rename(columns={"X": "x", "timestamps": "time"})
    table.to_csv(path, index=False)
    with pytest.raises(UserError) as exc:
        Luvira(root)
    assert _one_line(exc).startswith(f"{path}: missing columns timestamps, X (expected no "
                                     "info.json, so the published header: timestamps, X, Y, Z")


def test_missing_or_extra_published_track_is_named(tmp_path):
    root = write_fixture(tmp_path / "luvira", "published")
    (root / "music0004" / "Track 12.wav").unlink()
    with pytest.raises(UserError, match="music0004/Track 12.wav: file not found"):
        Luvira(root)
    (root / "music0004" / "Track 11.wav").rename(root / "music0004" / "Track 12.wav")
    (root / "music0004" / "Track 13.wav").write_bytes(b"")
    with pytest.raises(UserError, match="music0004/Track 13.wav: the published layout has "
                                        "Track 1 - Track 12 only"):
        Luvira(root)


def test_a_track_at_another_rate_is_named_against_the_others(tmp_path):
    root = write_fixture(tmp_path / "luvira", "published")
    path = root / "speech0001" / "Track 1.wav"
    sf.write(path, np.zeros(8000, np.int16), 8000, subtype="PCM_16")
    with pytest.raises(UserError) as exc:
        Luvira(root)
    assert _one_line(exc) == (f"{path}: sample rate 8000 Hz, expected 16000 Hz (the other "
                              "tracks)")
