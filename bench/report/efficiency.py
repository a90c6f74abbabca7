"""Efficiency figures of a model: parameters, multiply-accumulates per example, latency.

A method opts in with ``inference_probe() -> (module, example)``: the module maps one example
(batch 1, e.g. a raw 1-s clip, front end included) to its output; :func:`measure` places both
on the cell's device. Then

* ``params``: trainable parameters of the module;
* ``macs``: multiply-accumulates of one forward pass, counted by torch's
  ``FlopCounterMode`` (matmul, convolution, attention; MACs = FLOPs / 2; elementwise
  operations, norms, activations and the FFT are not counted). Torch has no formula for its
  fused CPU attention kernel, so the SDPA formula (2 n^2 d per head pair of matmuls) is
  mapped onto it here;
* ``latency_ms``: median wall time of ``runs`` forward passes after ``warmup`` untimed ones,
  batch 1, in inference mode, on the cell's device (module and example placed there; on CUDA
  each pass is waited for before the clock is read; ``threads`` torch threads on the CPU).
  ``timing.device`` says which device (:func:`perloc.bench.core.device.label`).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.report.base import Report, Row


def _cpu_attention_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query, key, value)


_CPU_FORMULAS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}
LATENCY_THREADS = 1
WARMUP, RUNS = 10, 50


def count_macs(module: torch.nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of ``module(example)`` (FlopCounterMode FLOPs / 2)."""
    counter = FlopCounterMode(display=False, custom_mapping=_CPU_FORMULAS)
    with torch.inference_mode(), counter:
        module(example)
    return int(counter.get_total_flops() // 2)


def median_latency_ms(module: torch.nn.Module, example: torch.Tensor, *, threads: int,
                      warmup: int = WARMUP, runs: int = RUNS) -> float:
    """Median milliseconds of one forward pass on ``threads`` torch threads."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        times = []
        with torch.inference_mode():
            for i in range(warmup + runs):
                start = time.perf_counter()
                module(example)
                device.synchronize()
                if i >= warmup:
                    times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return float(np.median(times) * 1000.0)


def measure(method, threads: int = LATENCY_THREADS) -> dict:
    """The efficiency figures of ``method`` (``{}`` when it offers no ``inference_probe``);
    the wall-clock part sits under ``timing`` (not compared between runs)."""
    probe = getattr(method, "inference_probe", None)
    if probe is None:
        return {}
    module, example = probe()
    module, example = device.place(module).eval(), device.place(example)
    where = device.label(device.describe())
    return {"params": trainable_parameters(module), "macs": count_macs(module, example),
            "example_shape": list(example.shape),
            "timing": {"latency_ms": round(median_latency_ms(module, example, threads=threads), 3),
                       "threads": threads, "runs": RUNS,
                       **({"device": where} if where != "cpu" else {})}}


def trainable_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def paper_parameter_count(cls) -> str:
    """Trainable parameters of a method at its card's default (paper) configuration, and all
    state elements when they differ: ``method.paper_model()`` if it has one, else its
    ``model``; ``0`` for a classical method, ``-`` when no network can be built here."""
    if cls.card.kind == "classical":
        return "0"
    try:
        method = cls(cls.card.params())
        model = method.paper_model() if hasattr(method, "paper_model") else method.model
    except (UserError, ValueError, TypeError, AttributeError):
        return "-"
    if model is None:
        return "-"
    trainable = trainable_parameters(model)
    state = sum(t.numel() for t in model.state_dict().values())
    return f"{trainable:,}" + (f" ({state:,} in state)" if state != trainable else "")


class Efficiency(Report):
    """Parameters, MACs per example and median batch-1 CPU latency of each method (columns
    of the ranking table), measured once after prediction."""

    name = "efficiency"

    def measure(self, method) -> dict:
        return measure(method)

    def header(self, rows: list[Row]) -> list[str]:
        measured = [r.first["extras"][self.name] for r in rows
                    if r.first.get("extras", {}).get(self.name)]
        if not measured:
            return []
        timing = measured[0]["timing"]
        threads = timing["threads"]
        where = timing.get("device") or f"{threads} thread{'s' if threads > 1 else ''}"
        return ["params", "MACs/example", f"latency ms (batch 1, {where})"]

    def cells(self, row: Row) -> list[str]:
        eff = row.first.get("extras", {}).get(self.name)
        if not eff:
            return ["-", "-", "-"]
        return [f"{eff['params']:,}", f"{eff['macs'] / 1e6:.1f}M",
                f"{eff['timing']['latency_ms']:.2f}"]
