"""``bench perf fl``: QAT step overhead and payload rates are produced; bad flags are refused."""

from __future__ import annotations

from cli_helpers import invoke

from perloc.bench.perf.fl import format_fl_perf, run_fl_perf


def test_run_fl_perf_reports_steps_and_payload_rates():
    result = run_fl_perf(("lenet",), batch=2, repeats=1)
    (row,) = result["models"]
    assert row["fp32_ms"] > 0 and row["fp8_ms"] > 0 and row["encode_mb_s"] > 0
    assert row["payload_bytes"] == 800_144  # the spec formula for LeNet (test_fl_engine)
    assert 3.9 < row["compression"] < 4.0
    assert "QAT overhead" in format_fl_perf(result)


def test_unknown_model_is_a_flag_error(capsys):
    outcome = invoke(capsys, "perf", "fl", "--models", "vgg")
    assert outcome.code == 2 and "--models" in outcome.err and "vgg" in outcome.err
