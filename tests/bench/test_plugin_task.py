"""A task that lives outside the harness (``tests/plugins/perloc_toy_task.py``: ragged event
lists, per-class macro F, mean class accuracy, a fraction-per-group recall) goes through
``bench run``, ``compare``, ``leaderboard``, ``regress``, ``export`` and ``score`` by reference
(``perloc_toy_task:toy-tags``), each command in a fresh process, with no edit under ``bench/``.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
TASK = "perloc_toy_task:toy-tags"
sys.path.insert(0, str(PLUGINS))
from perloc_toy_metrics import METRICS  # noqa: E402  (no registration: metrics only)


def bench(*argv: str) -> subprocess.CompletedProcess:
    """``bench`` in a new process, run from the plug-in's folder (references resolve there)."""
    return subprocess.run([sys.executable, "-m", "perloc.bench.cli.main", *argv],
                          cwd=PLUGINS, capture_output=True, text=True, timeout=300)


def _ragged(*lists):
    out = np.empty(len(lists), dtype=object)
    for i, items in enumerate(lists):
        out[i] = np.array(items, dtype=np.int64)
    return out


def test_metrics_on_hand_counted_event_lists():
    """pred [[0,0,1],[2],[]] vs truth [[0,1],[2,3],[1]]: TP (1,1,1,0), FP (1,0,0,0),
    FN (0,1,0,1) -> F (2/3, 2/3, 1, 0), macro 7/12; class hits (1/1, 1/2, 1/1, 0/1) -> 5/8;
    clip recalls (1, 1/2, 0) -> 2 of 3 clips reach 0.5."""
    pred, truth = _ragged([0, 0, 1], [2], []), _ragged([0, 1], [2, 3], [1])
    scores = {m.name: m.score(pred, truth) for m in METRICS}
    assert scores["macro_f1"] == pytest.approx(100 * 7 / 12)
    assert scores["class_acc"] == pytest.approx(100 * 5 / 8)
    assert scores["clip_recall"] == pytest.approx(100 * 2 / 3)


def test_metric_state_sums_over_batches():
    """Scoring two halves' summed stats equals scoring the whole (ragged rows, no concat)."""
    rng = np.random.default_rng(0)
    pred = _ragged(*[rng.integers(0, 4, rng.integers(0, 4)) for _ in range(40)])
    truth = _ragged(*[rng.integers(0, 4, rng.integers(0, 4)) for _ in range(40)])
    for metric in METRICS:
        halves = metric.rows(pred[:17], truth[:17]).sum(0) + metric.rows(pred[17:], truth[17:]).sum(0)
        assert metric.value(halves) == pytest.approx(metric.score(pred, truth))


@pytest.mark.slow
def test_plugin_task_through_every_command(workspace):
    run = bench("run", TASK, "--profile", "smoke", "--publish", "--json")
    assert run.returncode == 0, run.stderr
    records = {r["method"]: r for r in json.loads(run.stdout)}
    assert set(records) == {"toy-round", "toy-first"}
    for record in records.values():
        assert record["resampling_unit"] == "scene"
        for name in ("macro_f1", "class_acc", "clip_recall"):
            score = record["scores"][name]
            assert score["ci_low"] < score["value"] < score["ci_high"], (record["method"], name)
    assert records["toy-round"]["scores"]["macro_f1"]["ci_low"] > \
        records["toy-first"]["scores"]["macro_f1"]["ci_high"]

    compare = bench("compare", "perloc_toy_task:toy-round", "perloc_toy_task:toy-first")
    assert compare.returncode == 0, compare.stderr
    assert "noise=low" in compare.stdout and "noise=high" in compare.stdout
    assert "toy-round beats toy-first" in compare.stdout

    board = bench("leaderboard", TASK)
    assert board.returncode == 0, board.stderr
    assert "| 1 " in board.stdout and "toy-round" in board.stdout
    assert "Bootstrap CIs resample scene" in board.stdout

    regress = bench("regress", TASK)
    assert regress.returncode == 0 and "no regression" in regress.stdout, regress.stderr

    out = workspace / "toy-export"
    export = bench("export", TASK, "--profile", "smoke", "--out", str(out))
    assert export.returncode == 0, export.stderr
    pred = _round_predictions(out, workspace / "numpy-round.csv")
    score = bench("score", TASK, "--profile", "smoke", "--pred", str(pred), "--json")
    assert score.returncode == 0, score.stderr
    external = json.loads(score.stdout)
    for name in ("macro_f1", "class_acc", "clip_recall"):
        assert external["scores"][name]["value"] == pytest.approx(
            records["toy-round"]["scores"][name]["value"])


def _round_predictions(folder: Path, path: Path) -> Path:
    """toy-round's rule, written here: round each class's noisy count (0..3), as class names."""
    x = np.load(folder / "inputs.npz")["x"]
    classes = json.loads((folder / "manifest.json").read_text())["classes"]
    ids = [row["id"] for row in csv.DictReader((folder / "ids.csv").open())]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "events"])
        for key, row in zip(ids, x, strict=True):
            counts = np.clip(np.rint(row), 0, 3).astype(int)
            writer.writerow([key, " ".join(c for c, n in zip(classes, counts, strict=True) for _ in range(n))])
    return path


def test_malformed_event_list_is_one_error_line(workspace):
    out = workspace / "toy-export"
    assert bench("export", TASK, "--profile", "smoke", "--out", str(out)).returncode == 0
    ids = [row["id"] for row in csv.DictReader((out / "ids.csv").open())]
    bad = workspace / "bad.csv"
    bad.write_text("id,events\n" + "".join(f"{i},dog\n" for i in ids[:3])
                   + f"{ids[3]},dog walrus\n")
    result = bench("score", TASK, "--profile", "smoke", "--pred", str(bad))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {bad}: row 5: events: 'walrus' is not a number or a class name"]
