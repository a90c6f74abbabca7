"""Everything a sweep will read is checked in its planning step: bad parameters, checkpoints,
boards and output paths give one error line, exit 2, and nothing written (no records, MLflow
store, sweep manifest or board); bad input met inside a cell still stops the sweep with one
line instead of becoming a failed record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import invoke
from test_cli_errors import _assert_clean_failure

from perloc.bench.core.errors import UserError
from perloc.bench.core.registry import METHODS

SMOKE = ("run", "tdoa", "--profile", "smoke")


@pytest.mark.parametrize("param,needle", [
    ("eps=NaN", "-p eps=nan: expected a finite number"),
    ("eps=0", "eps must be a finite number > 0"),
    ("max_tau=-1", "max_tau must be a number >= 0"),
    ("n_fft=1", "n_fft must be a number >= 2"),
    ("eps=" + "[" * 5000 + "]" * 5000, "-p eps: value nested too deeply"),
])
def test_parameter_values_are_checked_before_work(capsys, workspace, param, needle):
    outcome = invoke(capsys, *SMOKE, "-m", "gcc-phat", "-p", param)
    _assert_clean_failure(outcome, needle, workspace=workspace)


def test_a_truncated_or_missing_checkpoint_fails_the_plan(capsys, workspace, tmp_path):
    released = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ngcc" / "model.pth"
    if not released.is_file():
        pytest.skip("the authors' checkpoint is not in ../shared")
    truncated = tmp_path / "model.pth"
    truncated.write_bytes(released.read_bytes()[:4096])
    for path, needle in ((truncated, "not a readable NGCC-PHAT state_dict"),
                         (tmp_path / "absent.pth", "absent.pth: no such file")):
        outcome = invoke(capsys, *SMOKE, "-m", "ngcc-phat-released", "-p", f"checkpoint={path}")
        _assert_clean_failure(outcome, "-p checkpoint", needle, workspace=workspace)


@pytest.mark.parametrize("content,needle", [
    (b'{"sections": ', "malformed JSON"),
    (b"\x89PNG\r\n\x1a\n\x00\xff", "not UTF-8"),
    (b'{"sections": []}', "no 'sections' object"),
    (b'{"sections": {"smoke/synthetic": {"profile": "smoke", "entries": [{"method": 3}]}}}',
     "entry 0 lacks 'method' or 'scores'"),
    (b'{"sections": {"s": {"profile": "smoke", "entries": [{"method": "m", "scores": '
     b'{"mae_cm": {"value": "x"}}}]}}}', "a score without a numeric 'value'"),
])
def test_publish_checks_the_board_before_any_cell(capsys, workspace, content, needle):
    boards = workspace / "leaderboards"
    boards.mkdir()
    (boards / "tdoa.json").write_bytes(content)
    outcome = invoke(capsys, *SMOKE, "-m", "gcc-phat", "--publish")
    assert outcome.code == 2 and needle in outcome.err and "tdoa.json" in outcome.err
    assert len(outcome.err.strip().splitlines()) == 1
    results = workspace / "results"
    assert not (results / "runs").exists() and not (results / "sweeps").exists()
    assert not (results / "mlflow.db").exists()


def test_publish_into_a_folder_that_cannot_be_written(capsys, workspace, monkeypatch):
    blocker = workspace / "not-a-folder"
    blocker.write_text("a file where the leaderboards folder should be")
    monkeypatch.setenv("PERLOC_LEADERBOARDS", str(blocker / "boards"))
    outcome = invoke(capsys, *SMOKE, "-m", "gcc-phat", "--publish")
    assert outcome.code == 2 and "not writable" in outcome.err
    assert not (workspace / "results" / "runs").exists()


def test_plot_into_a_path_under_a_file(capsys, workspace):
    blocker = workspace / "file"
    blocker.write_text("x")
    outcome = invoke(capsys, "compare", "gcc-phat", "gcc-cc", "--profile", "smoke", "--plot",
                     str(blocker / "out.png"))
    _assert_clean_failure(outcome, "--plot", "is a file, not a folder", workspace=workspace)


def test_data_root_that_is_a_file(capsys, workspace):
    blocker = workspace / "LibriSpeech.tar"
    blocker.write_bytes(b"\0" * 10)
    outcome = invoke(capsys, *SMOKE, "-m", "gcc-phat", "--data-root", str(blocker))
    _assert_clean_failure(outcome, f"--data-root: {blocker} is not a folder",
                          workspace=workspace)


def test_training_data_is_built_in_the_plan(capsys, workspace, monkeypatch):
    """A learned method's training files are read before the first cell: a bad one is one
    line and no cell runs (the planner calls the task's training factory per seed)."""
    calls = []

    def broken(task, profile, seed, *args, **kwargs):
        calls.append(seed)
        raise UserError("train-clean/19/198/19-198-0001.flac: truncated")

    monkeypatch.setattr("perloc.bench.run.cells.training_data", broken)
    outcome = invoke(capsys, *SMOKE, "-m", "gcc-phat", "-m", "ngcc-phat", "--seeds", "0:1")
    _assert_clean_failure(outcome, "19-198-0001.flac", workspace=workspace)
    assert calls == [0]


def test_bad_input_inside_a_cell_stops_the_sweep_without_a_failed_record(capsys, workspace,
                                                                         monkeypatch):
    def refuse(self, batch):
        raise UserError("signals.wav: 3 channels, expected 2")

    monkeypatch.setattr(METHODS.get("gcc-cc"), "predict", refuse)
    outcome = invoke(capsys, *SMOKE, "-m", "gcc-cc", "-m", "gcc-phat")
    assert outcome.code == 2
    assert outcome.err.strip().splitlines()[-1] == "error: signals.wav: 3 channels, expected 2"
    records = [json.loads(p.read_text())
               for p in (workspace / "results").glob("runs/**/*.json")]
    assert all(r["status"] == "ok" for r in records)
    assert "gcc-cc" not in {r["method"] for r in records}
