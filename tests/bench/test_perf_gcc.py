import math

from perloc.bench.perf.gcc import format_gcc_perf, run_gcc_perf

KEYS = {
    "M",
    "P",
    "a_pairs_s",
    "b_pairs_s",
    "ours_pairs_s",
    "fft_only_pairs_s",
    "speedup_vs_a",
    "speedup_vs_b",
    "ratio_to_fft_only",
}


def test_run_gcc_perf_rows():
    rows = run_gcc_perf(mics=(2,), batch=4, repeats=1)
    assert len(rows) == 1 and set(rows[0]) == KEYS
    assert rows[0]["M"] == 2 and rows[0]["P"] == 1
    assert all(math.isfinite(v) and v > 0 for v in rows[0].values())
    assert "ours" in format_gcc_perf(rows)
