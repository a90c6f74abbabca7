"""Throughput of all-pairs GCC-PHAT: naive loops vs the batched op vs the FFTs alone.

Throughput is pairs*frames per second (median of ``repeats`` after one warm-up), float32,
``torch`` with 2 threads. Variants, for ``batch`` frames of ``M`` channels of ``n`` samples:

* (a) loop over frames and pairs: rfft both signals, G / (|G| + eps), irfft, crop (scipy.fft,
  which measured ~2.5x faster than torch.fft for single 4096-point transforms here);
* (b) loop over pairs, vectorised over frames (torch.fft, same steps);
* ours: :func:`perloc.methods.layers.gcc.gcc` (all pairs, PHAT, max_tau 23, n = 2N);
* (d) FFTs alone: rfft of all channels + irfft of B*P ready-made spectra, in blocks and chunks
  of the same size as ours, keeping the cropped lags; ``ratio_to_fft_only`` = ours / (d) time.
"""

from __future__ import annotations

import click
import numpy as np
import scipy.fft
import torch
from tabulate import tabulate

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.perf import benchmark
from perloc.bench.perf.timing import median_seconds
from perloc.methods.layers.gcc import CHUNK_BYTES, GCCParams, all_pairs, gcc

THREADS = 2


def _loop_frames_pairs(x: np.ndarray, pairs: np.ndarray, p: GCCParams) -> np.ndarray:
    b, _, n_samples = x.shape
    n, tau = 2 * n_samples, p.max_tau
    out = np.empty((b, len(pairs), 2 * tau + 1), dtype=np.float32)
    for f in range(b):
        for k, (i, j) in enumerate(pairs):
            cross = scipy.fft.rfft(x[f, i], n) * np.conj(scipy.fft.rfft(x[f, j], n))
            cc = scipy.fft.irfft(cross / (np.abs(cross) + p.eps), n)
            out[f, k] = np.concatenate([cc[-tau:], cc[: tau + 1]])
    return out


def _loop_pairs(x: torch.Tensor, pairs: np.ndarray, p: GCCParams) -> torch.Tensor:
    n, tau = 2 * x.shape[-1], p.max_tau
    out = torch.empty(x.shape[0], len(pairs), 2 * tau + 1, device=x.device)
    for k, (i, j) in enumerate(pairs):
        cross = torch.fft.rfft(x[:, i], n=n) * torch.fft.rfft(x[:, j], n=n).conj()
        cc = torch.fft.irfft(cross / (cross.abs() + p.eps), n=n)
        out[:, k] = torch.cat([cc[:, -tau:], cc[:, : tau + 1]], dim=1)
    return out


def _spectra_pool(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``rows`` ready-made spectra (tiled channel spectra), the inputs of (d)'s irffts."""
    flat = x.reshape(-1, x.shape[-1])
    return torch.fft.rfft(flat[torch.arange(rows, device=x.device) % len(flat)],
                          n=2 * x.shape[-1])


def _fft_only(x: torch.Tensor, n_pairs: int, p: GCCParams, pool: torch.Tensor) -> None:
    """The transforms of :func:`gcc` alone, in the same blocks: rfft + cropped irfft."""
    b, m, n_samples = x.shape
    n, lags = 2 * n_samples, 2 * p.max_tau + 1
    frames = max(1, min(b, len(pool) // max(n_pairs, m)))
    for f0 in range(0, b, frames):
        fb = min(frames, b - f0)
        torch.fft.rfft(x[f0 : f0 + fb], n=n)
        for s in range(0, fb * n_pairs, len(pool)):
            torch.fft.irfft(pool[: fb * n_pairs - s], n=n)[:, :lags].clone()


def _measure(x: torch.Tensor, params: GCCParams, repeats: int) -> dict:
    m = x.shape[1]
    pairs = device.host(all_pairs(m))
    x_np, work = device.host(x), x.shape[0] * len(pairs)
    pool = _spectra_pool(x, max(1, CHUNK_BYTES // (8 * (x.shape[-1] + 1))))
    with torch.inference_mode():
        t = {
            "a": median_seconds(lambda: _loop_frames_pairs(x_np, pairs, params), repeats),
            "b": median_seconds(lambda: _loop_pairs(x, pairs, params), repeats),
            "ours": median_seconds(lambda: gcc(x, None, params), repeats),
            "fft": median_seconds(lambda: _fft_only(x, len(pairs), params, pool), repeats),
        }
    return {
        "M": m,
        "P": len(pairs),
        "a_pairs_s": work / t["a"],
        "b_pairs_s": work / t["b"],
        "ours_pairs_s": work / t["ours"],
        "fft_only_pairs_s": work / t["fft"],
        "speedup_vs_a": t["a"] / t["ours"],
        "speedup_vs_b": t["b"] / t["ours"],
        "ratio_to_fft_only": t["ours"] / t["fft"],
    }


def run_gcc_perf(mics=(2, 4, 11, 32), n=2048, batch=256, repeats=3, seed=0) -> list[dict]:
    """Measure the four variants for each array size ``M`` in ``mics``; one row per ``M``.

    Runs with 2 torch threads (the previous setting is restored afterwards).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    rng = np.random.default_rng(seed)
    try:
        return [
            _measure(
                device.tensor(rng.standard_normal((batch, m, n)).astype(np.float32)),
                GCCParams(),
                repeats,
            )
            for m in mics
        ]
    finally:
        torch.set_num_threads(threads)


def format_gcc_perf(rows: list[dict]) -> str:
    """Plain-text table; throughputs in thousands of pairs*frames per second."""
    table = [
        [
            r["M"],
            r["P"],
            *(
                f"{r[k] / 1e3:.1f}k"
                for k in ("a_pairs_s", "b_pairs_s", "ours_pairs_s", "fft_only_pairs_s")
            ),
            f"{r['speedup_vs_a']:.1f}x",
            f"{r['speedup_vs_b']:.1f}x",
            f"{r['ratio_to_fft_only']:.2f}",
        ]
        for r in rows
    ]
    head = [
        "M",
        "P",
        "(a) frame x pair loop",
        "(b) pair loop",
        "ours",
        "FFT only",
        "ours/(a)",
        "ours/(b)",
        "ours time / FFT time",
    ]
    return tabulate(table, headers=head, tablefmt="github")


@benchmark("gcc")
@click.option("--mics", default="2,4,11,32", show_default=True, help="Comma-separated M values.")
@click.option("--batch", default=256, show_default=True, type=int)
@click.option("--samples", default=2048, show_default=True, type=int)
@click.option("--repeats", default=3, show_default=True, type=int)
def perf_gcc_cmd(mics: str, batch: int, samples: int, repeats: int) -> None:
    """All-pairs GCC-PHAT throughput against loop baselines and the FFTs alone."""
    try:
        values = tuple(int(m) for m in mics.split(","))
    except ValueError:
        raise UserError(f"--mics: {mics!r} is not a comma-separated list of integers") from None
    if any(m < 2 for m in values):
        raise UserError("--mics: every M must be at least 2")
    click.echo(format_gcc_perf(run_gcc_perf(values, samples, batch, repeats)))


if __name__ == "__main__":
    print(format_gcc_perf(run_gcc_perf()))
