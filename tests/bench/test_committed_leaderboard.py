"""CI keeps the committed leaderboard honest: the smoke numbers must reproduce."""

import json
from pathlib import Path

import pytest
from cli_helpers import invoke

from perloc.bench.core.registry import TASKS

BOARDS = Path(__file__).resolve().parents[2] / "leaderboards"


@pytest.mark.parametrize("task", ["tdoa", "ssl"])
def test_committed_smoke_numbers_reproduce(capsys, monkeypatch, task):
    assert (BOARDS / f"{task}.json").exists(), f"leaderboards/{task}.json is not committed"
    monkeypatch.setenv("PERLOC_LEADERBOARDS", str(BOARDS))
    outcome = invoke(capsys, "regress", task)
    assert outcome.code == 0, outcome.out + outcome.err


@pytest.mark.parametrize(("task", "method", "mae"), [("tdoa", "gcc-phat", 6.84),
                                                     ("ssl", "wav2pos", 14.2)])
def test_committed_board_has_default_and_reported_tables(task, method, mae):
    board = json.loads((BOARDS / f"{task}.json").read_text())
    assert {"smoke/synthetic", "default/synthetic"} <= set(board["sections"])
    methods = {e["method"] for e in board["sections"]["default/synthetic"]["entries"]}
    assert set(TASKS.get(task).default_methods) <= methods
    assert any(r["method"] == method and r["scores"].get("mae_cm") == mae
               for r in board["reported"])
    markdown = (BOARDS / f"{task}.md").read_text()
    assert "Reported in the papers (not reproduced here)" in markdown
    assert "/tmp/" not in markdown and "/work/" not in json.dumps(board)
