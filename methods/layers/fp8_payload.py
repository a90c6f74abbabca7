"""FP8 payloads of Paper IV's communication, on the grid of :mod:`perloc.methods.layers.fp8`.

:func:`encode` / :func:`decode` turn a tensor into its 8-bit codes (the IEEE-style bit pattern
sign|exponent|mantissa of the full-exponent-range format; for the codes torch also has,
exactly torch's bytes) plus α in float32; :func:`quantize_state_dict` /
:func:`dequantize_state_dict` do it for a state dict, :func:`payload_nbytes` counts the bytes
(1 per FP8 element, 4 per FP32 element, 4 per α) and :func:`to_bytes` / :func:`from_bytes`
serialise to exactly that many bytes. :func:`server_optimize` is SERVEROPTIMIZE (§5.4) for one
tensor and :func:`search_alpha` its grid search over α.

Device: computed on the input's device; :func:`to_bytes` brings the payload to the host,
:func:`from_bytes` returns CPU tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from perloc.bench.core import device as devices
from perloc.methods.layers.fp8 import (
    FP8Format,
    _cast_units,
    _scale,
    _stochastic_units,
    _unscale,
    get_format,
    quantize,
    quantize_stochastic,
)

__all__ = [
    "QuantizedTensor",
    "ServerOptimizeResult",
    "decode",
    "dequantize_state_dict",
    "encode",
    "from_bytes",
    "payload_nbytes",
    "quantize_state_dict",
    "search_alpha",
    "server_optimize",
    "to_bytes",
]

# ----------------------------------------------------------------------------- payloads


@dataclass(frozen=True)
class QuantizedTensor:
    """FP8 codes (uint8, the tensor's shape) + clipping range α (float32 scalar)."""

    codes: Tensor
    alpha: Tensor
    fmt: str = "e4m3"

    @property
    def nbytes(self) -> int:
        return self.codes.numel() + 4


def _encode_units(yq: Tensor, fmt: FP8Format) -> Tensor:
    """Grid values (units) -> 8-bit codes; above torch's max, the code of y/2 one exponent up."""
    big = yq.abs() > fmt.torch_max
    half = torch.where(big, 0.5, 1.0).to(yq.dtype)
    codes = (yq * half).to(fmt.dtype).view(torch.uint8)
    return codes + (big.to(torch.uint8) << fmt.man_bits)


def _decode_units(codes: Tensor, fmt: FP8Format) -> Tensor:
    y = codes.view(fmt.dtype).to(torch.float32)
    extra = ~torch.isfinite(y)  # the codes torch reserves are Kuzmin's top binade values
    if bool(extra.any()):
        lower = (codes - (extra.to(torch.uint8) << fmt.man_bits)).view(fmt.dtype)
        y = torch.where(extra, 2 * lower.to(torch.float32), y)
    return y


def encode(x: Tensor, alpha: float | Tensor | None = None, fmt: str | FP8Format = "e4m3",
           stochastic: bool = True, generator: torch.Generator | None = None) -> QuantizedTensor:
    """Quantize ``x`` to FP8 codes with range ``alpha`` (None: ``max|x|``, so nothing is clipped
    and stochastic rounding is unbiased). α is rounded to float32 first (what is sent), and
    ``decode(encode(x))`` equals ``quantize[_stochastic](x.float(), α_float32)``."""
    f = get_format(fmt)
    with torch.no_grad():
        x32 = x.detach().to(torch.float32)
        if alpha is None:
            alpha = x32.abs().max() if x32.numel() else torch.tensor(1.0, device=x32.device)
        if not isinstance(alpha, Tensor):
            alpha = torch.tensor(alpha, device=x32.device)  # as torch.as_tensor(number) did
        a = alpha.detach().to(dtype=torch.float32, device=x32.device).reshape(())
        if not bool(a > 0):
            a = torch.tensor(1.0, device=x32.device)  # an all-zero tensor: any α codes it
        y = _scale(x32, a, f)
        yq = _stochastic_units(y, f, generator) if stochastic else _cast_units(y, f)
        return QuantizedTensor(_encode_units(yq, f), a, f.name)


def decode(q: QuantizedTensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """FP8 codes + α -> values (computed in float32, returned as ``dtype``)."""
    f = get_format(q.fmt)
    a = q.alpha.to(dtype=torch.float32, device=q.codes.device)
    return _unscale(_decode_units(q.codes, f), a, f).to(dtype)


Selector = Callable[[str, Tensor], bool] | Collection[str] | None


def _selected(select: Selector, key: str, t: Tensor) -> bool:
    if not t.is_floating_point():
        return False
    if select is None:
        return t.dim() >= 2  # weights of linear / conv layers; biases, norms, ranges: FP32
    if callable(select):
        return bool(select(key, t))
    return key in select


def quantize_state_dict(state: Mapping[str, Tensor],
                        alphas: Mapping[str, float | Tensor] | None = None,
                        fmt: str | FP8Format = "e4m3", stochastic: bool = True,
                        generator: torch.Generator | None = None,
                        select: Selector = None) -> dict[str, QuantizedTensor | Tensor]:
    """FP8-encode the selected float tensors of ``state`` (default: those with 2+ dims) with
    range ``alphas[key]`` (default ``max|x|``); other float tensors become float32 copies,
    non-float ones are kept. Stochastic draws follow the order of ``state``."""
    alphas = alphas or {}
    out: dict[str, QuantizedTensor | Tensor] = {}
    for key, t in state.items():
        if _selected(select, key, t):
            out[key] = encode(t, alphas.get(key), fmt, stochastic, generator)
        elif t.is_floating_point():
            out[key] = t.detach().to(torch.float32).clone()
        else:
            out[key] = t.detach().clone()
    return out


def dequantize_state_dict(qstate: Mapping[str, QuantizedTensor | Tensor],
                          dtype: torch.dtype = torch.float32) -> dict[str, Tensor]:
    """Inverse of :func:`quantize_state_dict` (FP8 entries decoded; float ones cast to
    ``dtype``; others unchanged)."""
    out = {}
    for key, v in qstate.items():
        if isinstance(v, QuantizedTensor):
            out[key] = decode(v, dtype)
        elif v.is_floating_point():
            out[key] = v.to(dtype)
        else:
            out[key] = v
    return out


def payload_nbytes(qstate: Mapping[str, QuantizedTensor | Tensor]) -> int:
    """Bytes on the wire: 1 per FP8 element + 4 per α + ``element_size`` per other element
    (4 for the float32 ones). Keys, shapes and formats are not counted: both sides know the
    model. Equals ``sum(map(len, to_bytes(qstate)))``."""
    total = 0
    for v in qstate.values():
        total += v.nbytes if isinstance(v, QuantizedTensor) else v.numel() * v.element_size()
    return total


def to_bytes(qstate: Mapping[str, QuantizedTensor | Tensor]) -> list[bytes]:
    """One little-endian ``bytes`` per entry, in order: FP8 entries as ``α (float32) + codes``,
    other tensors as their raw elements."""
    out = []
    for v in qstate.values():
        if isinstance(v, QuantizedTensor):
            a = devices.host(v.alpha.to(torch.float32).reshape(1)).astype("<f4").tobytes()
            out.append(a + devices.host(v.codes.contiguous()).tobytes())
        else:
            arr = devices.host(v.contiguous())
            out.append(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
    return out


def from_bytes(blobs: Sequence[bytes],
               like: Mapping[str, QuantizedTensor | Tensor]) -> dict[str, QuantizedTensor | Tensor]:
    """Inverse of :func:`to_bytes`; ``like`` (any payload of the same model, e.g. the
    receiver's own) gives the keys, kinds, shapes, formats and dtypes."""
    import numpy as np

    if len(blobs) != len(like):
        raise ValueError(f"payload has {len(blobs)} tensors, expected {len(like)}")
    out: dict[str, QuantizedTensor | Tensor] = {}
    for (key, ref), blob in zip(like.items(), blobs, strict=True):
        if isinstance(ref, QuantizedTensor):
            want = ref.codes.numel() + 4
            if len(blob) != want:
                raise ValueError(f"{key}: {len(blob)} bytes, expected {want}")
            alpha = devices.host_tensor(np.frombuffer(blob[:4], dtype="<f4").astype(np.float32))
            codes = torch.frombuffer(bytearray(blob[4:]), dtype=torch.uint8)
            out[key] = QuantizedTensor(codes.reshape(ref.codes.shape), alpha.reshape(()),
                                       ref.fmt)
        else:
            want = ref.numel() * ref.element_size()
            if len(blob) != want:
                raise ValueError(f"{key}: {len(blob)} bytes, expected {want}")
            dt = devices.host(torch.empty((), dtype=ref.dtype, device=ref.device))
            dt = dt.dtype.newbyteorder("<")
            arr = np.frombuffer(blob, dtype=dt).astype(dt.newbyteorder("="))
            out[key] = devices.host_tensor(arr.copy()).reshape(ref.shape)
    return out


# ----------------------------------------------------------------------------- SERVEROPTIMIZE


@dataclass(frozen=True)
class ServerOptimizeResult:
    """``weight``, ``alpha``: the chosen server tensor and range; ``objective`` its value of
    Σ p_k ‖Q(w; α) − Q_k‖², ``initial`` that of the FedAvg start (mean weight, mean α)."""

    weight: Tensor
    alpha: Tensor
    objective: float
    initial: float


def _q(w: Tensor, alpha: Tensor, fmt: FP8Format | None, stochastic: bool,
       generator: torch.Generator | None) -> Tensor:
    if fmt is None:
        return w
    if stochastic:
        return quantize_stochastic(w, alpha, fmt, generator)
    return quantize(w, alpha, fmt)


def search_alpha(w: Tensor, target: Tensor, candidates: Tensor | Sequence[float],
                 fmt: str | FP8Format = "e4m3", stochastic: bool = False,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Grid search: the candidate α minimising ``‖Q(w; α) − target‖²``. Returns
    ``(best α, squared error of every candidate)``; the first candidate wins ties."""
    f = get_format(fmt)
    cands = torch.as_tensor(candidates, dtype=w.dtype, device=w.device).reshape(-1)
    errors = torch.stack([((_q(w, a, f, stochastic, generator) - target) ** 2).sum()
                          for a in cands])
    return cands[int(torch.argmin(errors))], errors


def server_optimize(client_tensors: Sequence[Tensor], client_alphas: Sequence[float | Tensor],
                    weights: Sequence[float], fmt: str | FP8Format | None = "e4m3", *,
                    steps: int = 5, lr: float = 0.1, n_alpha: int = 50, rounds: int = 1,
                    stochastic: bool = False,
                    generator: torch.Generator | None = None) -> ServerOptimizeResult:
    """SERVEROPTIMIZE (spec §5.4) for one tensor: minimise
    ``J(w, α) = Σ_k p_k ‖Q(w; α) − Q_k‖²`` (``Q_k`` the dequantized client tensors,
    ``p_k = weights_k / Σ weights``) by alternating ``steps`` gradient steps on w (straight
    through, ``∇ = 2 Σ p_k (Q(w; α) − Q_k)`` as the spec writes it, without a clip mask, step ``lr``: the paper picked it from {0.01, 0.1,
    1}) at fixed α with a grid search of α over ``n_alpha`` uniform values in
    ``[min α_k, max α_k]`` plus the mean α, ``rounds`` times, starting from the FedAvg mean and
    mean α. The best iterate is kept, so ``objective <= initial``. ``fmt=None``: no
    quantization (returns the weighted means). ``stochastic``: Q_rand inside the objective as
    written in the paper (noisy); the default Q_det is the documented variant."""
    if not client_tensors or len({len(client_tensors), len(client_alphas), len(weights)}) != 1:
        raise ValueError("need one alpha and one weight per client tensor")
    f = None if fmt is None else get_format(fmt)
    dtype = torch.promote_types(client_tensors[0].dtype, torch.float32)
    qs = torch.stack([t.detach().to(dtype) for t in client_tensors])
    p = torch.as_tensor([float(v) for v in weights], dtype=dtype, device=qs.device)
    p = p / p.sum()
    shape = (-1,) + (1,) * (qs.dim() - 1)
    mean = (p.reshape(shape) * qs).sum(0)
    alphas = torch.stack([torch.as_tensor(a, dtype=dtype, device=qs.device).detach().reshape(())
                          for a in client_alphas])
    alpha = (p * alphas).sum()
    # Σ p_k ‖a − Q_k‖² = ‖a − mean‖² + Σ p_k ‖Q_k − mean‖²
    spread = float((p * ((qs - mean) ** 2).reshape(len(p), -1).sum(1)).sum())

    def objective(w, a):
        return float(((_q(w, a, f, stochastic, generator) - mean) ** 2).sum()) + spread

    initial = objective(mean, alpha)
    best = (initial, mean, alpha)
    if f is None:
        return ServerOptimizeResult(mean, alpha, initial, initial)
    w = mean.clone()
    cands = torch.cat([torch.linspace(float(alphas.min()), float(alphas.max()), n_alpha,
                                      dtype=dtype, device=qs.device), alpha.reshape(1)])
    for _ in range(rounds):
        for _ in range(steps):
            w = w - lr * 2 * (_q(w, alpha, f, stochastic, generator) - mean)
            j = objective(w, alpha)
            if j < best[0]:
                best = (j, w, alpha)
        alpha, _ = search_alpha(w, mean, cands, f, stochastic, generator)
        j = objective(w, alpha)
        if j < best[0]:
            best = (j, w, alpha)
    return ServerOptimizeResult(best[1], best[2], best[0], initial)
