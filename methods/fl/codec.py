"""What travels between a federated server and its clients, as Flower ``ArrayRecord``s of bytes.

A :class:`ModelCodec` is built from the client model (FP32 or FP8-QAT wrapped by
:func:`perloc.methods.layers.fp8.fp8_qat`) and the variant's communication mode:

* ``fp32``: every state tensor as its raw little-endian elements (4 bytes per float32 value);
  the QAT ranges α and β, when the model has them, as float32 scalars;
* ``det`` / ``rand`` (FP8 communication, spec §5.3): the weight of every FP8 layer as its 8-bit
  codes on the grid of its own range α (round-to-nearest or stochastic rounding), α in float32
  in front of the codes; everything else (biases, norm parameters, activation ranges β, buffers)
  raw as above. The weight ranges are not sent twice.

A range that is not calibrated yet (an activation range β before its first batch) travels as 0,
and a received range of 0 is uncalibrated (the ``initialized`` flags themselves never travel:
the first client batch calibrates β, the server averages the calibrated ranges).

Bytes are counted from what is serialised: the sum of the ``Array`` payload lengths of the
record (:func:`record_nbytes`), which equals the spec's formula ``numel(FP8 weights) · 1 +
numel(FP32 tensors) · 4 + 4 · (number of α, β)``. Flower's own message framing (protobuf
headers, keys) is not counted, as the paper does not count it.

Device: encoding and decoding run on the CPU, whatever device the model trains on (the state
is brought to the host first, so the wire bytes and the stochastic rounding's draws from the
CPU generator do not depend on the device); a decoded state is on the CPU, and
``load_state_dict`` copies it onto the model's device.
"""

from __future__ import annotations

import torch
from flwr.app import Array, ArrayRecord
from torch import Tensor, nn

from perloc.methods.fl.variants import FlVariant
from perloc.methods.layers.fp8 import FP8QATLayer
from perloc.methods.layers.fp8_payload import (
    QuantizedTensor,
    dequantize_state_dict,
    from_bytes,
    quantize_state_dict,
    to_bytes,
)

FP8_STYPE = "perloc.fp8.e4m3"
RAW_STYPE = "perloc.raw"


def fp8_weight_keys(model: nn.Module) -> dict[str, str]:
    """State key of each FP8-QAT layer's weight -> state key of its range α."""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, FP8QATLayer):
            prefix = f"{name}." if name else ""
            out[f"{prefix}layer.weight"] = f"{prefix}weight_quantizer.alpha"
    return out


def host_state(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """``state`` with every tensor on the CPU (detached; CPU tensors are not copied)."""
    return {key: value.detach().cpu() for key, value in state.items()}


def record_nbytes(record: ArrayRecord) -> int:
    """Payload bytes of a record: the sum of its arrays' serialised data."""
    return sum(len(array.data) for array in record.values())


class ModelCodec:
    """Encode / decode a model's state for one variant's communication (module docstring)."""

    def __init__(self, model: nn.Module, variant: FlVariant) -> None:
        self.variant = variant
        state = host_state(model.state_dict())
        self.weights = fp8_weight_keys(model) if variant.fp8_comm else {}
        self.flags = {k: k[: -len("initialized")] + "alpha" for k in state
                      if k.endswith("quantizer.initialized")}
        dropped = set(self.weights.values()) | set(self.flags)
        self.keys = tuple(k for k in state if k not in dropped)
        template = {k: state[k] for k in self.keys}
        self.like = quantize_state_dict(template, {w: state[a] for w, a in self.weights.items()},
                                        stochastic=False, select=set(self.weights))

    def encode(self, state: dict[str, Tensor], generator: torch.Generator | None = None
               ) -> ArrayRecord:
        """``state`` (a full model state dict) -> the record that goes on the wire; FP8
        weights are rounded stochastically when the variant's communication is ``rand``."""
        state = host_state(state)
        for flag, alpha in self.flags.items():
            if not bool(state[flag]):
                state[alpha] = torch.zeros_like(state[alpha])
        sub = {k: state[k] for k in self.keys}
        alphas = {w: state[a] for w, a in self.weights.items()}
        q = quantize_state_dict(sub, alphas, stochastic=self.variant.comm == "rand",
                                generator=generator, select=set(self.weights))
        arrays = {}
        for (key, value), blob in zip(q.items(), to_bytes(q), strict=True):
            stype = FP8_STYPE if isinstance(value, QuantizedTensor) else RAW_STYPE
            arrays[key] = Array(dtype="bytes", shape=(len(blob),), stype=stype, data=blob)
        return ArrayRecord(array_dict=arrays)

    def decode(self, record: ArrayRecord) -> dict[str, Tensor]:
        """A received record -> a full state dict (each FP8 weight dequantized, its α
        restored under the range key)."""
        if tuple(record.keys()) != self.keys:
            missing = sorted(set(self.keys) - set(record.keys()))
            extra = sorted(set(record.keys()) - set(self.keys))
            raise ValueError(f"payload does not fit the model (missing {missing[:3]}, "
                             f"unexpected {extra[:3]})")
        q = from_bytes([record[k].data for k in self.keys], self.like)
        state = dequantize_state_dict(q)
        for w, a in self.weights.items():
            state[a] = q[w].alpha.to(torch.float32).reshape(())
        for flag, alpha in self.flags.items():
            state[flag] = state[alpha] > 0
        return state
