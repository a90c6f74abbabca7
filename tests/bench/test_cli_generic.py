"""The CLI knows no task: methods, compare on categorical conditions, seeds, errors."""

import json

import pytest
from cli_helpers import invoke

from perloc.bench.core.registry import METHODS


def _table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines()[2:]:
        parts = line.split()
        if parts:
            rows[parts[0]] = parts
    return rows


def test_methods_lists_every_method_with_paper_parameter_counts(capsys):
    outcome = invoke(capsys, "methods")
    assert outcome.code == 0, outcome.err
    rows = _table_rows(outcome.out)
    assert set(METHODS.names()) <= set(rows)
    assert rows["kwt-1"][3] == "607,308"
    assert rows["kwt-2"][3] == "2,394,252"
    assert rows["kwt-3"][3] == "5,360,844"
    assert rows["gcc-phat"][3] == "0"
    kws = _table_rows(invoke(capsys, "methods", "--task", "kws").out)
    assert "kwt-1" in kws and "gcc-phat" not in kws


def test_compare_on_ssl_prints_per_setup_rows_with_na_where_multilat_fails(capsys):
    outcome = invoke(capsys, "compare", "multilat", "wav2pos", "--profile", "smoke")
    assert outcome.code == 0, outcome.err
    rows = _table_rows(outcome.out)
    assert {"setup=1_a|mics=5", "setup=1_a|mics=11", "setup=2_a|mics=11", "overall"} <= set(rows)
    assert list(rows).index("setup=1_a|mics=11") < list(rows).index("setup=2_a|mics=5")
    assert rows["setup=2_a|mics=11"][1] == "N/A"  # multilat solves setup 1_a only


def test_compare_on_kws_prints_per_word_rows(capsys):
    outcome = invoke(capsys, "compare", "kwt-1", "ds-cnn", "--profile", "smoke")
    assert outcome.code == 0, outcome.err
    rows = _table_rows(outcome.out)
    assert {"word=yes", "word=_silence_", "word=_unknown_", "overall"} <= set(rows)
    assert " beats " in outcome.out or " tie on " in outcome.out  # a verdict line


def test_compare_without_a_shared_task_names_the_flag(capsys):
    outcome = invoke(capsys, "compare", "gcc-phat", "kwt-1")
    assert outcome.code == 2 and "--task" in outcome.err


def test_condition_flags_come_from_the_task(capsys, workspace):
    unknown = invoke(capsys, "run", "kws", "--profile", "smoke", "--snr", "0:30")
    assert unknown.code == 2 and "--snr: no such option for task kws" in unknown.err
    missing = invoke(capsys, "run", "tdoa", "--profile", "smoke", "--snr")
    assert missing.code == 2 and "--snr: needs a value" in missing.err
    assert not (workspace / "results" / "runs").exists()


def test_seeds_aggregate_to_mean_std_and_t_interval(capsys, workspace):
    outcome = invoke(capsys, "run", "kws", "--profile", "smoke", "-m", "ds-cnn", "--seeds", "0:2",
                     "--publish")
    assert outcome.code == 0, outcome.err
    board = json.loads((workspace / "leaderboards" / "kws.json").read_text())
    entries = board["sections"]["smoke/synthetic"]["entries"]
    values = [e["scores"]["accuracy"]["value"] for e in entries]
    assert sorted(e["seed"] for e in entries) == [0, 1, 2]
    markdown = (workspace / "leaderboards" / "kws.md").read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| 1 ") and "ds-cnn" in line)
    mean = sum(values) / 3
    std = (sum((v - mean) ** 2 for v in values) / 2) ** 0.5
    assert f"{mean:.2f} ± {std:.2f}" in row and "(n=3)" in row
    assert "mean ± sample sd" in markdown and "95% t-CI of the mean" in markdown


def test_an_unexpected_exception_is_one_line_with_the_traceback_in_a_log(capsys, workspace,
                                                                          monkeypatch):
    from perloc.bench.core import registry

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(registry.TASKS, "items", broken)
    outcome = invoke(capsys, "tasks")
    lines = outcome.err.strip().splitlines()
    assert outcome.code == 1 and len(lines) == 1
    assert lines[0].startswith("error: RuntimeError: boom (traceback in ")
    logs = list((workspace / "results" / "logs").glob("error-*.log"))
    assert len(logs) == 1 and "Traceback" in logs[0].read_text()
    debug = invoke(capsys, "--debug", "tasks")
    assert debug.code == 1 and "Traceback" in debug.err and "raise RuntimeError" in debug.err


@pytest.mark.parametrize("argv", [("run", "tdoa", "--profile", "smoke", "--seeds", "0:999999999"),
                                  ("compare", "a", "b", "--task", "tdoa", "--bogus", "1")])
def test_bad_flags_never_traceback(capsys, argv):
    outcome = invoke(capsys, *argv)
    assert outcome.code == 2 and outcome.err.startswith("error: ")
    assert len(outcome.err.strip().splitlines()) == 1
