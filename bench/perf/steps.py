"""Training steps of the paper-size models on the cell's device: the device issue's figures.

Per model, ``steps`` optimiser steps (forward, the method's own loss, backward, AdamW) after
``warmup`` untimed ones, on random inputs of the training shapes and the paper's batch size:

* ``ngcc-phat``: Paper V's NGCC-PHAT (SincNet f, 128 channels, lag CNN g), cross-entropy over
  the 2 tau_max + 1 delays, batch 32 pairs of 2048 samples;
* ``kwt-1``: Paper III's KWT-1 on 98 x 40 MFCCs, label-smoothed cross-entropy, batch 512;
* ``wav2pos``: Paper VII's wav2pos at paper sizes with its frozen NGCC-PHAT features computed
  every step (no pair cache: the paper profile draws a fresh frame each time), M = 11 + the
  source, batch 256.

Reported: median ms per step, samples/s, peak memory (CUDA: the allocator's peak for that
model; CPU: the process's peak resident set so far, an upper bound), and, when the device
is not the CPU, the same model's CPU rate on ``THREADS`` threads measured in the same run
(``--cpu-steps`` steps at ``--cpu-batch``, as a paper-size wav2pos step at batch 256 takes
minutes there; 0 steps skips it) and the ratio of samples/s. ``--amp`` and ``--compile``
apply to the device's steps; with ``--compile`` the same steps also run eager in the same
run, for the ratio (compile time, the first step's, is reported apart, not in the median).
"""

from __future__ import annotations

import dataclasses
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import click
import numpy as np
import torch
import torch.nn.functional as F
from tabulate import tabulate

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.perf import benchmark
from perloc.methods.training import optimizer_step

THREADS = 2


@dataclass(frozen=True)
class StepProbe:
    """A paper-size model with a training batch and its loss: ``build() -> (module, loss)``,
    ``loss(module)`` one step's loss on a batch already on the device."""

    name: str
    batch: int
    build: Callable[[int], tuple[torch.nn.Module, Callable[[torch.nn.Module], torch.Tensor]]]


def _ngcc(batch: int):
    from perloc.methods.tdoa.ngcc import NgccPhat

    method = NgccPhat(NgccPhat.card.params())
    gen = np.random.default_rng(0)
    x = device.tensor(gen.standard_normal((batch, 2, method.params.sig_len)), torch.float32)
    tau = device.tensor(gen.integers(-method.params.max_tau, method.params.max_tau + 1, batch),
                        torch.float32)
    return method.model, lambda model: method.loss(model, x, tau)


def _kwt(batch: int):
    from perloc.methods.kws.kwt_model import KWT, KWT_SIZES

    model = device.build(lambda: KWT(KWT_SIZES["kwt-1"]))
    gen = np.random.default_rng(0)
    x = device.tensor(gen.standard_normal((batch, 98, 40)), torch.float32)
    y = device.tensor(gen.integers(0, 12, batch), torch.long)
    return model, lambda m: F.cross_entropy(m(x).float(), y, label_smoothing=0.1)


def _wav2pos(batch: int):
    from perloc.bench.perf.wav2pos import _batch
    from perloc.methods.ssl.wav2pos import Wav2posMethod, Wav2posMethodParams

    method = Wav2posMethod(dataclasses.replace(Wav2posMethodParams(), cache_ngcc=False))
    data = _batch(batch, 11)
    inputs = device.place(method.inputs(data, np.random.default_rng(1)))
    target = device.tensor(data["position"])
    return method.model, lambda model: method.loss(model, inputs, target)


PROBES = {p.name: p for p in (StepProbe("ngcc-phat", 32, _ngcc), StepProbe("kwt-1", 512, _kwt),
                              StepProbe("wav2pos", 256, _wav2pos))}


