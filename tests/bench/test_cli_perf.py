"""``bench perf``: benchmarks come from the PERF registry (one module under bench/perf each)."""

from __future__ import annotations

import click
from cli_helpers import invoke, scratch_registry

from perloc.bench.core.registry import PERF
from perloc.bench.perf import benchmark


def test_perf_alone_lists_the_benchmarks_with_their_first_doc_line(capsys):
    result = invoke(capsys, "perf")
    assert result.code == 0, result
    rows = {line.split()[0]: line for line in result.out.splitlines()[2:]}
    assert "All-pairs GCC-PHAT throughput" in rows["gcc"]
    assert "NGCC-PHAT: FFT vs direct sinc conv" in rows["ngcc"]
    assert "MFCC front end and feature-cache rates" in rows["kws"]
    assert "SELD feature real-time factors" in rows["seld"]
    assert "Harness overhead per cell" in rows["harness"]


def test_an_unknown_benchmark_is_one_error_line_naming_the_known(capsys):
    result = invoke(capsys, "perf", "fft")
    assert result.code == 2 and result.err == (
        "error: unknown perf benchmark 'fft' (known: fl, gcc, harness, kws, ngcc, points, seld, steps, wav2pos)\n"), result


def test_gcc_mics_are_checked_by_the_benchmark_itself(capsys):
    result = invoke(capsys, "perf", "gcc", "--mics", "2,x")
    assert result.code == 2 and result.err == (
        "error: --mics: '2,x' is not a comma-separated list of integers\n"), result


def test_a_registered_benchmark_is_a_subcommand_without_cli_edits(capsys, monkeypatch):
    scratch_registry(monkeypatch, PERF)

    @benchmark("double")
    @click.option("--n", type=int, required=True)
    def double(n: int) -> None:
        """Twice N."""
        click.echo(2 * n)

    assert invoke(capsys, "perf", "double", "--n", "21").out == "42\n"
    assert "Twice N." in invoke(capsys, "perf").out
    result = invoke(capsys, "perf", "double")
    assert result.code == 2 and "Missing option '--n'" in result.err


def test_the_scratch_benchmark_is_gone_afterwards():
    assert PERF.names() == ["fl", "gcc", "harness", "kws", "ngcc", "points", "seld", "steps",
                            "wav2pos"]
