"""The STARSS23 adapter on a hand-written folder in the real DCASE2024 MIC layout (WAVs written
sample by sample with soundfile, CSVs as text): splits by fold digit, frame counts, the known
events and ADPIT slots, the ACS views, the content version, and one UserError line naming the
file for every kind of bad input (also through ``bench data check starss23``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from perloc.bench.core.errors import UserError
from perloc.datasets.seld_labels import ACS_TRANSFORMS
from perloc.datasets.starss23 import Starss23, fold_of
from tests.bench.cli_helpers import invoke

# (sub-folder, stem) -> (samples, CSV text); label frames = samples // 2400
TRAIN_CSV = "0,1,0,90,0,150\n0,1,1,-90,0,200\n3,5,0,0,45,100\n"
LAYOUT = {
    ("dev-train-tau", "fold3_room4_mix001"): (24_100, TRAIN_CSV),  # 10 frames
    ("dev-train-sony", "fold3_room21_mix001"): (7_300, "2,12,0,-180,-40,400\n"),  # 3 frames
    ("dev-train-synth", "fold1_room1_mix001"): (4_800, ""),  # 2 frames, no events
    ("dev-test-tau", "fold4_room2_mix001"): (12_000, "0,0,0,10,20,75\n4,0,0,12,20,80\n"),
    ("dev-test-sony", "fold4_room23_mix002"): (2_400, "0,3,2,-45,0,300\n"),  # 1 frame
}


def _samples(n: int, k: int) -> np.ndarray:
    """int16 [n, 4]: channel c holds (c + 1) * 1000 + k + i % 7 (known after scaling)."""
    i = np.arange(n)[:, None]
    return ((np.arange(4) + 1) * 1000 + k + i % 7).astype(np.int16)


def _write_wav(path: Path, data: np.ndarray, rate: int = 24_000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    sf.write(path, data, rate, subtype="PCM_16")


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    path.write_text(text)


@pytest.fixture
def root(tmp_path) -> Path:
    root = tmp_path / "STARSS23"
    for k, ((sub, stem), (n, text)) in enumerate(LAYOUT.items()):
        _write_wav(root / "mic_dev" / sub / f"{stem}.wav", _samples(n, k))
        _write_text(root / "metadata_dev" / sub / f"{stem}.csv", text)
    (root / "mic_dev" / "dev-train-tau" / "._fold3_room4_mix001.wav").write_bytes(b"\0" * 10)
    (root / "README.md").write_text("not read\n")
    return root


def test_reads_the_hand_written_layout(root):
    data = Starss23(root)
    assert data.splits() == {
        "train": ("fold1_room1_mix001", "fold3_room21_mix001", "fold3_room4_mix001"),
        "test": ("fold4_room23_mix002", "fold4_room2_mix001")}
    assert {s: data.n_label_frames(s) for s in data.recordings} == {
        "fold3_room4_mix001": 10, "fold3_room21_mix001": 3, "fold1_room1_mix001": 2,
        "fold4_room2_mix001": 5, "fold4_room23_mix002": 1}
    assert data.provenance.kind == "real" and data.provenance.files == 5
    info = data.describe()
    assert info["n_files"] == {"train": 3, "test": 2} and info["folds"] == {1: 1, 3: 2, 4: 2}
    assert info["n_label_frames"] == {"train": 15, "test": 6}
    assert info["n_event_rows"] == {"train": 4, "test": 3}

    ev = data.events("fold3_room4_mix001")
    assert ev.frame.tolist() == [0, 0, 3] and ev.cls.tolist() == [1, 1, 5]
    assert ev.track.tolist() == [0, 1, 0]
    s = np.sqrt(0.5)
    np.testing.assert_allclose(ev.xyz, [[0, 1, 0], [0, -1, 0], [s, 0, s]], atol=1e-12)
    np.testing.assert_allclose(ev.dist, [1.5, 2.0, 1.0])  # centimetres read as metres
    assert len(data.events("fold1_room1_mix001").frame) == 0

    audio = data.audio("fold3_room4_mix001")
    assert audio.dtype == np.float32 and audio.shape == (4, 24_100)
    np.testing.assert_array_equal(audio * 32768, _samples(24_100, 0).T)  # int16 / 32768

    labels = data.labels("fold3_room4_mix001")
    assert labels.shape == (10, 6, 5, 13) and labels.dtype == np.float32
    # two class-1 events in frame 0: ADPIT slots B0, B1; one class-5 event in frame 3: A0
    np.testing.assert_allclose(labels[0, 1, :, 1], [1, 0, 1, 0, 1.5], atol=1e-7)
    np.testing.assert_allclose(labels[0, 2, :, 1], [1, 0, -1, 0, 2.0], atol=1e-7)
    np.testing.assert_allclose(labels[3, 0, :, 5], [1, s, 0, s, 1.0], atol=1e-7)
    assert labels.sum() == pytest.approx(labels[[0, 3]].sum())
    # a row at or past the last whole label frame (frame 4 of a 5-frame file is kept, none past)
    assert data.labels("fold4_room2_mix001")[4, 0, 0, 0] == 1


def test_fewer_classes_shape_the_labels_and_bound_the_csvs(root):
    data = Starss23(root, n_classes=13)
    assert data.labels("fold4_room23_mix002").shape == (1, 6, 5, 13)
    with pytest.raises(UserError, match="class index 12 is not in 0..5"):
        Starss23(root, n_classes=6)
    with pytest.raises(UserError, match="n_classes must be a positive integer"):
        Starss23(root, n_classes=0)


def test_fold_digit():
    assert [fold_of(s) for s in ("fold1_x", "fold4_room2_mix001", "fold0_a", "fold")] == \
        [1, 4, None, None]


def test_acs_views_swap_channels_and_transform_directions(root):
    data = Starss23(root)
    audio, events = data.audio("fold3_room4_mix001"), data.events("fold3_room4_mix001")
    views = data.acs_views("fold3_room4_mix001")
    assert len(views) == 8
    for (view, ev), (_, _, order) in zip(views, ACS_TRANSFORMS, strict=True):
        np.testing.assert_array_equal(view, audio[list(order)])
        np.testing.assert_array_equal(ev.dist, events.dist)
        np.testing.assert_array_equal(ev.frame, events.frame)
    np.testing.assert_allclose(views[0][1].xyz, events.xyz, atol=1e-12)
    # (az + 180, el): left becomes right, front-up becomes back-up
    s = np.sqrt(0.5)
    np.testing.assert_allclose(views[6][1].xyz, [[0, -1, 0], [0, 1, 0], [-s, 0, s]], atol=1e-12)


def _replace_bytes(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def test_version_follows_content(root):
    first = Starss23(root).version
    assert Starss23(root).version == first
    csv = root / "metadata_dev" / "dev-test-sony" / "fold4_room23_mix002.csv"
    _write_text(csv, "0,3,2,-45,0,301\n")
    assert Starss23(root).version != first


def test_bench_data_check_reads_every_recording(root, capsys):
    result = invoke(capsys, "data", "check", "starss23", "--root", str(root))
    assert result.code == 0, result
    lines = result.out.splitlines()
    assert lines[0].startswith(f"{root}: real, version ")
    rows = {line.split()[0]: line.split() for line in lines[3:]}
    assert set(rows) == {"dev-test-sony", "dev-test-tau", "dev-train-sony", "dev-train-synth",
                         "dev-train-tau"}
    # folder, split, files, minutes, label frames, event rows, max events/frame, same-class
    assert rows["dev-train-tau"] == ["dev-train-tau", "train", "1", "0", "10", "3", "2", "1"]
    assert rows["dev-test-tau"][1:] == ["test", "1", "0", "5", "2", "1", "0"]


# ------------------------------------------------------------------------------ bad input

WAV = ("mic_dev", "dev-train-tau", "fold3_room4_mix001.wav")
CSV = ("metadata_dev", "dev-train-tau", "fold3_room4_mix001.csv")


def _path(root: Path, parts) -> Path:
    return root.joinpath(*parts)


def _no_mic_dev(root):
    os.rename(root / "mic_dev", root / "foa_dev")
    return root / "mic_dev", "folder not found"


def _no_metadata_dev(root):
    shutil.rmtree(root / "metadata_dev")
    return root / "metadata_dev", "folder not found"


def _wav_without_csv(root):
    _path(root, CSV).unlink()
    return _path(root, WAV), f"no metadata file {_path(root, CSV)}"


def _csv_without_wav(root):
    extra = root / "metadata_dev" / "dev-test-tau" / "fold4_room2_mix009.csv"
    _write_text(extra, "0,1,0,0,0,100\n")
    return extra, "no recording"


def _csv_in_another_subfolder(root):
    csv = _path(root, CSV)
    os.rename(csv, root / "metadata_dev" / "dev-train-sony" / csv.name)
    return _path(root, WAV), "no metadata file"


def _three_channels(root):
    _write_wav(_path(root, WAV), _samples(24_100, 0)[:, :3])
    return _path(root, WAV), "3 channels, expected 4"


def _48_khz(root):
    _write_wav(_path(root, WAV), _samples(48_200, 0), rate=48_000)
    return _path(root, WAV), "sample rate 48000 Hz, expected 24000 Hz"


def _garbage_wav(root):
    _replace_bytes(_path(root, WAV), np.random.default_rng(0).integers(
        0, 256, 5000, dtype=np.uint8).tobytes())
    return _path(root, WAV), "cannot decode audio"


def _truncated_wav(root):
    data = _path(root, WAV).read_bytes()
    _replace_bytes(_path(root, WAV), data[: len(data) // 2])
    return _path(root, WAV), "truncated"


def _shorter_than_a_frame(root):
    _write_wav(_path(root, WAV), _samples(2_000, 0))
    return _path(root, WAV), "shorter than one 100 ms label frame"


def _csv_text(name: str, text: str, needle: str):
    """A damage that rewrites the training CSV with ``text``."""
    def damage(root):
        _write_text(_path(root, CSV), text)
        return _path(root, CSV), needle
    damage.__name__ = name
    return damage


def _renamed(stem: str):
    """A damage that renames the training recording and its CSV to ``stem``."""
    def damage(root):
        for parts, ext in ((WAV, "wav"), (CSV, "csv")):
            os.rename(_path(root, parts), _path(root, parts).with_name(f"{stem}.{ext}"))
        return root / "mic_dev" / "dev-train-tau" / f"{stem}.wav", "fold1..fold4"
    damage.__name__ = f"named_{stem}"
    return damage


CSV_DAMAGE = [
    _csv_text("five_columns", "0,1,0,90,150\n", ":1: 5 columns where the reference format has 6"),
    _csv_text("negative_frame", "0,1,0,90,0,150\n-1,1,0,90,0,150\n", ":2: negative frame index -1"),
    _csv_text("unknown_class", "0,13,0,90,0,150\n", ":1: class index 13 is not in 0..12"),
    _csv_text("not_a_number", "0,1,0,ninety,0,150\n", ":1: not a number"),
    _csv_text("metadata_of_a_longer_file", "0,1,0,90,0,150\n600,1,0,90,0,150\n",
              "events up to frame 600"),
]


def _no_test_files(root):
    for sub in ("dev-test-tau", "dev-test-sony"):
        shutil.rmtree(root / "mic_dev" / sub)
        shutil.rmtree(root / "metadata_dev" / sub)
    return root / "mic_dev", "no fold4 (dev-test) recordings"


def _wav_outside_a_subfolder(root):
    stray = root / "mic_dev" / "fold3_room9_mix001.wav"
    _write_wav(stray, _samples(4800, 0))
    return stray, "directly under mic_dev/"


def _same_stem_twice(root):
    copy = root / "mic_dev" / "dev-train-sony" / "fold3_room4_mix001.wav"
    shutil.copyfile(_path(root, WAV), copy)
    shutil.copyfile(_path(root, CSV), root / "metadata_dev" / "dev-train-sony" / "fold3_room4_mix001.csv")
    return _path(root, WAV), f"a second recording named fold3_room4_mix001 (also {copy})"


DAMAGE = [_no_mic_dev, _no_metadata_dev, _wav_without_csv, _csv_without_wav,
          _csv_in_another_subfolder, _three_channels, _48_khz, _garbage_wav, _truncated_wav,
          _shorter_than_a_frame, *CSV_DAMAGE, _renamed("fold5_room4_mix001"),
          _renamed("room4_mix001"), _no_test_files, _wav_outside_a_subfolder, _same_stem_twice]


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__.strip("_"))
def test_bad_input_is_one_error_line_naming_the_file(root, damage, capsys):
    path, needle = damage(root)
    with pytest.raises(UserError) as caught:
        Starss23(root)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and needle in message, message
    result = invoke(capsys, "data", "check", "starss23", "--root", str(root))
    lines = result.err.strip().splitlines()
    assert result.code == 2 and len(lines) == 1 and lines[0] == f"error: {message}", result
    assert result.out == ""


def test_a_missing_root_names_the_flag(tmp_path, capsys):
    with pytest.raises(UserError, match=f"--data-root: {tmp_path / 'nope'} does not exist"):
        Starss23(tmp_path / "nope")
    result = invoke(capsys, "data", "check", "starss23", "--root", str(tmp_path / "nope"))
    assert result.code == 2 and result.err.strip() == \
        f"error: --root: {tmp_path / 'nope'} does not exist", result
