"""CPU cost of FP8 federated learning (Paper IV): what simulated FP8 training and FP8
communication add.

1. per client model: one local training step (forward, cross-entropy, backward, SGD) on a batch
   of ``batch`` inputs in FP32 and with every Linear/Conv fake-quantized to E4M3 (weights and
   inputs, straight-through gradients), ``qat_overhead`` = FP8 ms / FP32 ms;
2. per client model: encoding its state for the wire (FP8 codes by stochastic rounding + the
   raw FP32 rest, serialised to bytes) and decoding it back, in MB/s of the model's FP32 size,
   and the payload's bytes against the FP32 payload's (``compression``).

Times are medians of ``repeats`` after a warm-up, on ``THREADS`` torch threads. The steps run on
the current placement's device (:mod:`perloc.bench.core.device`; the CPU unless a caller enters
another), each ending with a device synchronisation so the timer sees the work; the payload is
encoded on the CPU, as the federated client does (its device-to-host copy included).
"""

from __future__ import annotations

import functools

import click
import torch
import torch.nn.functional as F
from tabulate import tabulate

from perloc.bench.core import device
from perloc.bench.core.errors import UserError
from perloc.bench.perf import benchmark
from perloc.bench.perf.timing import median_seconds
from perloc.methods.fl.codec import ModelCodec, record_nbytes
from perloc.methods.fl.models import FL_MODELS
from perloc.methods.fl.variants import VARIANTS
from perloc.methods.layers.fp8 import fp8_qat

THREADS = 2


def _inputs(name: str, batch: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    spec = FL_MODELS[name]
    classes = 10 if spec.modality == "image" else 35
    gen = torch.Generator().manual_seed(0)  # drawn on the CPU: the same batch everywhere
    return (device.tensor(torch.randn(batch, *spec.input_shape, generator=gen, device=gen.device)),
            device.tensor(torch.randint(0, classes, (batch,), generator=gen, device=gen.device)),
            classes)


def _step_ms(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    model.train()

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        with device.unchecked():
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        device.synchronize()

    return 1e3 * median_seconds(step, repeats)


def _codec_rates(model: torch.nn.Module, repeats: int) -> dict:
    codec = ModelCodec(model, VARIANTS["fp8-fedavg-uq"])
    state = model.state_dict()
    gen = torch.Generator().manual_seed(0)
    record = codec.encode(state, gen)
    fp32_bytes = 4 * sum(t.numel() for t in state.values() if t.is_floating_point())
    encode_s = median_seconds(lambda: codec.encode(state, gen), repeats)
    decode_s = median_seconds(lambda: codec.decode(record), repeats)
    return {"payload_bytes": record_nbytes(record), "fp32_bytes": fp32_bytes,
            "compression": fp32_bytes / record_nbytes(record),
            "encode_mb_s": fp32_bytes / 1e6 / encode_s, "decode_mb_s": fp32_bytes / 1e6 / decode_s}


def run_fl_perf(models: tuple[str, ...] = ("lenet", "kwt-1"), batch: int = 50,
                repeats: int = 3) -> dict:
    """FP32 vs FP8-QAT step times and FP8 payload rates per client model."""
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        rows = []
        for name in models:
            x, y, classes = _inputs(name, batch)
            build = functools.partial(FL_MODELS[name].build, classes)
            torch.manual_seed(0)
            fp32 = _step_ms(device.build(build), x, y, repeats)
            torch.manual_seed(0)
            qat_model = device.build(lambda b=build: fp8_qat(b()))
            qat = _step_ms(qat_model, x, y, repeats)
            rows.append({"model": name, "batch": batch, "fp32_ms": fp32, "fp8_ms": qat,
                         "qat_overhead": qat / fp32, **_codec_rates(qat_model, repeats)})
        return {"threads": THREADS, "models": rows}
    finally:
        torch.set_num_threads(previous)


def format_fl_perf(result: dict) -> str:
    rows = [[r["model"], r["batch"], f"{r['fp32_ms']:.1f}", f"{r['fp8_ms']:.1f}",
             f"{r['qat_overhead']:.2f}x", f"{r['payload_bytes']:,}", f"{r['compression']:.2f}x",
             f"{r['encode_mb_s']:.0f}", f"{r['decode_mb_s']:.0f}"] for r in result["models"]]
    return tabulate(rows, headers=["model", "batch", "FP32 step ms", "FP8 QAT step ms",
                                   "QAT overhead", "FP8 payload B", "vs FP32 bytes",
                                   "encode MB/s", "decode MB/s"]) + (
        f"\n({result['threads']} torch threads; MB/s of the model's FP32 size; encode: "
        "stochastic rounding + serialisation)")


@benchmark("fl")
@click.option("--models", default="lenet,kwt-1", show_default=True,
              help=f"Comma-separated client models ({', '.join(FL_MODELS)}).")
@click.option("--batch", default=50, show_default=True, type=click.IntRange(1, 4096))
@click.option("--repeats", default=3, show_default=True, type=click.IntRange(1, 100))
def perf_fl_cmd(models: str, batch: int, repeats: int) -> None:
    """FP8 fake-quantization overhead per training step; FP8 payload encode/decode MB/s."""
    names = tuple(s.strip() for s in models.split(",") if s.strip())
    unknown = [n for n in names if n not in FL_MODELS]
    if unknown or not names:
        raise UserError(f"--models: unknown client model {unknown[0] if unknown else models!r} "
                        f"(known: {', '.join(FL_MODELS)})")
    click.echo(format_fl_perf(run_fl_perf(names, batch=batch, repeats=repeats)))
