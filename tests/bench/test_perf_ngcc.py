import math

from perloc.bench.perf.ngcc import format_ngcc_perf, run_ngcc_perf
from perloc.methods.tdoa.ngcc import NgccParams

KEYS = {
    "M",
    "N",
    "L",
    "P",
    "sinc_direct_ms",
    "sinc_fft_ms",
    "sinc_fft_uncached_ms",
    "sinc_speedup",
    "per_pair_ms",
    "per_pair_direct_ms",
    "stacked_ms",
    "features_ms",
    "speedup_vs_per_pair",
    "speedup_vs_per_pair_direct",
    "speedup_vs_stacked",
    "max_abs_diff",
}


def test_run_ngcc_perf_smoke():
    params = NgccParams(sig_len=256, max_tau=8, channels=8, corr_channels=8, sinc_kernel=31)
    d = run_ngcc_perf(mics=3, repeats=1, params=params)
    assert set(d) == KEYS
    assert (d["M"], d["P"], d["N"], d["L"]) == (3, 3, 256, 8)
    assert all(math.isfinite(v) for v in d.values())
    assert d["max_abs_diff"] < 1e-4
    assert "features()" in format_ngcc_perf(d)
