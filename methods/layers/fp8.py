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

Communication (the codes on the wire, SERVEROPTIMIZE) is :mod:`perloc.methods.layers.fp8_payload`.

Device: everything computes on its input's device (factories follow the input tensor; random
draws come from the given generator, which must live there too). :func:`fp8_grid` builds the
grid on the cell's device (:func:`perloc.bench.core.device.current`) unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Collection
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
    "fake_quantize",
    "fp8_grid",
    "fp8_qat",
    "fp8_weight_alphas",
    "get_format",
    "grid_neighbours",
    "qat_ranges",
    "quantize",
    "quantize_stochastic",
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
