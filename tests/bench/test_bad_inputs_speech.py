"""Bad speech input through the CLI after a warm run: the caches a previous run left (digest
store, decoded clips and features, checkpoint, records) never hide a changed file. One error
line naming the file, exit 2, nothing written."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import invoke

from perloc.bench.run import cells


def _snapshot(workspace):
    """Every file of the results and leaderboards folders with its size and modification time."""
    return {p: (p.stat().st_size, p.stat().st_mtime_ns)
            for folder in ("results", "leaderboards") for p in (workspace / folder).rglob("*")
            if p.is_file()}


def _random_test_clip(root):
    """A test clip of a wanted word (the 12-class task reads every one; an unknown-word clip
    may not be drawn) overwritten by as many random bytes (same size: a path-and-size version
    would not change)."""
    from perloc.datasets.speech_commands import WANTED

    rel = next(line for line in (root / "testing_list.txt").read_text().splitlines()
               if line.split("/")[0] in WANTED)
    path = root / rel
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))
    return str(path), "cannot decode audio"


def _escaping_list_entry(root):
    path = root / "testing_list.txt"
    n = len(path.read_text().splitlines())
    with open(path, "a") as handle:
        handle.write("yes/../../x.wav\n")
    return f"{path}:{n + 1}: 'yes/../../x.wav'", "inside the dataset"


@pytest.mark.parametrize("damage", [_random_test_clip, _escaping_list_entry])
def test_a_warm_run_then_a_changed_file_is_one_error(capsys, workspace, commands_smoke, tmp_path,
                                                    monkeypatch, damage):
    root = shutil.copytree(commands_smoke, tmp_path / "speech_commands")
    argv = ("run", "kws", "--profile", "smoke", "-m", "ds-cnn", "--data-root", str(root))
    warm = invoke(capsys, *argv)
    assert warm.code == 0, warm.err
    before = _snapshot(workspace)
    assert any(p.suffix == ".json" for p in before)  # the warm run wrote its record
    needle, reason = damage(root)
    monkeypatch.setattr(cells, "_DATASETS", {})  # as a new `bench` process would start
    outcome = invoke(capsys, *argv)
    assert outcome.code == 2, outcome.err
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.err
    assert needle in lines[0] and reason in lines[0], lines[0]
    assert _snapshot(workspace) == before  # nothing written: records, MLflow, sweeps, boards


def test_a_file_as_data_root_is_not_a_folder(capsys, workspace, tmp_path):
    stray = tmp_path / "speech_commands.zip"
    stray.write_bytes(b"PK\x03\x04")
    outcome = invoke(capsys, "run", "kws", "--profile", "smoke", "-m", "ds-cnn",
                     "--data-root", str(stray))
    assert outcome.code == 2
    assert outcome.err.strip() == f"error: --data-root: {stray} is not a folder"
    assert not (workspace / "results").exists() or not any((workspace / "results").iterdir())
    for name in ("speech-commands", "librispeech"):
        outcome = invoke(capsys, "data", "check", name, "--root", str(stray))
        assert outcome.code == 2
        assert outcome.err.strip() == f"error: --root: {stray} is not a folder"


def test_a_truncated_training_flac_fails_the_plan_before_any_cell(capsys, workspace,
                                                                  smoke_corpus, tmp_path):
    """The planner builds a learned method's training data: a cut training file is one line
    naming it, exit 2, and no record, MLflow store, manifest or board (gcc-phat, which needs
    no training, does not run either)."""
    from perloc.datasets.librispeech import LibriSpeech

    root = shutil.copytree(smoke_corpus, tmp_path / "corpus")
    victim = LibriSpeech(root).splits()["train"][0].path
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    outcome = invoke(capsys, "run", "tdoa", "--profile", "smoke", "-m", "gcc-phat", "-m",
                     "ngcc-phat", "--data-root", str(root))
    assert outcome.code == 2, outcome.err
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {victim}"), outcome.err
    results = workspace / "results"
    assert not (results / "runs").exists() and not (results / "sweeps").exists()
    assert not (results / "mlflow.db").exists()


@pytest.mark.parametrize("case", ["_non_utf8", "_broken_link", "_empty_list"])
def test_bad_list_files_through_the_cli(capsys, workspace, commands_smoke, tmp_path, case):
    """The adapter-level list cases (tests/datasets/test_speech_inputs.py) end the same way
    through `bench run`: one line naming the file, exit 2, nothing written."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datasets"))
    import test_speech_inputs

    root = shutil.copytree(commands_smoke, tmp_path / "speech_commands")
    needle = getattr(test_speech_inputs, case)(root)
    outcome = invoke(capsys, "run", "kws", "--profile", "smoke", "-m", "ds-cnn",
                     "--data-root", str(root))
    assert outcome.code == 2, outcome.err
    lines = outcome.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert not (workspace / "results" / "runs").exists()
    assert not (workspace / "results" / "sweeps").exists()
    assert not (workspace / "results" / "mlflow.db").exists()


def test_a_list_with_a_byte_order_mark_runs(capsys, workspace, commands_smoke, tmp_path):
    root = shutil.copytree(commands_smoke, tmp_path / "speech_commands")
    for name in ("testing_list.txt", "validation_list.txt"):
        path = root / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    outcome = invoke(capsys, "run", "kws", "--profile", "smoke", "-m", "ds-cnn",
                     "--data-root", str(root), "--json")
    assert outcome.code == 0, outcome.err
