"""``bench perf kws``: the front-end, cache and training-step figures are produced."""

from __future__ import annotations

from cli_helpers import invoke

from perloc.bench.perf.kws import format_kws_perf, run_kws_perf


def test_run_kws_perf_reports_rates_and_both_precisions():
    result = run_kws_perf(("kwt-1",), batch=2, depth=1, clips=16, repeats=1)
    assert result["mfcc_clips_per_s"] > 0 and result["cache_clips_per_s"] > 0
    (step,) = result["steps"]
    assert step["depth"] == 1 and step["fp32_ms"] > 0 and step["bf16_ms"] > 0
    assert "bf16 speed-up" in format_kws_perf(result)


def test_unknown_size_is_a_flag_error(capsys):
    outcome = invoke(capsys, "perf", "kws", "--sizes", "kwt-9")
    assert outcome.code == 2 and "--sizes" in outcome.err and "kwt-9" in outcome.err
