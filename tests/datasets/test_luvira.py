"""The LuViRA adapter on the luvira-sim stand-in (published layout by default, and the
[R-sfs] layout), and its errors on broken folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from perloc.bench.core.errors import UserError
from perloc.datasets.luvira import LUVIRA_MICS_MM, STANDIN_MARKER, TRAJECTORIES, Luvira, Recording
from tests.bench.cli_helpers import invoke
from tests.datasets.corruption import linked_copy


@pytest.fixture
def broken(luvira_smoke, tmp_path) -> Path:
    """A hard-linked copy of the stand-in that a test may damage (unlink before writing)."""
    return linked_copy(luvira_smoke, tmp_path / "luvira")


@pytest.fixture
def broken_rsfs(luvira_smoke_rsfs, tmp_path) -> Path:
    """The same for the stand-in in the [R-sfs] layout."""
    return linked_copy(luvira_smoke_rsfs, tmp_path / "luvira-rsfs")


def test_reads_the_generated_trajectories(luvira_smoke):
    data = Luvira(luvira_smoke)
    assert data.provenance.kind == "synthetic" and (luvira_smoke / STANDIN_MARKER).is_file()
    assert data.splits() == {"train": ("music0001", "music0002", "music0004", "speech0001",
                                       "speech0002", "speech0004"),
                             "test": ("music0003", "speech0003")}
    frames = data.split_frames("test")
    assert frames.signals.shape[1:] == (11, 2048) and frames.source.shape[1:] == (2048,)
    assert set(frames.trajectory) == {"music0003", "speech0003"}
    assert np.isfinite(frames.position).all()
    # static mics: the median of the jittered mocap rows is the LuViRA coordinate (mm -> m)
    assert np.allclose(frames.mic_pos[0], np.asarray(LUVIRA_MICS_MM) / 1000, atol=1e-3)


def test_all_eight_trajectories_are_96_khz_folders_in_the_published_layout(luvira_smoke):
    assert sorted(p.name for p in luvira_smoke.iterdir() if p.is_dir()) == sorted(TRAJECTORIES)
    folder = luvira_smoke / "music0001"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["Sync.wav", "music0001_gt.csv", *(f"Track {i}.wav" for i in range(1, 13))])
    for name in ("Track 12.wav", "Sync.wav"):
        info = sf.info(str(folder / name))
        assert (info.samplerate, info.channels, info.subtype) == (96_000, 1, "PCM_16")
    sync, _ = sf.read(str(folder / "Sync.wav"))
    assert sync[:960].min() > 0.4 and np.abs(sync[960:]).max() == 0  # 10 ms pulse at 0 s
    table = pd.read_csv(folder / "music0001_gt.csv")
    assert list(table.columns) == ["timestamps", "X", "Y", "Z", "Roll", "Pitch", "Yaw",
                                   "Residual", *(f"Rot[{k}]" for k in range(9))]
    assert np.allclose(np.diff(table["timestamps"]), 0.01)  # 100 Hz


def test_one_room_for_all_eight_trajectories(luvira_smoke):
    marker = json.loads((luvira_smoke / STANDIN_MARKER).read_text())
    assert len({t["t60"] for t in marker["trajectories"]}) == 1  # one studio, as in LuViRA
    assert marker["layout"] == "published"


def test_the_r_sfs_layout_of_the_same_stand_in_reads_alike(luvira_smoke, luvira_smoke_rsfs):
    info = json.loads((luvira_smoke_rsfs / "music0001" / "info.json").read_text())
    assert info["sampling_rate"] == 96_000 and info["number_of_mics"] == 12
    published, rsfs = Luvira(luvira_smoke), Luvira(luvira_smoke_rsfs)
    assert rsfs.layouts["music0001"].kind == "r-sfs"
    assert published.layouts["music0001"].kind == "published"
    for name in ("music0003", "speech0003"):
        a, b = published.frames(name), rsfs.frames(name)
        assert np.array_equal(a.signals, b.signals) and np.array_equal(a.time, b.time)
        # independent 0.3 mm mocap jitter in each file
        assert np.allclose(a.position, b.position, atol=3e-3)
        assert np.allclose(a.mic_pos, b.mic_pos, atol=1e-3)


def test_silent_frames_are_dropped(luvira_smoke):
    data = Luvira(luvira_smoke, silence_db=30.0)
    everything = Luvira(luvira_smoke, silence_db=300.0)
    kept = sum(len(data.frames(t)) for t in TRAJECTORIES)
    total = sum(len(everything.frames(t)) for t in TRAJECTORIES)
    assert 0 < kept < total  # the speech tracks have pauses


def test_speaker_position_is_interpolated_linearly_and_nan_outside():
    rec = Recording("x", np.zeros((5, 10)), np.zeros(10), np.zeros((5, 3)),
                    np.array([0.0, 0.2, 0.4]),
                    np.array([[0.0, 0, 0], [np.nan, np.nan, np.nan], [2.0, 4.0, 6.0]]))
    got = rec.speaker_at(np.array([0.1, 0.3, 0.5]))
    assert np.allclose(got[:2], [[0.5, 1.0, 1.5], [1.5, 3.0, 4.5]]) and np.isnan(got[2]).all()


def test_no_position_inside_a_long_motion_capture_gap():
    # finite rows at 0, 0.1 and 1.0 s: the 0.9 s gap (> MAX_GT_GAP_S = 0.5 s) is not bridged
    rec = Recording("x", np.zeros((5, 10)), np.zeros(10), np.zeros((5, 3)),
                    np.array([0.0, 0.1, 0.5, 1.0]),
                    np.array([[0.0, 0, 0], [1.0, 0, 0], [np.nan] * 3, [9.0, 0, 0]]))
    got = rec.speaker_at(np.array([0.05, 0.1, 0.6, 1.0]))
    assert np.allclose(got[[0, 1, 3], 0], [0.5, 1.0, 9.0]) and np.isnan(got[2]).all()


def _replace(path: Path, text: str) -> None:
    path.unlink()
    path.write_text(text)


def _check_fails(root: Path, capsys, needle: str) -> None:
    result = invoke(capsys, "data", "check", "luvira", "--root", str(root))
    assert result.code == 2, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.err


def test_malformed_info_json_is_one_error_line(broken_rsfs, capsys):
    _replace(broken_rsfs / "music0001" / "info.json", "{not json")
    _check_fails(broken_rsfs, capsys, "music0001/info.json: malformed JSON")


def test_info_json_with_a_bad_field_is_named(broken_rsfs, capsys):
    _replace(broken_rsfs / "music0001" / "info.json", json.dumps({"sampling_rate": "96k",
                                                                    "number_of_mics": 12}))
    _check_fails(broken_rsfs, capsys, "'sampling_rate' must be a positive integer")


def test_missing_track_is_named(broken, capsys):
    (broken / "speech0002" / "Track 7.wav").unlink()
    _check_fails(broken, capsys, "speech0002/Track 7.wav: file not found")


def test_csv_with_missing_columns_is_named(broken_rsfs, capsys):
    path = broken_rsfs / "music0002" / "gt_positions.csv"
    table = pd.read_csv(path).drop(columns=["speaker_z", "mic3_y"])
    path.unlink()
    table.to_csv(path, index=False)
    _check_fails(broken_rsfs, capsys,
                 "music0002/gt_positions.csv: missing columns mic3_y, speaker_z")


def test_published_csv_with_a_bad_header_is_named(broken, capsys):
    path = broken / "music0002" / "music0002_gt.csv"
    table = pd.read_csv(path).rename(columns={"Residual": "Resid"})
    path.unlink()
    table.to_csv(path, index=False)
    _check_fails(broken, capsys, "music0002/music0002_gt.csv: missing columns Residual")


def test_track_at_the_wrong_sample_rate_is_named(broken, capsys):
    path = broken / "music0001" / "Track 3.wav"
    audio, _ = sf.read(str(path))
    path.unlink()
    sf.write(str(path), audio, 48_000)
    _check_fails(broken, capsys, "Track 3.wav: sample rate 48000 Hz, expected 96000 Hz (the "
                                 "other tracks)")


def test_missing_trajectory_folder_is_named(broken):
    shutil.rmtree(broken / "speech0004")
    with pytest.raises(UserError, match="speech0004: trajectory folder not found"):
        Luvira(broken).version  # noqa: B018


def test_check_command_lists_the_trajectories(luvira_smoke, capsys):
    result = invoke(capsys, "data", "check", "luvira", "--root", str(luvira_smoke))
    assert result.code == 0 and "synthetic" in result.out and result.out.count("music000") == 8
    assert result.out.count("published") == 8 and "music0001_gt.csv" in result.out


def test_training_mixes_recorded_and_simulated_frames(luvira_smoke, session_cache):
    from perloc.datasets.luvira import SIM_ROOM_DIMS, simulation_room_origin
    from perloc.datasets.sim.rir_bank import RirBank
    from perloc.datasets.ssl_augment import SimAugmentConfig
    from perloc.datasets.ssl_luvira import LuviraTrainConfig, LuviraTraining

    config = LuviraTrainConfig(augment=SimAugmentConfig(positions=3, windows=12, fraction=0.5,
                                                        t60=(0.12, 0.13)))
    bank = RirBank(session_cache / "caches" / "rir-bank-luvira-v1.h5")
    training = LuviraTraining(Luvira(luvira_smoke), config, bank=bank)
    batch = training.batch(40, np.random.default_rng(1))
    simulated = batch.meta["trajectory"] == "simulated"
    assert 5 < simulated.sum() < 35 and batch["signals"].shape == (40, 11, 2048)
    origin = simulation_room_origin(training.validation["mic_pos"][0])
    inside = batch["position"][simulated] - origin
    assert ((inside > 0) & (inside < np.asarray(SIM_ROOM_DIMS))).all()
    assert np.isfinite(batch["signals"]).all() and training.validation["signals"].shape[1] == 11
