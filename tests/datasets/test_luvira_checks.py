"""What constructing the LuViRA adapter checks (every trajectory, test and training, before a
cell could read it), and its version by content."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from perloc.bench.core.errors import UserError
from perloc.datasets import digest as digest_module
from perloc.datasets.digest import ContentDigests
from perloc.datasets.luvira import Luvira
from perloc.datasets.ssl_luvira import LuviraTest
from tests.datasets.corruption import linked_copy

GRID = {"setup": ("1_a",), "mics": (5, 11)}
# smoke stand-in: 2.5 s per trajectory = 40000 samples at 16 kHz = 19 frames of 2048 (hop
# 2048), centres at 0.064 + 0.128 k s; motion capture rows at 0.00 .. 2.50 s


@pytest.fixture
def copy(luvira_smoke, tmp_path) -> Path:
    """A hard-linked copy of the stand-in (``_rewrite`` unlinks a file before writing it)."""
    return linked_copy(luvira_smoke, tmp_path / "luvira")


@pytest.fixture
def rsfs(luvira_smoke_rsfs, tmp_path) -> Path:
    """The same for the stand-in in the [R-sfs] layout."""
    return linked_copy(luvira_smoke_rsfs, tmp_path / "luvira-rsfs")


def _gt(root: Path, name: str) -> Path:
    """The published ground-truth file of trajectory ``name`` of the stand-in."""
    return root / name / f"{name}_gt.csv"


def _rewrite_csv(path: Path, change) -> None:
    table = change(pd.read_csv(path))
    path.unlink()
    table.to_csv(path, index=False)


def _rewrite_info(path: Path, **fields) -> None:
    info = {**json.loads(path.read_text()), **fields}
    path.unlink()
    path.write_text(json.dumps(info))


def _shift(seconds: float):
    def change(table):
        table["timestamps"] += seconds
        return table
    return change


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_mocap_shifted_off_half_the_audio_is_an_error(copy):
    # shifted by 1.25 s: the 10 frame centres before 1.25 s have no position (10 of 19)
    _rewrite_csv(_gt(copy, "speech0003"), _shift(1.25))
    with pytest.raises(UserError) as exc:
        Luvira(copy)
    message = _one_line(exc)
    assert message.startswith(f"{_gt(copy, 'speech0003')}: 10 of the 19 frames")
    assert "52.6 %, more than 10 %" in message and "motion capture 1.25-3.75 s" in message


def test_mocap_of_a_training_trajectory_is_checked_too(copy):
    _rewrite_csv(_gt(copy, "music0001"), _shift(-2.0))
    with pytest.raises(UserError, match="music0001/music0001_gt.csv: 15 of the 19 frames"):
        Luvira(copy)


@pytest.mark.parametrize("layout", ["published", "r-sfs"])
def test_mocap_times_in_milliseconds_are_an_error(copy, rsfs, layout):
    # rows 10 "s" apart: every frame centre lies in a gap longer than 0.5 s
    root, column, name = ((copy, "timestamps", "music0004_gt.csv") if layout == "published"
                          else (rsfs, "time", "gt_positions.csv"))

    def to_ms(table):
        table[column] *= 1000
        return table
    _rewrite_csv(root / "music0004" / name, to_ms)
    with pytest.raises(UserError, match=f"music0004/{name}: 19 of the 19 frames"):
        Luvira(root)


def test_a_small_mocap_shift_is_a_warning_and_counted(copy, luvira_smoke, caplog):
    # shifted by 0.1 s: only the first frame (centre 0.064 s) falls outside
    _rewrite_csv(_gt(copy, "speech0003"), _shift(0.1))
    with caplog.at_level(logging.WARNING, logger="perloc.datasets.luvira"):
        test = LuviraTest(Luvira(copy), GRID)
    assert "speech0003/speech0003_gt.csv: 1 of the 19 frames" in caplog.text
    assert "5.3 %" in caplog.text
    assert test.describe()["frames_outside_gt"] == {
        name: int(name == "speech0003") for name in test.describe()["frames_outside_gt"]}
    reference = LuviraTest(Luvira(luvira_smoke), GRID).prepared
    first_kept = np.isclose(reference.time[reference.trajectory == "speech0003"], 0.064).any()
    assert len(test.prepared) == len(reference) - int(first_kept)


def test_a_track_shorter_than_one_frame_is_named(copy):
    for i in range(1, 13):  # every track 0.1 s: 1600 samples at 16 kHz < 2048
        path = copy / "speech0002" / f"Track {i}.wav"
        path.unlink()
        sf.write(path, np.zeros(9600, dtype=np.int16), 96_000, subtype="PCM_16")
    with pytest.raises(UserError) as exc:
        Luvira(copy)
    assert _one_line(exc) == (f"{copy / 'speech0002' / 'Track 1.wav'}: the tracks last 100 ms, "
                              "shorter than one 2048-sample frame at 16 kHz (128 ms)")


def test_one_short_track_is_named(copy):
    path = copy / "music0004" / "Track 9.wav"
    path.unlink()
    sf.write(path, np.zeros(1000, dtype=np.int16), 96_000, subtype="PCM_16")
    with pytest.raises(UserError, match=r"music0004/Track 9.wav: 1000 samples where the other "
                                        r"tracks have 240000 \(truncated\?\)"):
        Luvira(copy)


def test_an_empty_info_json_of_a_training_trajectory_fails_at_construction(rsfs):
    path = rsfs / "speech0004" / "info.json"
    path.unlink()
    path.write_text("")
    with pytest.raises(UserError, match="speech0004/info.json: malformed JSON"):
        Luvira(rsfs)


def test_an_empty_published_csv_of_a_training_trajectory_fails_at_construction(copy):
    path = _gt(copy, "speech0004")
    path.unlink()
    path.write_text("")
    with pytest.raises(UserError, match="speech0004/speech0004_gt.csv: malformed CSV"):
        Luvira(copy)


def test_a_training_trajectory_with_seven_mics_is_named(rsfs):
    _rewrite_info(rsfs / "music0002" / "info.json", number_of_mics=7)
    with pytest.raises(UserError) as exc:
        Luvira(rsfs)
    assert _one_line(exc) == (f"{rsfs / 'music0002' / 'info.json'}: number_of_mics 7 where the "
                              "other trajectories have 12")


def test_seven_mics_everywhere_cannot_serve_a_grid_of_eleven(rsfs):
    copy = rsfs
    for name in sorted(p.name for p in copy.iterdir() if p.is_dir()):
        _rewrite_info(copy / name / "info.json", number_of_mics=7)
    data = Luvira(copy)
    assert data.n_static == 6
    with pytest.raises(UserError, match="music0003/info.json: number_of_mics 7 gives 6 static "
                                        "microphones; the grid asks for M = 11"):
        LuviraTest(data, GRID)
    small = LuviraTest(data, {"setup": ("1_a",), "mics": (5,)})
    assert small.prepared.signals.shape[1] == 6  # tracks 1-6 static, track 7 the source


def _to_metres(table):
    columns = [c for c in table.columns if c not in ("time", "timestamps")]
    table[columns] = table[columns] / 1000
    return table


def test_positions_in_metres_read_as_millimetres_are_named(rsfs):
    _rewrite_csv(rsfs / "speech0001" / "gt_positions.csv", _to_metres)
    with pytest.raises(UserError) as exc:
        Luvira(rsfs)
    message = _one_line(exc)
    assert message.startswith(f"{rsfs / 'speech0001' / 'gt_positions.csv'}: the static "
                              "microphones lie 0.001 x as far apart as in the published LuViRA "
                              "layout (spec 5.1; expected 0.9-1.1)")
    assert "values in metres? info.json position_unit is 'mm'" in message


def test_published_positions_in_metres_are_named(copy):
    _rewrite_csv(_gt(copy, "speech0001"), _to_metres)
    with pytest.raises(UserError) as exc:
        Luvira(copy)
    message = _one_line(exc)
    assert message.startswith(f"{_gt(copy, 'speech0001')}: the speaker's median position (")
    assert message.endswith("values in metres? the published ground truth is in millimetres")


def test_millimetres_declared_as_metres_are_named(rsfs):
    _rewrite_info(rsfs / "music0004" / "info.json", position_unit="m")
    with pytest.raises(UserError, match=r"music0004/gt_positions.csv: the static microphones "
                                        r"lie 1e\+03 x as far apart.*values in millimetres\?"):
        Luvira(rsfs)


def test_version_is_by_content_and_remembered(copy, luvira_smoke, tmp_path, monkeypatch):
    reads = []
    real = digest_module.file_digest
    monkeypatch.setattr(digest_module, "file_digest", lambda p: reads.append(p) or real(p))
    store = tmp_path / "caches" / "digests-v1.sqlite"
    first = Luvira(copy, digests=ContentDigests(store)).version
    assert len(reads) == 8 * 14  # 12 tracks, Sync.wav, the ground-truth CSV per trajectory
    assert first == Luvira(luvira_smoke).version  # the path is not part of it
    reads.clear()
    assert Luvira(copy, digests=ContentDigests(store)).version == first and reads == []

    # overwrite samples in place with as many other bytes: same size, still a valid WAV
    path = copy / "music0001" / "Track 4.wav"
    original = path.read_bytes()
    path.unlink()
    path.write_bytes(original)  # a file of its own (the copy is hard-linked)
    with path.open("r+b") as handle:
        handle.seek(len(original) // 2)
        handle.write(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    changed = Luvira(copy, digests=ContentDigests(store)).version
    assert changed != first and reads == [path]
    with path.open("r+b") as handle:
        handle.write(original)
    assert Luvira(copy, digests=ContentDigests(store)).version == first


def test_a_valid_info_json_edit_is_a_new_version(rsfs, luvira_smoke_rsfs):
    _rewrite_info(rsfs / "speech0001" / "info.json", note="re-exported")
    assert Luvira(rsfs).version != Luvira(luvira_smoke_rsfs).version


def test_a_sync_wav_edit_is_a_new_version_with_the_same_frames(copy, luvira_smoke):
    path = copy / "speech0001" / "Sync.wav"
    path.unlink()
    sf.write(path, np.zeros(240_000, dtype=np.int16), 96_000, subtype="PCM_16")
    changed, reference = Luvira(copy), Luvira(luvira_smoke)
    assert changed.version != reference.version
    assert np.array_equal(changed.frames("speech0001").signals,
                          reference.frames("speech0001").signals)
