"""``bench perf steps``: paper-size training steps on the cell's device (CPU here)."""

from __future__ import annotations

import pytest
from cli_helpers import invoke

from perloc.bench.perf.steps import PROBES, run_steps_perf


def test_rows_are_consistent_and_carry_no_cpu_ratio_on_the_cpu():
    (row,) = run_steps_perf(("kwt-1",), steps=2, warmup=0, batch=2)
    assert row["model"] == "kwt-1" and row["batch"] == 2 and row["steps"] == 2
    assert row["step_ms"] > 0 and row["peak_mib"] > 0
    assert row["samples_per_s"] == pytest.approx(2 / (row["step_ms"] / 1e3))
    assert "speedup_vs_cpu" not in row  # the ratio is measured only off the CPU


def test_the_paper_batches_are_the_papers():
    assert {name: p.batch for name, p in PROBES.items()} == {
        "ngcc-phat": 32, "kwt-1": 512, "wav2pos": 256}


def test_through_the_cli_with_its_device_line(capsys):
    result = invoke(capsys, "perf", "steps", "--models", "ngcc-phat", "--steps", "1",
                    "--warmup", "0", "--batch", "2", "--device", "cpu")
    assert result.code == 0, result.err
    assert "ngcc-phat" in result.out and "measured on: cpu" in result.err


def test_an_unknown_model_is_one_error_line(capsys):
    result = invoke(capsys, "perf", "steps", "--models", "kwt-9")
    assert result.code == 2
    assert result.err == "error: --models: unknown model 'kwt-9' (known: ngcc-phat, kwt-1, wav2pos)\n"
