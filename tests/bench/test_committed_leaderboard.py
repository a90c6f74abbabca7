"""CI keeps the committed leaderboard honest: the smoke numbers must reproduce, and the smoke
sections are sized so that a broken model is caught."""

import json
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import invoke

from perloc.bench.core.registry import METHODS, TASKS

BOARDS = Path(__file__).resolve().parents[2] / "leaderboards"
COMMITTED = sorted(path.stem for path in BOARDS.glob("*.json"))


def test_every_task_has_a_committed_board():
    assert set(TASKS.names()) <= set(COMMITTED)


@pytest.mark.parametrize("task", COMMITTED)
def test_committed_smoke_numbers_reproduce(capsys, monkeypatch, tmp_path, task):
    """Every committed board (discovered, not listed) regresses against a fresh smoke run;
    the board is read from a copy, so a regress run can never rewrite the committed one."""
    copy = tmp_path / "boards"
    copy.mkdir()
    (copy / f"{task}.json").write_text((BOARDS / f"{task}.json").read_text())
    monkeypatch.setenv("PERLOC_LEADERBOARDS", str(copy))
    outcome = invoke(capsys, "regress", task)
    assert outcome.code == 0, outcome.out + outcome.err
    _break_every_method(monkeypatch, TASKS.get(task))
    broken = invoke(capsys, "regress", task)  # fitted checkpoints are reused: predict only
    assert broken.code == 1 and "REGRESSION" in broken.out, broken.out


def _break_every_method(monkeypatch, task):
    """Each prediction handed to the example after it (batch rows rolled by one): the values
    look right but no longer belong to their examples, as with a broken model or loader."""
    def roll(predict):
        def predict_next(self, batch):
            pred = predict(self, batch)
            pred.data[task.target] = np.roll(np.asarray(pred[task.target]), 1, axis=0)
            return pred
        return predict_next

    for _, cls in METHODS.items():
        if task.runs(cls.card):
            monkeypatch.setattr(cls, "predict", roll(cls.predict))


@pytest.mark.parametrize(("task", "method", "metric", "value"), [
    ("tdoa", "gcc-phat", "mae_cm", 6.84), ("ssl", "wav2pos-fixed", "mae_cm", 14.2),
    ("kws", "kwt-1", "accuracy", 97.72)])
def test_committed_board_has_default_and_reported_tables(task, method, metric, value):
    board = json.loads((BOARDS / f"{task}.json").read_text())
    assert {"smoke/synthetic", "default/synthetic"} <= set(board["sections"])
    methods = {e["method"] for e in board["sections"]["default/synthetic"]["entries"]}
    assert set(TASKS.get(task).default_methods) <= methods
    assert any(r["method"] == method and r["scores"].get(metric) == value
               for r in board["reported"])
    markdown = (BOARDS / f"{task}.md").read_text()
    assert "Reported in the papers (not reproduced here)" in markdown
    assert "/tmp/" not in markdown and "/work/" not in json.dumps(board)


def test_every_trained_kws_model_is_clearly_above_chance():
    """Default profile, 12 classes (chance 8.3 %): each CI's lower end above 5x chance."""
    board = json.loads((BOARDS / "kws.json").read_text())
    entries = board["sections"]["default/synthetic"]["entries"]
    assert len(entries) >= 4
    for entry in entries:
        assert entry["scores"]["accuracy"]["ci_low"] > 5 * 100 / 12, entry["method"]
