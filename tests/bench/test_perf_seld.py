"""``bench perf seld``: the plain per-frame scorer loop (an independent implementation of the
DCASE2024 rules) agrees with ``metrics.seld.file_stats``, and the benchmark runs at tiny sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from cli_helpers import invoke

from perloc.bench.perf.seld import (
    format_seld_perf,
    loop_file_stats,
    run_seld_perf,
    same_stats,
    synthetic_file,
)
from perloc.datasets.dcase_csv import DcaseEvents
from perloc.metrics.seld import SeldConfig, file_stats

CONFIGS = {
    "dcase2024": SeldConfig(),
    "every-frame": SeldConfig(skip_last_reference_frame=False),
    "other-thresholds": SeldConfig(doa_threshold=10.0, rel_dist_threshold=0.2),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_plain_loop_and_file_stats_agree_on_random_scenes(name):
    config = CONFIGS[name]
    rng = np.random.default_rng(list(CONFIGS).index(name))
    for _ in range(4):
        ref, pred = synthetic_file(rng, frames=int(rng.integers(20, 80)))
        looped, ours = loop_file_stats(ref, pred, config), file_stats(ref, pred, config)
        assert same_stats(looped, ours, config), np.flatnonzero(looped != ours)
        assert looped[:-3].reshape(13, -1)[:, 4].sum() > 0  # some pairs were matched


def test_plain_loop_and_file_stats_agree_on_empty_files():
    rng = np.random.default_rng(5)
    ref, pred = synthetic_file(rng, frames=30)
    empty = DcaseEvents.empty()
    for config in CONFIGS.values():
        for a, b in ((ref, empty), (empty, pred), (empty, empty)):
            assert same_stats(loop_file_stats(a, b, config), file_stats(a, b, config), config)


def test_same_stats_notices_a_changed_count_or_sum():
    ref, pred = synthetic_file(np.random.default_rng(6), frames=40)
    stats = file_stats(ref, pred)
    for column in (0, 5):  # tp of class 0, its angle sum
        changed = stats.copy()
        changed[column] += 1e-6 if column == 5 else 1
        assert not same_stats(stats, changed)


def test_run_seld_perf_tiny():
    result = run_seld_perf(seconds=0.2, batch=1, files=2, frames=30, repeats=1)
    names = {row["features"] for row in result["features"]}
    assert names == {"gcc-ms", "salsa-lite", "ngcc-log-mel"}
    shapes = {row["features"]: row["shape"] for row in result["features"]}
    assert shapes["gcc-ms"] == (1, 10, 10, 64) and shapes["salsa-lite"] == (1, 7, 10, 382)
    assert all(math.isfinite(row["rtf"]) and row["rtf"] > 0 for row in result["features"])
    assert result["scorer"]["identical"] and result["scorer"]["speedup"] > 0
    assert "x real time" in format_seld_perf(result)


def test_bench_perf_seld_cli_tiny(capsys):
    outcome = invoke(capsys, "perf", "seld", "--seconds", "0.2", "--batch", "1", "--files", "2",
                     "--frames", "30", "--repeats", "1")
    assert outcome.code == 0, outcome.err
    assert "salsa-lite" in outcome.out and "identical statistics: yes" in outcome.out
    assert invoke(capsys, "perf", "seld", "--frames", "1").code == 2
