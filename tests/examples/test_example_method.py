"""The worked plug-in example (examples/perloc-example-method): a known answer, and a smoke
run through the CLI by the no-install route ``-m perloc_example_method.method:gcc-phat-interp``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from perloc.bench.core.batch import Batch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "perloc-example-method"


@pytest.fixture(scope="module")
def example():
    """The example's method module (importing it registers gcc-phat-interp here too)."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        from perloc_example_method import method
    finally:
        sys.path.remove(str(EXAMPLE))
    return method


def _delayed_pair(delay: float, n: int = 4096, margin: int = 64) -> np.ndarray:
    """[1, 2, n]: a window of white noise (channel 1) and, as channel 0, the same noise delayed
    by ``delay`` samples, a fractional delay made by an FFT phase shift of a longer signal.

    White, not band-limited: PHAT whitens every bin, so an empty band (filled only by the
    window's leakage) would add as much noise to the correlation as the band holding the signal.
    """
    long = n + 2 * margin
    spectrum = np.fft.rfft(np.random.default_rng(0).standard_normal(long))
    shift = np.exp(-2j * np.pi * np.fft.rfftfreq(long) * delay)
    pair = np.stack([np.fft.irfft(spectrum * shift, long), np.fft.irfft(spectrum, long)])
    return pair[None, :, margin:margin + n].astype(np.float32)


@pytest.mark.parametrize("delay", [3.4, -5.7, 0.25])
def test_interpolation_finds_a_fractional_delay_the_integer_peak_misses(example, delay):
    from perloc.methods.tdoa.classical import GccTdoa

    signals = Batch({"signals": _delayed_pair(delay)})
    integer = GccTdoa().predict(signals)["tau"][0]
    assert integer == round(delay)
    estimate = example.GccPhatInterp().predict(signals)["tau"][0]
    assert abs(estimate - delay) < 0.3
    assert abs(estimate - delay) < abs(integer - delay)


def test_the_parabola_vertex_and_the_window_edge(example):
    lags = np.arange(-3, 4, dtype=np.float64)
    parabola = -((lags - 1.3) ** 2)
    assert example.parabolic_peak(parabola[None]) == pytest.approx([1.3])
    rising = lags[None].copy()  # peak on the last lag: no neighbour to its right
    assert example.parabolic_peak(rising).tolist() == [3.0]


def test_the_example_runs_through_the_cli_without_installing(workspace):
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE)}
    done = subprocess.run([sys.executable, "-m", "perloc.bench.cli.main", "run", "tdoa",
                           "--profile", "smoke", "--json", "-m", "gcc-phat",
                           "-m", "perloc_example_method.method:gcc-phat-interp"],
                          cwd=workspace, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    plain, interp = json.loads(done.stdout)
    assert (plain["method"], interp["method"]) == ("gcc-phat", "gcc-phat-interp")
    assert interp["params"] == {"eps": 1e-3, "max_tau": 23, "n_fft": None}
    fine = "acc_2cm"  # within 2 cm: under one sample (2.14 cm), where interpolation helps
    assert interp["scores"][fine]["value"] > plain["scores"][fine]["value"]
