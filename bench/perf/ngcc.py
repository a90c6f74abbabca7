"""Inference cost of NGCC-PHAT on CPU: FFT sinc conv, shared backbone for microphone arrays.

Paper config (untrained weights, eval mode, ``torch.inference_mode``, 2 torch threads), one
frame of ``mics`` random 2048-sample signals; times are medians of ``repeats`` after a warm-up
(the sinc conv timings use 20x ``repeats``).

1. first layer, one signal: SincConv direct (filters + circular pad + 1023-tap conv1d) vs FFT
   (cached kernel spectra, i.e. inference; ``sinc_fft_uncached_ms`` recomputes them);
2. all M(M-1)/2 pairs, per-channel correlations ``[P, L, 47]``:
   * ``per_pair``: one call per pair, both backbones + GCC (filter network recomputed per
     pair), as a pairwise model would be run; ``per_pair_direct``: the same with the direct
     sinc conv (the reference implementation's cost);
   * ``stacked``: the P pairs stacked into one batch of P (x_i, x_j) rows;
   * ``features``: :meth:`NGCCPHAT.features` (backbone once per mic, shared GCC op);
   ``max_abs_diff`` compares ``features`` with ``per_pair``.
"""

from __future__ import annotations

from collections.abc import Callable

import click
import torch
from tabulate import tabulate

from perloc.bench.core import device
from perloc.bench.perf import benchmark
from perloc.bench.perf.timing import median_seconds
from perloc.methods.layers.gcc import all_pairs
from perloc.methods.tdoa.ngcc import NGCCPHAT, NgccParams

THREADS = 2


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    return 1e3 * median_seconds(fn, repeats)


def _per_pair(model: NGCCPHAT, x: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    out = [
        model.correlate(model.backbone_features(x[:, i]), model.backbone_features(x[:, j]))
        for i, j in pairs.tolist()
    ]
    return torch.stack(out, dim=1)


def _stacked(model: NGCCPHAT, x: torch.Tensor, pairs: torch.Tensor) -> torch.Tensor:
    f1 = model.backbone_features(x[0, pairs[:, 0]])
    f2 = model.backbone_features(x[0, pairs[:, 1]])
    return model.correlate(f1, f2)[None]


def _sinc_times(model: NGCCPHAT, n: int, repeats: int) -> dict:
    sinc = model.backbone.conv[0]
    if not hasattr(sinc, "spectrum"):
        return {}
    x = torch.randn(1, 1, n, device=sinc.low_hz_.device)
    repeats = 20 * repeats  # ~1 ms calls: more repeats
    t_direct = _median_ms(lambda: sinc.direct(x), repeats)
    t_fft = _median_ms(lambda: sinc(x), repeats)

    def uncached():
        sinc._cache = None
        return sinc(x)

    t_raw = _median_ms(uncached, repeats)
    return {
        "sinc_direct_ms": t_direct,
        "sinc_fft_ms": t_fft,
        "sinc_fft_uncached_ms": t_raw,
        "sinc_speedup": t_direct / t_fft,
    }


def _pair_times(model: NGCCPHAT, x: torch.Tensor, repeats: int, stacked: bool) -> dict:
    pairs = all_pairs(x.shape[1], x.device)
    sinc = model.backbone.conv[0]
    t = {"per_pair": _median_ms(lambda: _per_pair(model, x, pairs), repeats)}
    if hasattr(sinc, "fft"):
        sinc.fft = False
        t["per_pair_direct"] = _median_ms(lambda: _per_pair(model, x, pairs), repeats)
        sinc.fft = True
    if stacked:
        t["stacked"] = _median_ms(lambda: _stacked(model, x, pairs), repeats)
    t["features"] = _median_ms(lambda: model.features(x, pairs), repeats)
    diff = (model.features(x, pairs) - _per_pair(model, x, pairs)).abs().max().item()
    out = {f"{k}_ms": v for k, v in t.items()}
    out.update({f"speedup_vs_{k}": v / t["features"] for k, v in t.items() if k != "features"})
    return {"P": len(pairs), **out, "max_abs_diff": diff}


def run_ngcc_perf(
    mics: int = 11,
    repeats: int = 3,
    params: NgccParams | None = None,
    stacked: bool = True,
    seed: int = 0,
) -> dict:
    """Measure sinc conv and per-pair vs shared-backbone cost for one ``mics``-channel frame.

    ``params`` defaults to the paper config; ``stacked=False`` skips the (slow) stacked variant.
    """
    params = NgccParams() if params is None else params
    if mics < 2:
        raise ValueError(f"mics must be >= 2, got {mics}")
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    torch.manual_seed(seed)
    try:
        model = device.build(lambda: NGCCPHAT(params)).eval()
        x = device.place(torch.randn(1, mics, params.sig_len, device=device.HOST))  # one draw
        with torch.inference_mode():
            result = {"M": mics, "N": params.sig_len, "L": params.corr_channels}
            result.update(_sinc_times(model, params.sig_len, repeats))
            result.update(_pair_times(model, x, repeats, stacked))
        return result
    finally:
        torch.set_num_threads(threads)


def format_ngcc_perf(d: dict) -> str:
    """Two small tables: sinc conv per signal, and array cost per frame (ms, speed-ups)."""
    lines = []
    if "sinc_direct_ms" in d:
        row = [
            d["sinc_direct_ms"],
            d["sinc_fft_ms"],
            d["sinc_fft_uncached_ms"],
            f"{d['sinc_speedup']:.1f}x",
        ]
        head = ["sinc direct ms", "sinc FFT ms", "FFT, spectra recomputed ms", "speed-up"]
        lines.append(tabulate([row], headers=head, tablefmt="github", floatfmt=".2f"))
    rows = [
        [name, d[f"{key}_ms"], f"{d[f'speedup_vs_{key}']:.1f}x" if key != "features" else "1.0x"]
        for name, key in (
            ("per pair (backbones recomputed, FFT sinc)", "per_pair"),
            ("per pair, direct sinc (reference cost)", "per_pair_direct"),
            (f"{d['P']} pairs stacked in one batch", "stacked"),
            ("features(): backbone once per mic", "features"),
        )
        if f"{key}_ms" in d
    ]
    title = f"M={d['M']} mics, P={d['P']} pairs, N={d['N']}, L={d['L']}"
    head = [title, "ms per frame", "features() speed-up"]
    lines.append(tabulate(rows, headers=head, tablefmt="github", floatfmt=".1f"))
    lines.append(f"max |features - per pair| = {d['max_abs_diff']:.2e}")
    return "\n\n".join(lines)


@benchmark("ngcc")
@click.option("--mics", default=11, show_default=True, type=click.IntRange(2, 64))
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 100))
@click.option("--no-stacked", is_flag=True, help="Skip the (slow) all-pairs-in-one-batch timing.")
def perf_ngcc_cmd(mics: int, repeats: int, no_stacked: bool) -> None:
    """NGCC-PHAT: FFT vs direct sinc conv, shared backbone (features) vs per-pair recomputation."""
    click.echo(format_ngcc_perf(run_ngcc_perf(mics=mics, repeats=repeats, stacked=not no_stacked)))


if __name__ == "__main__":
    print(format_ngcc_perf(run_ngcc_perf()))
