"""Efficiency figures of a model: parameters, multiply-accumulates per example, CPU latency.

A method opts in with ``inference_probe() -> (module, example)``: the module maps one example
(batch 1, e.g. a raw 1-s clip, front end included) to its output. Then

* ``params``: trainable parameters of the module;
* ``macs``: multiply-accumulates of one forward pass, counted by torch's
  ``FlopCounterMode`` (matmul, convolution, attention; MACs = FLOPs / 2; elementwise
  operations, norms, activations and the FFT are not counted). Torch has no formula for its
  fused CPU attention kernel, so the SDPA formula (2 n^2 d per head pair of matmuls) is
  mapped onto it here;
* ``latency_ms``: median wall time of ``runs`` forward passes after ``warmup`` untimed ones,
  batch 1, ``threads`` torch threads, in inference mode.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


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
                if i >= warmup:
                    times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return float(np.median(times) * 1000.0)


def measure(method, threads: int = LATENCY_THREADS) -> dict:
    """The efficiency figures of ``method`` (``{}`` when it offers no ``inference_probe``)."""
    probe = getattr(method, "inference_probe", None)
    if probe is None:
        return {}
    module, example = probe()
    module.eval()
    return {"params": sum(p.numel() for p in module.parameters() if p.requires_grad),
            "macs": count_macs(module, example),
            "latency_ms": round(median_latency_ms(module, example, threads=threads), 3),
            "latency_threads": threads, "latency_runs": RUNS,
            "example_shape": list(example.shape)}
