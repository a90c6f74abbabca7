"""Long steps report progress when stderr is not a terminal (CI logs): a plain line at least
every interval, even during one long iteration, a ``done`` line after a step that printed
any, nothing for short steps; tqdm bars on a terminal; silence when not enabled."""

from __future__ import annotations

import sys
import time

import pytest
from cli_helpers import invoke
from tqdm import tqdm

from perloc.bench.core import progress
from perloc.bench.core.progress import ProgressLines, progress_bar


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_once_the_interval_has_passed_then_a_done_line(capsys):
    clock = FakeClock()
    lines = ProgressLines(desc="simulating RIRs", total=480, unit="rir", interval=30,
                          clock=clock, thread=False)
    lines.update(100)
    clock.now += 29.9
    assert not lines.tick() and capsys.readouterr().err == ""
    clock.now += 0.2
    lines.set_postfix(loss="0.512")
    assert lines.tick()
    clock.now += 10
    lines.update(20)
    assert not lines.tick()  # the interval counts from the last line
    clock.now += 20
    assert lines.tick()
    lines.update(360)
    lines.close()
    assert capsys.readouterr().err.splitlines() == [
        "simulating RIRs: 100/480 rir (21%), 30 s, loss=0.512",
        "simulating RIRs: 120/480 rir (25%), 60 s, loss=0.512",
        "simulating RIRs: done, 480/480 rir in 60 s"]


def test_a_short_step_prints_nothing(capsys):
    for _ in ProgressLines(range(3), desc="TTS corpus", interval=30):
        pass
    assert capsys.readouterr().err == ""


def test_the_timer_reports_during_one_long_iteration(capsys):
    for _ in ProgressLines(range(2), desc="luvira-sim", unit="trajectory", interval=0.05):
        time.sleep(0.3)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("luvira-sim: 0/2 trajectory (0%), ")
    assert any(line.startswith("luvira-sim: 1/2 trajectory (50%)") for line in lines)
    assert lines[-1].startswith("luvira-sim: done, 2/2 trajectory in ")


@pytest.mark.parametrize("terminal,enabled,terminal_bar,kind", [
    (False, True, True, ProgressLines), (True, True, True, tqdm), (False, False, True, tqdm),
    (True, True, False, tqdm), (False, True, False, ProgressLines)])
def test_bars_on_a_terminal_lines_elsewhere(monkeypatch, terminal, enabled, terminal_bar, kind):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal, raising=False)
    bar = progress_bar(range(3), desc="x", enabled=enabled, terminal_bar=terminal_bar)
    assert isinstance(bar, kind)
    if kind is tqdm:  # a disabled tqdm when not enabled, or on a terminal without a bar
        assert bar.disable == (not enabled or not terminal_bar)
    bar.close()


def test_a_sweep_in_a_log_prints_progress_lines_while_cells_run(capsys, monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 0.05)
    monkeypatch.setenv("PERLOC_FAULTS", "sleep=0.4")
    outcome = invoke(capsys, "run", "tdoa", "--profile", "smoke", "-m", "gcc-phat",
                     "--seed", "0")
    assert outcome.code == 0, outcome.err
    assert "sweep: 0/1 cells finished (0%), 0 s" in outcome.err
    assert "sweep: done, 1/1 cells finished in " in outcome.err
