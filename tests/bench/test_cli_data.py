"""``bench data list | synth | check`` dispatch through the dataset registry's entries."""

from __future__ import annotations

import pytest
from cli_helpers import invoke, scratch_registry

from perloc.bench.core.datasets import CheckReport, DatasetEntry, register_dataset
from perloc.bench.core.registry import DATASETS


def _rows(out: str) -> dict[str, str]:
    """First column -> whole line of a tabulate table (header and rule skipped)."""
    return {line.split()[0]: line for line in out.splitlines()[2:]}


def test_list_shows_every_dataset_with_kind_and_sizes(capsys):
    result = invoke(capsys, "data", "list")
    assert result.code == 0, result
    rows = _rows(result.out)
    assert {"librispeech", "luvira", "speech-commands", "tdoa-rooms", "librispeech-tts",
            "luvira-sim", "speech-commands-tts"} <= set(rows)
    for name in ("librispeech", "luvira", "speech-commands"):
        assert rows[name].split()[1] == "real"
    assert " stand-in " in rows["luvira-sim"] and "smoke, default, paper" in rows["luvira-sim"]
    assert " stand-in " in rows["librispeech-tts"] and "smoke, default " in rows["librispeech-tts"]


@pytest.mark.parametrize("argv, needles", [
    (("synth", "nope", "--out", "x"),
     # each name on its own: other datasets sort in between
     ("unknown dataset 'nope'", "librispeech-tts, ", "luvira-sim, ", "speech-commands-tts")),
    (("check", "nope", "--root", "x"),
     ("unknown dataset 'nope'", "librispeech, ", "luvira, ", "speech-commands, ",
      "starss23, ")),
    (("check", "luvira-sim", "--root", "x"), ("luvira-sim is a stand-in dataset",)),
    (("synth", "luvira", "--out", "x"), ("luvira is a real dataset", "luvira-sim")),
    (("synth", "librispeech-tts", "--out", "x", "--size", "paper"),
     ("--size: unknown size 'paper' (known: smoke, default)",)),
])
def test_bad_names_and_sizes_are_one_error_line(capsys, tmp_path, argv, needles):
    result = invoke(capsys, "data", *argv)
    lines = result.err.strip().splitlines()
    assert result.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result
    assert all(n in lines[0] for n in needles), lines[0]


def test_synth_reaches_the_stand_ins_hook_and_the_tasks_cached_ingredients(
        capsys, commands_smoke, luvira_smoke):
    """Both are up to date (written by the fixtures as the tasks do): synth rewrites nothing."""
    for name, root in (("speech-commands-tts", commands_smoke), ("luvira-sim", luvira_smoke)):
        stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
        result = invoke(capsys, "data", "synth", name, "--out", str(root), "--size", "smoke")
        assert result.code == 0 and result.out == f"{root}\n", result
        assert {p: p.stat().st_mtime_ns for p in root.rglob("*")} == stamps


def _toy_synth(request):
    request.out.mkdir(parents=True)
    (request.out / "seed.txt").write_text(f"{request.size} {request.seed}")
    return request.out


def _toy_check(root):
    size, seed = (root / "seed.txt").read_text().split()
    return CheckReport(f"{root}: toy", [[size, int(seed)]], ["size", "seed"])


def test_a_registered_entry_is_listed_written_and_checked_without_cli_edits(
        capsys, monkeypatch, tmp_path):
    scratch_registry(monkeypatch, DATASETS)
    register_dataset(DatasetEntry("toy", "stand-in", "a test's dataset", synth=_toy_synth,
                                  check=_toy_check, sizes=("tiny",)))
    assert _rows(invoke(capsys, "data", "list").out)["toy"].split()[:3] == ["toy", "stand-in",
                                                                          "tiny"]
    out = tmp_path / "toy"
    result = invoke(capsys, "data", "synth", "toy", "--out", str(out), "--size", "tiny",
                    "--seed", "7")
    assert result.code == 0 and result.out == f"{out}\n", result
    assert (out / "seed.txt").read_text() == "tiny 7"
    result = invoke(capsys, "data", "check", "toy", "--root", str(out))
    assert result.out == f"{out}: toy\nsize      seed\n------  ------\ntiny         7\n", result


def test_the_scratch_entry_is_gone_afterwards():
    assert "toy" not in DATASETS.names()


@pytest.mark.parametrize("kwargs", [{"kind": "recorded"}, {"sizes": ("smoke",)},
                                    {"synth": _toy_synth}])
def test_an_inconsistent_entry_is_refused(kwargs):
    with pytest.raises(ValueError):
        DatasetEntry(**{"name": "bad", "kind": "stand-in", "summary": "", **kwargs})
