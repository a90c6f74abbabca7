"""``bench perf points``: grouping rates and the attention-cost table are produced; the MAC
columns follow the spec's complexity (Point-TnT flat in N, the Baseline growing); bad flags
are refused."""

from __future__ import annotations

from cli_helpers import invoke

from perloc.bench.perf.points import attention_costs, format_points_perf, grouping_rates


def test_grouping_and_attention_costs_are_reported():
    g = grouping_rates(batch=2, n=256, anchors=16, k=4, repeats=1)
    assert g["batched_clouds_s"] > 0 and g["loop_clouds_s"] > 0 and g["speedup"] > 0
    rows = attention_costs((192, 384), repeats=1)
    assert rows[0]["tnt_macs"] == rows[1]["tnt_macs"]  # no N in Point-TnT's count
    # the Baseline's attention terms grow as N^2: more than double for twice the points
    assert rows[1]["baseline_macs"] > 2 * rows[0]["baseline_macs"]
    text = format_points_perf({"threads": 1, "grouping": g, "attention": rows})
    assert "per-cloud loop" in text and "Baseline GMACs" in text


def test_bad_sizes_are_a_flag_error(capsys):
    outcome = invoke(capsys, "perf", "points", "--sizes", "64,abc")
    assert outcome.code == 2 and "--sizes" in outcome.err and len(outcome.err.splitlines()) == 1
