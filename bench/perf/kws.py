"""CPU cost of the keyword-spotting pipeline: front end, feature cache, KWT training steps.

1. ``mfcc_clips_per_s``: the torch MFCC front end on a batch of ``clips`` random 1-s clips
   (chunks of 256, as the feature cache computes them);
2. ``cache_clips_per_s``: reading the same MFCCs back from the HDF5 feature cache, and
   ``cache_speedup`` = cache read rate / front-end rate (what epochs after the first save);
3. per KWT size: one training step (forward, label-smoothed CE, backward, AdamW) on a batch of
   ``batch`` MFCCs, fp32 against bf16 autocast (fp32 master weights), ``bf16_speedup`` =
   fp32 ms / bf16 ms.

Times are medians of ``repeats`` after a warm-up, on ``THREADS`` torch threads. The training
steps run on the current placement's device (:mod:`perloc.bench.core.device`; the CPU unless a
caller enters another), each ending with a device synchronisation so the timer sees the work;
the front end and the cache are the CPU data path whatever the device.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import click
import numpy as np
import torch
import torch.nn.functional as F
from tabulate import tabulate

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.perf import benchmark
from perloc.bench.perf.timing import median_seconds
from perloc.datasets.feature_cache import FeatureCache
from perloc.datasets.kws_data import mfcc_features
from perloc.methods.kws.kwt_model import KWT, KWT_SIZES
from perloc.methods.training import Optimization, autocast_context

THREADS = 2


def _step_ms(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, precision: str,
             repeats: int) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    opt = Optimization(autocast="bf16" if precision == "bf16" else None)

    def step() -> None:
        with autocast_context(opt):
            loss = F.cross_entropy(model(x).float(), y, label_smoothing=0.1)
        with device.unchecked():
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        device.synchronize()

    return 1e3 * median_seconds(step, repeats)


def _frontend_rates(clips: int, repeats: int) -> dict:
    audio = (0.1 * np.random.default_rng(0).standard_normal((clips, 16_000))).astype(np.float32)
    compute_s = median_seconds(lambda: mfcc_features(audio), repeats)
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(Path(tmp) / "features.h5")
        cache.get(("perf", clips), lambda: mfcc_features(audio))
        read_s = median_seconds(lambda: cache.get(("perf", clips), lambda: None), repeats)
    return {"clips": clips, "mfcc_clips_per_s": clips / compute_s,
            "cache_clips_per_s": clips / read_s, "cache_speedup": compute_s / read_s}


def run_kws_perf(sizes: tuple[str, ...] = ("kwt-1", "kwt-3"), batch: int = 64,
                 depth: int | None = None, clips: int = 1024, repeats: int = 3) -> dict:
    """Front-end and cache rates, and fp32 / bf16 training-step times per KWT size."""
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        out = _frontend_rates(clips, repeats)
        gen = torch.Generator().manual_seed(0)  # drawn on the CPU: the same batch everywhere
        x = device.tensor(torch.randn(batch, 98, 40, generator=gen, device=gen.device))
        y = device.tensor(torch.randint(0, 12, (batch,), generator=gen, device=gen.device))
        steps = []
        for name in sizes:
            params = KWT_SIZES[name] if depth is None else replace(KWT_SIZES[name], depth=depth)
            torch.manual_seed(0)
            model = device.build(lambda p=params: KWT(p)).train()
            fp32 = _step_ms(model, x, y, "fp32", repeats)
            bf16 = _step_ms(model, x, y, "bf16", repeats)
            steps.append({"model": name, "depth": params.depth, "batch": batch,
                          "fp32_ms": fp32, "bf16_ms": bf16, "bf16_speedup": fp32 / bf16})
        out["steps"] = steps
        out["threads"] = THREADS
        return out
    finally:
        torch.set_num_threads(previous)


def format_kws_perf(result: dict) -> str:
    head = (f"MFCC front end: {result['mfcc_clips_per_s']:.0f} clips/s; HDF5 feature cache read: "
            f"{result['cache_clips_per_s']:.0f} clips/s ({result['cache_speedup']:.1f}x), "
            f"{result['clips']} clips, {result['threads']} threads")
    rows = [[s["model"], s["depth"], s["batch"], f"{s['fp32_ms']:.0f}", f"{s['bf16_ms']:.0f}",
             f"{s['bf16_speedup']:.2f}x"] for s in result["steps"]]
    table = tabulate(rows, headers=["model", "layers", "batch", "fp32 step ms",
                                    "bf16 autocast step ms", "bf16 speed-up"])
    return f"{head}\n\n{table}"


@benchmark("kws")
@click.option("--sizes", default="kwt-1,kwt-3", show_default=True,
              help="Comma-separated KWT sizes (kwt-1, kwt-2, kwt-3).")
@click.option("--batch", default=64, show_default=True, type=click.IntRange(1, 4096))
@click.option("--depth", default=None, type=click.IntRange(1, 48), help="Layers (default: 12).")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 100))
def perf_kws_cmd(sizes: str, batch: int, depth: int | None, repeats: int) -> None:
    """MFCC front end and feature-cache rates; KWT training step fp32 vs bf16 autocast."""
    names = tuple(s.strip() for s in sizes.split(",") if s.strip())
    unknown = [n for n in names if n not in KWT_SIZES]
    if unknown or not names:
        raise UserError(f"--sizes: unknown KWT size {unknown[0] if unknown else sizes!r} "
                        f"(known: {', '.join(KWT_SIZES)})")
    click.echo(format_kws_perf(run_kws_perf(names, batch=batch, depth=depth, repeats=repeats)))