def _peak_mib() -> float:
    if device.placement().kind == "cuda":
        return torch.cuda.max_memory_allocated(device.current()) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def time_steps(probe: StepProbe, batch: int, steps: int, warmup: int) -> dict:
    """Median step time of ``probe`` under the current placement, its rate and peak memory."""
    torch.manual_seed(0)
    if device.placement().kind == "cuda":
        torch.cuda.reset_peak_memory_stats(device.current())
    module, loss_of = probe.build(batch)
    module.train()
    stepped = torch.compile(module) if device.placement().compile else module
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4)
    scaler = device.grad_scaler()
    times, compile_s = [], 0.0
    for i in range(warmup + steps):
        start = time.perf_counter()
        with device.autocast():
            loss = loss_of(stepped)
        optimizer_step(optimizer, loss, scaler)
        device.synchronize()
        if i == 0 and device.placement().compile:
            compile_s = time.perf_counter() - start
        if i >= warmup:
            times.append(time.perf_counter() - start)
    step_s = float(np.median(times))
    return {"step_ms": 1e3 * step_s, "samples_per_s": batch / step_s, "peak_mib": _peak_mib(),
            **({"compile_s": compile_s} if compile_s else {})}


def run_steps_perf(names: tuple[str, ...], steps: int = 200, warmup: int = 3,
                   cpu_steps: int = 3, batch: int | None = None, cpu_batch: int = 8
                   ) -> list[dict]:
    """One row per model: the device's figures, and the CPU's (same run) when it is not one."""
    rows = []
    for name in names:
        probe = PROBES[name]
        size = batch or probe.batch
        row = {"model": name, "batch": size, "steps": steps,
               **time_steps(probe, size, steps, warmup)}
        if device.placement().compile:  # the eager steps in the same run, for the ratio
            with device.using(dataclasses.replace(device.placement(), compile=False)):
                eager = time_steps(probe, size, steps, warmup)
            row.update(eager_step_ms=eager["step_ms"],
                       compile_speedup=eager["step_ms"] / row["step_ms"])
        if device.placement().kind != "cpu" and cpu_steps > 0:
            previous = torch.get_num_threads()
            torch.set_num_threads(THREADS)
            try:
                with device.using(device.CPU):
                    cpu = time_steps(probe, cpu_batch, cpu_steps, 1)
            finally:
                torch.set_num_threads(previous)
            row.update(cpu_batch=cpu_batch, cpu_samples_per_s=cpu["samples_per_s"],
                       speedup_vs_cpu=row["samples_per_s"] / cpu["samples_per_s"])
        rows.append(row)
    return rows


LABELS = {"compile_s": "compile s", "eager_step_ms": "eager ms/step",
          "compile_speedup": "compiled vs eager", "cpu_batch": "CPU batch",
          "cpu_samples_per_s": f"CPU samples/s ({THREADS} threads)",
          "speedup_vs_cpu": "samples/s vs CPU"}


def format_steps_perf(rows: list[dict]) -> str:
    extra = [k for k in LABELS if k in rows[0]]
    header = ["model", "batch", "steps", "ms/step", "samples/s", "peak MiB",
              *[LABELS[k] for k in extra]]
    body = [[r["model"], r["batch"], r["steps"], f"{r['step_ms']:.1f}",
             f"{r['samples_per_s']:.0f}", f"{r['peak_mib']:.0f}",
             *[f"{r[k]:.1f}" if isinstance(r[k], float) else str(r[k]) for k in extra]]
            for r in rows]
    return tabulate(body, headers=header, disable_numparse=True)


@benchmark("steps")
@click.option("--models", default="ngcc-phat,kwt-1,wav2pos", show_default=True,
              help=f"Comma-separated, of: {', '.join(PROBES)}.")
@click.option("--steps", default=200, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(0, 1000))
@click.option("--cpu-steps", default=3, show_default=True, type=click.IntRange(0, 1000),
              help="CPU steps per model for the ratio (off the CPU only; 0 skips).")
@click.option("--cpu-batch", default=8, show_default=True, type=click.IntRange(1, 65_536),
              help="Batch of the CPU steps (the ratio compares samples/s).")
@click.option("--batch", default=None, type=click.IntRange(1, 65_536),
              help="Override every model's paper batch size.")
def perf_steps_cmd(models: str, steps: int, warmup: int, cpu_steps: int, cpu_batch: int,
                   batch: int | None) -> None:
    """Paper-size NGCC-PHAT, KWT-1 and wav2pos training steps on the device (and vs CPU)."""
    names = tuple(m.strip() for m in models.split(",") if m.strip())
    unknown = [n for n in names if n not in PROBES]
    if unknown or not names:
        raise UserError(f"--models: unknown model {unknown[0] if unknown else models!r} "
                        f"(known: {', '.join(PROBES)})")
    click.echo(format_steps_perf(run_steps_perf(names, steps, warmup, cpu_steps, batch,
                                                cpu_batch)))
