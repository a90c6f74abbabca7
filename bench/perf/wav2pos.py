"""CPU cost of a wav2pos training step by TDOA-feature source: GCC-PHAT, NGCC, cached NGCC.

One step = forward, the eq. 3 loss, backward and AdamW on ``batch`` windows of ``mics`` + 1
channels with random masks (wav2pos_M), at the default profile's sizes (``bench/tasks/ssl.py``)
with the default profile's frozen NGCC (16 channels, 255 taps, tau 314):

* ``gcc``: GCC-PHAT correlations (Table 4's "+ TDOA feat. (GCC-PHAT)" row);
* ``ngcc``: the frozen NGCC run for every present pair of every step;
* ``ngcc-cached``: the same NGCC rows served by the pair cache
  (:mod:`perloc.methods.ssl.pair_cache`), warmed once on the batch's windows as a fixed
  training pool warms it in the first pass.

Reported: median ms per step over ``repeats`` (after a warm-up step), the cached step's ratio
to the GCC step (target <= 2x) and the uncached NGCC step's ratio to the cached one.
"""

from __future__ import annotations

import click
import numpy as np
import torch
from tabulate import tabulate

from perloc.bench.core import device
from perloc.bench.perf import benchmark
from perloc.bench.perf.timing import median_seconds

THREADS = 2


def _method(source: str, cached: bool):
    from perloc.bench.tasks.ssl import DEFAULT_SIZES
    from perloc.methods.ssl.wav2pos import Wav2posMethod, Wav2posMethodParams

    sizes = {**DEFAULT_SIZES["wav2pos"], "tdoa_source": source, "cache_ngcc": cached}
    sizes["head_hidden"] = tuple(sizes["head_hidden"])
    torch.manual_seed(0)
    return Wav2posMethod(Wav2posMethodParams(**sizes))


def _batch(batch: int, mics: int):
    from perloc.bench.core.batch import Batch

    rng = np.random.default_rng(0)
    signals = rng.standard_normal((batch, mics, 2048)).astype(np.float32)
    return Batch({"signals": signals, "clean": signals.copy(),
                  "source_signal": rng.standard_normal((batch, 2048)).astype(np.float32),
                  "mic_pos": rng.uniform(-3, 3, (batch, mics, 3)).astype(np.float32),
                  "position": rng.uniform(-2, 2, (batch, 3)).astype(np.float32),
                  "source_known": np.zeros(batch, dtype=bool)}, {})


def _step_ms(method, batch, repeats: int) -> float:
    model = method.model
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    target = device.tensor(batch["position"])
    rng = np.random.default_rng(1)

    def step() -> None:
        loss = method.loss(model, device.place(method.inputs(batch, rng)), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        device.synchronize()

    return 1e3 * median_seconds(step, repeats)


def _warm(method, batch) -> None:
    """Every ordered pair of the batch's channels (source included) into the cache."""
    net = method.model.net
    inputs = device.place(method.inputs(batch, None))
    full = torch.ones_like(inputs["audio_known"])
    every = torch.ones(len(batch), dtype=torch.bool, device=full.device)
    audio, _, _, audio_kn = net._inputs(inputs["signals"], inputs["mic_pos"], full, full,
                                        inputs["source_signal"], every)
    from perloc.methods.layers.gcc import ordered_pairs

    pairs = ordered_pairs(audio.shape[1], audio.device)
    with torch.no_grad():
        net.pair_correlations(audio, pairs, audio_kn[:, pairs[:, 0]] & audio_kn[:, pairs[:, 1]])


def run_wav2pos_perf(batch: int = 32, mics: int = 11, repeats: int = 3) -> dict:
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        data = _batch(batch, mics)
        rows = {}
        for name, source, cached in (("gcc", "gcc", False), ("ngcc", "ngcc", False),
                                     ("ngcc-cached", "ngcc", True)):
            method = _method(source, cached)
            if cached:
                _warm(method, data)
            rows[name] = _step_ms(method, data, repeats)
        return {"batch": batch, "mics": mics, "threads": THREADS, "step_ms": rows,
                "cached_vs_gcc": rows["ngcc-cached"] / rows["gcc"],
                "ngcc_vs_cached": rows["ngcc"] / rows["ngcc-cached"]}
    finally:
        torch.set_num_threads(previous)


def format_wav2pos_perf(result: dict) -> str:
    rows = [[name, f"{ms:.0f}"] for name, ms in result["step_ms"].items()]
    table = tabulate(rows, headers=["TDOA features", "ms per training step"])
    return (f"wav2pos training step, default sizes, batch {result['batch']}, "
            f"M = {result['mics']} + source, {result['threads']} threads\n\n{table}\n\n"
            f"cached NGCC / GCC-PHAT step: {result['cached_vs_gcc']:.2f}x (target <= 2x); "
            f"uncached NGCC / cached NGCC: {result['ngcc_vs_cached']:.1f}x")


@benchmark("wav2pos")
@click.option("--batch", default=32, show_default=True, type=click.IntRange(1, 1024))
@click.option("--mics", default=11, show_default=True, type=click.IntRange(5, 64))
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 100))
def wav2pos_perf(batch: int, mics: int, repeats: int) -> None:
    """wav2pos training step with GCC-PHAT, NGCC and cached NGCC TDOA features."""
    click.echo(format_wav2pos_perf(run_wav2pos_perf(batch, mics, repeats)))

