"""FP8 (E4M3 / E5M2) on the per-tensor scaled grid of Kuzmin et al. 2022 used by Paper IV.

The grid (spec ``kws_fl.md`` §5.1). A format has ``e`` exponent and ``m`` mantissa bits and
the integer bias ``b`` of its OCP/torch namesake (E4M3: e=4, m=3, b=7; E5M2: e=5, m=2, b=15).
Kuzmin's flexible real-valued bias ``b(α) = 2^e − log2 α + log2(2 − 2^−m) − 1`` puts the largest
grid value at the clipping range α. Every exponent field is used for finite values (no inf, no
NaN codes), so with the integer bias the top value is ``ref = (2 − 2^−m) · 2^(2^e − 1 − b)``:
480 for E4M3, 114688 for E5M2. For any α the grid is ``(α / ref)`` times that fixed grid:
0, ±127 non-zero values, 255 distinct values in all, subnormal spacing equal to the spacing of
the lowest normal binade.

How it is computed. ``y = x / c`` with ``c = α / ref`` is clamped to ``±ref`` (that is, x to
±α) before anything is cast, so no library's overflow behaviour is ever reached (torch
saturates e4m3fn, turns e5m2 into inf, ml_dtypes gives NaN). Round-to-nearest-even on the grid
is torch's own cast (``torch.float8_e4m3fn`` / ``torch.float8_e5m2``). Torch's formats lack the
top codes that Kuzmin's grid keeps (E4M3: 480; E5M2: 65536 ... 114688, the codes torch spends on
NaN/inf), so values above ``finfo.max`` are cast as ``2 · cast(y / 2)``: halving keeps the
significand, so this rounds on the same binade spacing (with the same ties-to-even) one binade
higher. Float64 inputs are first rounded to float32 *to odd* (torch casts float64 through
float32 with round-to-nearest, which can round a value a hair above a midpoint onto the
midpoint and then tie it the wrong way); round-to-odd at 24 bits followed by rounding to ≤ 4
significand bits is a correct single rounding. Results therefore equal ``c · cast(x / c)``
(torch's cast of float32 values) wherever ``|x| ≤ c · finfo.max``, and are the correctly
rounded nearest grid point of ``x / c`` for every float32 and float64 input. The grid's top value is returned as exactly ±α.

Stochastic rounding (communication, §5.3) finds the two neighbouring grid points of ``y``
from the grid spacing at ``y`` (exponent read exactly by ``torch.frexp``, all steps exact),
draws ``u ~ U[0, 1)`` from an explicit ``torch.Generator`` and rounds up when
``u < f``, ``f = (y − lo) / (hi − lo)``. So ``E[Q_rand(x)] = x`` for ``|x| ≤ α`` (the uniform
rule of the appendix, not the Bernoulli(½) misprint of Eq. 5).

Gradients (QAT, §5.2), by :func:`fake_quantize` (an ``autograd.Function``): straight-through for
x inside ``[−α, α]`` (gradient 1) and 0 outside; for α, ``(Q(x) − x) / α`` inside and
``sign(x)`` for clipped entries (the derivative of ``α · g(x / α)`` with ``g' := 1``; the
exponent ``log2|x|`` carries no gradient).

QAT wrappers: :func:`fp8_qat` replaces a model's ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d``
by :class:`FP8QATLayer`, which keeps the original layer as ``.layer`` and runs *its own* forward
(``torch.func.functional_call``) with the fake-quantized weight, after fake-quantizing the input
(the activation quantizer of spec Fig. 3). Weight range α: learnable, initialised to ``max|w|``
[paper]. Input range β: learnable, initialised to ``max|x|`` of the first batch seen
[inferred: the paper does not say]. Biases stay FP32.

Communication: :func:`encode` / :func:`decode` turn a tensor into its 8-bit codes (the IEEE-style
bit pattern sign|exponent|mantissa of the full-exponent-range format; for the codes torch also
has, exactly torch's bytes) plus α in float32; :func:`quantize_state_dict` /
:func:`dequantize_state_dict` do it for a state dict, :func:`payload_nbytes` counts the bytes
(1 per FP8 element, 4 per FP32 element, 4 per α) and :func:`to_bytes` / :func:`from_bytes`
serialise to exactly that many bytes. :func:`server_optimize` is SERVEROPTIMIZE (§5.4) for one
tensor and :func:`search_alpha` its grid search over α.

Device: everything computes on its input's device (factories follow the input tensor; random
draws come from the given generator, which must live there too). :func:`fp8_grid` builds the
grid on the cell's device (:func:`perloc.bench.core.device.current`) unless told otherwise;
:func:`to_bytes` brings the payload to the host, :func:`from_bytes` returns CPU tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor, nn

from perloc.bench.core import device as devices

__all__ = [
    "E4M3",
    "E5M2",
    "FORMATS",
    "FP8Format",
    "FP8QATLayer",
    "FP8Quantizer",
    "QuantizedTensor",
    "ServerOptimizeResult",
    "decode",
    "dequantize_state_dict",
    "encode",
    "fake_quantize",
    "fp8_grid",
    "fp8_qat",
    "fp8_weight_alphas",
    "from_bytes",
    "get_format",
    "grid_neighbours",
    "payload_nbytes",
    "qat_ranges",
    "quantize",
    "quantize_state_dict",
    "quantize_stochastic",
    "search_alpha",
    "server_optimize",
    "to_bytes",
]


@dataclass(frozen=True)
class FP8Format:
    """An 8-bit float format: ``exp_bits`` + ``man_bits`` + 1 sign bit, integer ``bias``, and the
    torch dtype whose cast does the rounding."""

    name: str
    exp_bits: int
    man_bits: int
    bias: int
    dtype: torch.dtype

    @property
    def ref(self) -> float:
        """Top of the full-exponent-range grid at the integer bias (the α that makes
        ``c = 1``): 480 for E4M3, 114688 for E5M2."""
        return (2 - 2.0**-self.man_bits) * 2.0 ** (2**self.exp_bits - 1 - self.bias)

    @property
    def torch_max(self) -> float:
        """Largest finite value of the torch dtype (448, 57344)."""
        return float(torch.finfo(self.dtype).max)

    @property
    def min_normal(self) -> float:
        return 2.0 ** (1 - self.bias)

    @property
    def min_subnormal(self) -> float:
        return 2.0 ** (1 - self.bias - self.man_bits)


E4M3 = FP8Format("e4m3", 4, 3, 7, torch.float8_e4m3fn)
E5M2 = FP8Format("e5m2", 5, 2, 15, torch.float8_e5m2)
FORMATS = {f.name: f for f in (E4M3, E5M2)}


def get_format(fmt: str | FP8Format) -> FP8Format:
    """``"e4m3"`` / ``"e5m2"`` (or a format) -> :class:`FP8Format`."""
    if isinstance(fmt, FP8Format):
        return fmt
    try:
        return FORMATS[fmt.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown FP8 format {fmt!r}; known: {sorted(FORMATS)}") from None


# ----------------------------------------------------------------------------- the grid


def _compute_dtype(x: Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


@lru_cache(maxsize=32)
def _grid_units(fmt: FP8Format, dtype: torch.dtype, device: torch.device) -> Tensor:
    codes = torch.arange(256, dtype=torch.uint8, device=device).view(fmt.dtype).to(torch.float64)
    finite = codes[torch.isfinite(codes)]
    grid = torch.cat([finite, 2 * finite]).unique()  # sorted; -0 and 0 merge
    return grid[grid.abs() <= fmt.ref].to(dtype=dtype, device=device)


def fp8_grid(fmt: str | FP8Format = "e4m3", alpha: float | None = None,
             dtype: torch.dtype = torch.float64, device: torch.device | None = None) -> Tensor:
    """All 255 grid values, ascending, of the format scaled to clipping range ``alpha``
    (``alpha=None``: the integer-bias grid, top value :attr:`FP8Format.ref`), on ``device``
    (default: the cell's)."""
    f = get_format(fmt)
    grid = _grid_units(f, torch.float64, torch.device(device or devices.current())).clone()
    if alpha is not None:
        grid = _unscale(grid, torch.tensor(float(alpha), dtype=torch.float64, device=grid.device),
                        f)
    return grid.to(dtype)


def _round_to_odd_f32(y: Tensor) -> Tensor:
    """float64 -> float32 rounded to odd (truncate, then set the last bit if inexact)."""
    f = y.to(torch.float32)
    back = f.to(torch.float64)
    inexact = back != y
    bits = f.view(torch.int32)
    bits = bits - (inexact & (back.abs() > y.abs())).to(torch.int32)  # toward zero
    bits = bits | inexact.to(torch.int32)
    return bits.view(torch.float32)


def _cast_units(y: Tensor, fmt: FP8Format) -> Tensor:
    """Round ``y`` (already within ±ref) to the nearest grid value, ties to even, with torch's
    cast; returns the same dtype as ``y``."""
    src = _round_to_odd_f32(y) if y.dtype == torch.float64 else y
    # above torch's max: 2 * cast(y / 2) rounds on the same spacing one binade higher
    half = torch.where(src.abs() > fmt.torch_max, 0.5, 1.0).to(src.dtype)
    return ((src * half).to(fmt.dtype).to(y.dtype)) / half.to(y.dtype)


def _scale(x: Tensor, alpha: Tensor, fmt: FP8Format) -> Tensor:
    """x -> y = x / c clamped to ±ref (x clamped to ±α), c = α / ref."""
    return (x / (alpha / fmt.ref)).clamp(-fmt.ref, fmt.ref)


def _unscale(y: Tensor, alpha: Tensor, fmt: FP8Format) -> Tensor:
    """grid units -> values; the top grid value is returned as exactly ±α."""
    out = y * (alpha / fmt.ref)
    return torch.where(y.abs() == fmt.ref, torch.copysign(alpha.expand_as(out), y), out)


def _prepare(x: Tensor, alpha) -> tuple[Tensor, Tensor]:
    dtype = _compute_dtype(x)
    if isinstance(alpha, Tensor):
        a = alpha.to(dtype=dtype, device=x.device)
    else:  # a Python number: straight to the compute dtype (not via float32)
        a = torch.tensor(float(alpha), dtype=dtype, device=x.device)
    return x.to(dtype), a


def quantize(x: Tensor, alpha: float | Tensor, fmt: str | FP8Format = "e4m3") -> Tensor:
    """Q_det: round-to-nearest-even on the grid with clipping range ``alpha`` (broadcastable to
    ``x``; per-tensor: a scalar). Clamps to ±α first. Same dtype as ``x``; no gradient (see
    :func:`fake_quantize`)."""
    f = get_format(fmt)
    with torch.no_grad():
        xc, a = _prepare(x, alpha)
        return _unscale(_cast_units(_scale(xc, a, f), f), a, f).to(x.dtype)


def grid_neighbours(x: Tensor, alpha: float | Tensor,
                    fmt: str | FP8Format = "e4m3") -> tuple[Tensor, Tensor]:
    """The grid values ``lo <= clamp(x, ±α) <= hi`` either side of each element (equal on grid
    points and at ±α), in the dtype of ``x``."""
    f = get_format(fmt)
    with torch.no_grad():
        xc, a = _prepare(x, alpha)
        lo, hi = _neighbours_units(_scale(xc, a, f), f)
        return _unscale(lo, a, f).to(x.dtype), _unscale(hi, a, f).to(x.dtype)


def _pow2(k: Tensor, dtype: torch.dtype) -> Tensor:
    """2**k for integer tensors k (normal range), exactly, by building the float's bits."""
    if dtype == torch.float64:
        return ((k.to(torch.int64) + 1023) << 52).view(torch.float64)
    return ((k.to(torch.int32) + 127) << 23).view(torch.float32)


def _neighbours_units(y: Tensor, fmt: FP8Format) -> tuple[Tensor, Tensor]:
    """Grid neighbours ``lo <= y <= hi`` of ``y`` (within ±ref): the grid spacing at ``y`` is
    ``s = 2**(max(floor(log2|y|), 1 - bias) - m)`` (exponent read exactly by ``frexp``; the
    subnormals share the lowest normal binade's spacing), ``lo = floor(y / s) * s``,
    ``hi = lo + s`` (``hi = lo`` on grid points). All steps are exact in binary floating point."""
    _, ex = torch.frexp(y)  # |y| = mant * 2**ex, mant in [0.5, 1): floor(log2|y|) = ex - 1
    k = (ex - 1).clamp_(min=1 - fmt.bias) - fmt.man_bits
    s = _pow2(k, y.dtype)
    lo = torch.floor(y / s) * s
    return lo, torch.where(lo == y, lo, lo + s)


def _stochastic_units(y: Tensor, fmt: FP8Format, generator: torch.Generator | None) -> Tensor:
    lo, hi = _neighbours_units(y, fmt)
    frac = (y - lo) / torch.where(hi > lo, hi - lo, 1)  # in [0, 1); 0 on grid points
    u = torch.rand(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    return torch.where(u < frac, hi, lo)


def quantize_stochastic(x: Tensor, alpha: float | Tensor, fmt: str | FP8Format = "e4m3",
                        generator: torch.Generator | None = None) -> Tensor:
    """Q_rand: unbiased stochastic rounding to one of the two neighbouring grid values
    (round up with probability equal to the fractional position between them), so
    ``E[Q_rand(x)] = x`` for ``|x| <= α``; values beyond ±α are clamped (biased there). Draws
    one ``U[0, 1)`` per element from ``generator`` (torch's default generator if None)."""
    f = get_format(fmt)
    with torch.no_grad():
        xc, a = _prepare(x, alpha)
        return _unscale(_stochastic_units(_scale(xc, a, f), f, generator), a, f).to(x.dtype)


# ----------------------------------------------------------------------------- QAT


class _FakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha, fmt, stochastic, generator):
        a = alpha.detach()
        y = _scale(x.detach(), a, fmt)
        yq = _stochastic_units(y, fmt, generator) if stochastic else _cast_units(y, fmt)
        q = _unscale(yq, a, fmt)
        ctx.save_for_backward(x, alpha, q)
        return q

    @staticmethod
    def backward(ctx, grad):
        x, alpha, q = ctx.saved_tensors
        inside = x.abs() <= alpha
        gx = ga = None
        if ctx.needs_input_grad[0]:
            gx = grad * inside
        if ctx.needs_input_grad[1]:
            ga = grad * torch.where(inside, (q - x) / alpha, torch.sign(x))
            ga = ga.sum_to_size(alpha.shape)
        return gx, ga, None, None, None


def fake_quantize(x: Tensor, alpha: float | Tensor, fmt: str | FP8Format = "e4m3",
                  stochastic: bool = False,
                  generator: torch.Generator | None = None) -> Tensor:
    """Quantize in the forward pass (Q_det, or Q_rand with ``stochastic``), straight-through in
    the backward pass: d/dx = 1 for ``|x| <= α`` else 0; d/dα = ``(Q(x) - x) / α`` inside,
    ``sign(x)`` outside. Computes in float32 (float64 for float64 inputs), returns ``x.dtype``."""
    f = get_format(fmt)
    xc, a = _prepare(x, alpha)
    return _FakeQuantize.apply(xc, a, f, stochastic, generator).to(x.dtype)


class FP8Quantizer(nn.Module):
    """Per-tensor fake quantizer with range parameter ``alpha`` (learnable unless
    ``learn=False``). ``alpha=None``: set to ``max|x|`` of the first input seen (the
    ``initialized`` buffer records that, so a loaded state is not re-initialised). ``alpha`` is
    floored at ``min_alpha`` in the forward pass."""

    def __init__(self, fmt: str | FP8Format = "e4m3", alpha: float | None = None,
                 learn: bool = True, stochastic: bool = False, min_alpha: float = 1e-8):
        super().__init__()
        self.fmt = get_format(fmt)
        self.alpha = nn.Parameter(torch.tensor(1.0 if alpha is None else float(alpha)),
                                  requires_grad=learn)
        self.register_buffer("initialized", torch.tensor(alpha is not None))
        self.stochastic = stochastic
        self.generator: torch.Generator | None = None
        self.min_alpha = min_alpha
        self._ready = alpha is not None

    def _load_from_state_dict(self, *args, **kwargs):
        super()._load_from_state_dict(*args, **kwargs)
        self._ready = False  # re-read the loaded ``initialized`` flag on the next forward

    def forward(self, x: Tensor) -> Tensor:
        if not self._ready:
            if not bool(self.initialized):
                with torch.no_grad():
                    self.alpha.fill_(max(float(x.detach().abs().max()), self.min_alpha))
                    self.initialized.fill_(True)
            self._ready = True
        return fake_quantize(x, self.alpha.clamp_min(self.min_alpha), self.fmt,
                             self.stochastic, self.generator)

    def extra_repr(self) -> str:
        return f"fmt={self.fmt.name}, stochastic={self.stochastic}"


class FP8QATLayer(nn.Module):
    """``layer`` (Linear, Conv1d, Conv2d, ...: anything with a ``weight``) run by its own forward
    with ``Q(weight; α)`` and, unless ``quantize_input=False``, input ``Q(x; β)``. State keys:
    ``layer.weight``, ``layer.bias``, ``weight_quantizer.alpha``, ``input_quantizer.alpha``."""

    def __init__(self, layer: nn.Module, fmt: str | FP8Format = "e4m3",
                 quantize_input: bool = True, learn_ranges: bool = True,
                 stochastic: bool = False):
        super().__init__()
        self.layer = layer
        self.weight_quantizer = FP8Quantizer(
            fmt, alpha=float(layer.weight.detach().abs().max()), learn=learn_ranges,
            stochastic=stochastic)
        self.input_quantizer = (FP8Quantizer(fmt, None, learn_ranges, stochastic)
                                if quantize_input else None)

    def forward(self, x: Tensor) -> Tensor:
        if self.input_quantizer is not None:
            x = self.input_quantizer(x)
        w = self.weight_quantizer(self.layer.weight)
        return torch.func.functional_call(self.layer, {"weight": w}, (x,))


DEFAULT_QAT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def fp8_qat(model: nn.Module, fmt: str | FP8Format = "e4m3",
            layers: tuple[type[nn.Module], ...] = DEFAULT_QAT_LAYERS,
            quantize_inputs: bool = True, learn_ranges: bool = True,
            stochastic: bool = False, skip: Collection[str] = ()) -> nn.Module:
    """Replace (in place) every submodule of a type in ``layers`` by an :class:`FP8QATLayer`
    around it, except those named in ``skip``, already wrapped ones and the projections inside
    ``nn.MultiheadAttention`` (it reads their weights directly, so they cannot be wrapped).
    Returns ``model`` (or the wrapper if ``model`` itself is such a layer)."""
    if isinstance(model, layers) and not isinstance(model, FP8QATLayer):
        return FP8QATLayer(model, fmt, quantize_inputs, learn_ranges, stochastic)
    targets = []
    for name, parent in model.named_modules():
        if isinstance(parent, (FP8QATLayer, nn.MultiheadAttention)):
            continue
        for child_name, child in parent.named_children():
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, layers) and full not in skip:
                targets.append((parent, child_name, child))
    for parent, child_name, child in targets:
        setattr(parent, child_name,
                FP8QATLayer(child, fmt, quantize_inputs, learn_ranges, stochastic))
    return model


def qat_ranges(model: nn.Module) -> list[nn.Parameter]:
    """The α / β range parameters of a model's quantizers (for their own optimiser group)."""
    return [m.alpha for m in model.modules() if isinstance(m, FP8Quantizer)]


def fp8_weight_alphas(model: nn.Module) -> dict[str, Tensor]:
    """State-dict key of each FP8-quantized weight -> its range α (the communication's
    ``alphas`` argument of :func:`quantize_state_dict`)."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, FP8QATLayer):
            prefix = f"{name}." if name else ""
            out[f"{prefix}layer.weight"] = m.weight_quantizer.alpha.detach()
    return out


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
