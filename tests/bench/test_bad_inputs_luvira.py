"""Bad LuViRA input (published layout: tracks, ground-truth CSV in metres or with a bad header,
several CSVs) through ``bench run ssl``: one error line naming the file, exit 2, nothing
written, also after a clean run has warmed every cache (records, digests), and found while
planning even where only a training trajectory is broken."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from cli_helpers import invoke
from test_cli_errors import _assert_clean_failure

from perloc.bench.run import cells
from tests.datasets.corruption import linked_copy

RUN = ("run", "ssl", "--profile", "smoke")


@pytest.fixture()
def copy(luvira_smoke, tmp_path):
    """A hard-linked copy of the stand-in: unlink a file before writing it."""
    return linked_copy(luvira_smoke, tmp_path / "luvira")


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch):
    """Each ``bench run`` is a new process: no dataset prepared by an earlier invoke."""
    monkeypatch.setattr(cells, "_DATASETS", {})


def _files(workspace) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(workspace)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(workspace.rglob("*"))
            if p.is_file() and "luvira" not in p.relative_to(workspace).parts}


def test_a_warm_cache_hides_no_changed_file(capsys, workspace, copy, monkeypatch):
    first = invoke(capsys, *RUN, "-m", "multilat", "--data-root", str(copy), "--json")
    assert first.code == 0, first.err
    before = _files(workspace)
    # a training trajectory's track (multilat never reads its audio), same size, random bytes
    victim = copy / "speech0001" / "Track 5.wav"
    original = victim.read_bytes()
    victim.unlink()
    victim.write_bytes(np.random.default_rng(5).integers(0, 256, len(original),
                                                         dtype=np.uint8).tobytes())
    monkeypatch.setattr(cells, "_DATASETS", {})
    bad = invoke(capsys, *RUN, "-m", "multilat", "--data-root", str(copy))
    assert bad.code == 2 and bad.err.strip() == f"error: {victim}: not a WAV file (no RIFF/WAVE " \
                                                "header)", bad.err
    assert _files(workspace) == before  # nothing written, not even a sweep manifest

    # the track back, a valid edit of the ground truth (spaces around the header names, which
    # the published layout tolerates): a new dataset version, computed afresh
    victim.write_bytes(original)
    gt = copy / "music0003" / "music0003_gt.csv"
    lines = gt.read_text().splitlines()
    gt.unlink()
    gt.write_text("\n".join([", ".join(f" {c}" for c in lines[0].split(",")), *lines[1:]]) + "\n")
    monkeypatch.setattr(cells, "_DATASETS", {})
    again = invoke(capsys, *RUN, "-m", "multilat", "--data-root", str(copy), "--json")
    assert again.code == 0 and "already finished" not in again.err, again.err
    old, new = json.loads(first.out)[0], json.loads(again.out)[0]
    assert new["dataset"]["version"] != old["dataset"]["version"] and new["key"] != old["key"]
    assert new["scores"] == old["scores"]  # same audio and positions, same answer


def _rewrite_gt(root, name, change):
    path = root / name / f"{name}_gt.csv"
    table = change(pd.read_csv(path))
    path.unlink()
    table.to_csv(path, index=False)
    return f"{name}/{name}_gt.csv"


def _mocap_shifted(root):
    def shift(table):
        table["timestamps"] += 1.25  # the first half of the audio has no position
        return table
    return _rewrite_gt(root, "music0003", shift), "10 of the 19 frames", "more than 10 %"


def _gt_in_metres(root):
    def to_metres(table):
        table[["X", "Y", "Z"]] /= 1000
        return table
    return (_rewrite_gt(root, "speech0003", to_metres), "the speaker's median position",
            "values in metres? the published ground truth is in millimetres")


def _bad_header_in_training(root):
    return (_rewrite_gt(root, "music0001", lambda t: t.rename(columns={"X": "x"})),
            "missing columns X (expected no info.json, so the published header")


def _short_tracks(root):
    for i in range(1, 13):
        path = root / "speech0003" / f"Track {i}.wav"
        path.unlink()
        sf.write(path, np.zeros(4800, dtype=np.int16), 96_000, subtype="PCM_16")
    return "speech0003/Track 1.wav", "shorter than one 2048-sample frame"


def _missing_track_in_training(root):
    (root / "music0002" / "Track 7.wav").unlink()
    return ("music0002/Track 7.wav: file not found",)


def _two_csvs_in_training(root):
    shutil.copyfile(root / "speech0002" / "speech0002_gt.csv", root / "speech0002" / "copy.csv")
    return (f"{root / 'speech0002'}: expected exactly one ground-truth *.csv", "found 2")


@pytest.mark.parametrize("damage,method", [(_mocap_shifted, "multilat"),
                                           (_gt_in_metres, "multilat"),
                                           (_bad_header_in_training, "multilat"),
                                           (_short_tracks, "multilat"),
                                           (_missing_track_in_training, "gnn"),
                                           (_two_csvs_in_training, "gnn")])
def test_bad_luvira_input(capsys, workspace, copy, damage, method):
    needles = damage(copy)
    outcome = invoke(capsys, *RUN, "-m", method, "--data-root", str(copy))
    _assert_clean_failure(outcome, *needles, workspace=workspace)
    assert outcome.out == ""
    assert not (workspace / "results" / "sweeps").exists()


def test_a_damaged_cached_stand_in_says_how_to_get_it_back(capsys, workspace, tmp_path,
                                                           monkeypatch, luvira_smoke,
                                                           smoke_corpus):
    cache = tmp_path / "cache"
    for source, name in ((luvira_smoke, "luvira-sim-smoke"), (smoke_corpus,
                                                              "librispeech-tts-smoke")):
        linked_copy(source, cache / "data" / name)
    monkeypatch.setenv("PERLOC_CACHE", str(cache))
    standin = cache / "data" / "luvira-sim-smoke"
    (standin / "music0003" / "music0003_gt.csv").unlink()
    (standin / "music0003" / "music0003_gt.csv").write_text("")
    outcome = invoke(capsys, *RUN, "-m", "multilat")
    _assert_clean_failure(outcome, f"{standin}/music0003/music0003_gt.csv: malformed CSV",
                          f"; delete {standin} to generate the stand-in again",
                          workspace=workspace)
