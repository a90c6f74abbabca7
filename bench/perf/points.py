"""CPU cost of Paper II's point-cloud ops and its complexity claim, measured.

1. Sampling and grouping: farthest point sampling (M anchors) and the dilated kNN of the
   anchors over all N points, batched over B clouds in torch (``methods.points.ops``) against
   a straightforward per-cloud loop (the ``*_loop`` references), in clouds/s, and the speed-up.
2. Attention cost as N grows: one forward of Point-TnT (M = 192 anchors, k = 20; local
   attention over k tokens per patch, global over M) against the Baseline (global attention
   over all N points), same width and depth, for N in ``sizes``: milliseconds per cloud and the
   analytic multiply-accumulates (``methods.points.macs``; attention O(M k^2 + M^2) against
   O(N^2)).

Times are medians of ``repeats`` after a warm-up, on ``THREADS`` torch threads. Clouds and
models sit on the current device (:mod:`perloc.bench.core.device`; the CPU unless a placement
is entered), and each timed call waits for the device before the clock is read.
"""

from __future__ import annotations

import click
import torch
from tabulate import tabulate

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.perf import benchmark
from perloc.bench.perf.timing import median_seconds
from perloc.methods.points.macs import baseline_macs, point_tnt_macs
from perloc.methods.points.ops import (
    farthest_point_sample,
    farthest_point_sample_loop,
    knn,
    knn_loop,
)
from perloc.methods.points.point_tnt import baseline, point_tnt

THREADS = 2


def _clouds(batch: int, n: int) -> torch.Tensor:
    """``batch`` clouds of ``n`` Gaussian points, drawn on the host (the same on every device)
    and put on the current device."""
    gen = torch.Generator().manual_seed(0)
    return device.tensor(torch.randn(batch, n, 3, generator=gen, device=gen.device))


def _timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()``, the device synchronised before each clock read."""

    def call() -> None:
        fn()
        device.synchronize()

    return median_seconds(call, repeats)


def grouping_rates(batch: int, n: int, anchors: int, k: int, repeats: int) -> dict:
    """Clouds/s of FPS + kNN, batched and per-cloud, and their ratio."""
    xyz = _clouds(batch, n)

    def batched():
        idx = farthest_point_sample(xyz, anchors)
        knn(torch.gather(xyz, 1, idx[..., None].expand(-1, -1, 3)), xyz, k)

    def looped():
        for cloud in xyz:
            c = cloud[None]
            idx = farthest_point_sample_loop(c, anchors)
            knn_loop(torch.gather(c, 1, idx[..., None].expand(-1, -1, 3)), c, k)

    fast, slow = _timed(batched, repeats), _timed(looped, repeats)
    return {"batch": batch, "n": n, "anchors": anchors, "k": k, "batched_clouds_s": batch / fast,
            "loop_clouds_s": batch / slow, "speedup": slow / fast}


def attention_costs(sizes: tuple[int, ...], repeats: int) -> list[dict]:
    """Per N: Point-TnT-3 and Baseline forward ms per cloud (eval, batch 1) and their MACs."""
    rows = []
    for n in sizes:
        x = _clouds(1, n)
        row = {"n": n}
        for name, model, macs in (
                ("tnt", device.build(lambda n=n: point_tnt(3, n_points=n)), point_tnt_macs),
                ("baseline", device.build(lambda n=n: baseline(n_points=n)), baseline_macs)):
            model.eval()
            with torch.inference_mode():
                row[f"{name}_ms"] = 1e3 * _timed(lambda m=model, x=x: m(x), repeats)
            row[f"{name}_macs"] = macs(model.config, n)
        rows.append(row)
    return rows


def run_points_perf(sizes: tuple[int, ...] = (256, 512, 1024, 2048), batch: int = 16,
                    repeats: int = 3) -> dict:
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        return {"threads": THREADS,
                "grouping": grouping_rates(batch, 1024, 192, 20, repeats),
                "attention": attention_costs(sizes, repeats)}
    finally:
        torch.set_num_threads(previous)


def format_points_perf(result: dict) -> str:
    g = result["grouping"]
    head = tabulate([[g["batch"], g["n"], g["anchors"], g["k"], f"{g['batched_clouds_s']:.0f}",
                      f"{g['loop_clouds_s']:.0f}", f"{g['speedup']:.1f}x"]],
                    headers=["clouds", "points", "anchors", "k", "batched clouds/s",
                             "per-cloud loop clouds/s", "speed-up"])
    rows = [[r["n"], f"{r['tnt_ms']:.1f}", f"{r['baseline_ms']:.1f}",
             f"{r['baseline_ms'] / r['tnt_ms']:.1f}x", f"{r['tnt_macs'] / 1e9:.2f}",
             f"{r['baseline_macs'] / 1e9:.2f}"] for r in result["attention"]]
    body = tabulate(rows, headers=["points N", "Point-TnT-3 ms", "Baseline ms", "ratio",
                                   "Point-TnT-3 GMACs", "Baseline GMACs"])
    return (f"FPS + kNN grouping\n{head}\n\nforward per cloud (batch 1, eval)\n{body}\n"
            f"({result['threads']} torch threads; Point-TnT's cost is flat in N beyond the kNN "
            "search, the Baseline's attention grows as N^2)")


@benchmark("points")
@click.option("--sizes", default="256,512,1024,2048", show_default=True,
              help="Comma-separated point counts N for the attention comparison.")
@click.option("--batch", default=16, show_default=True, type=click.IntRange(1, 1024),
              help="Clouds per batch for the grouping comparison.")
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 100))
def perf_points_cmd(sizes: str, batch: int, repeats: int) -> None:
    """FPS + kNN batched against a per-cloud loop; Point-TnT against global attention as N grows."""
    try:
        values = tuple(int(s) for s in sizes.split(",") if s.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 192:
        raise UserError(f"--sizes: {sizes!r} is not a list of point counts of at least 192 "
                        "(the anchors), e.g. 512,1024")
    click.echo(format_points_perf(run_points_perf(values, batch=batch, repeats=repeats)))
