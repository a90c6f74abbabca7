"""FP8 quantizer checks (spec kws_fl.md §7.2): torch equality on the grid, the scaled grid and
its clipping, stochastic rounding, straight-through gradients, QAT wrappers, payloads,
SERVEROPTIMIZE.

Known answers are derived by hand (comments give the arithmetic) or from an independent
enumeration of the format from its definition (thesis Eq. 14), never from the functions under
test."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from perloc.methods.layers import fp8, fp8_payload
from perloc.methods.layers.fp8 import (
    E4M3,
    E5M2,
    FP8QATLayer,
    fake_quantize,
    fp8_grid,
    fp8_qat,
    fp8_weight_alphas,
    grid_neighbours,
    qat_ranges,
    quantize,
    quantize_stochastic,
)
from perloc.methods.layers.fp8_payload import (
    decode,
    dequantize_state_dict,
    encode,
    from_bytes,
    payload_nbytes,
    quantize_state_dict,
    search_alpha,
    server_optimize,
    to_bytes,
)

torch.set_num_threads(1)
FORMATS = [E4M3, E5M2]
# (exponent bits, mantissa bits, bias, grid top at the integer bias, torch's finite max)
SPEC = {"e4m3": (4, 3, 7, 480.0, 448.0), "e5m2": (5, 2, 15, 114688.0, 57344.0)}
# false-alarm rate of each statistical check: two-sided normal tail beyond K_SIGMA sigmas
K_SIGMA = 5.0  # P(|Z| > 5) = 5.7e-7


def hand_grid(name: str) -> torch.Tensor:
    """The full-exponent-range grid from its definition (Eq. 14): exponent field p = 0..2^e-1,
    mantissa d = 0..2^m-1, value 2^(max(p, 1) - b) * ([p > 0] + d / 2^m); both signs, sorted."""
    e, m, b, _, _ = SPEC[name]
    pos = sorted({2.0 ** (max(p, 1) - b) * ((p > 0) + d / 2**m)
                  for p in range(2**e) for d in range(2**m)})
    return torch.tensor(sorted({-v for v in pos} | set(pos)), dtype=torch.float64)


def hand_nearest(y: torch.Tensor, name: str) -> torch.Tensor:
    """Nearest hand-grid value, ties to the even code (on the non-negative grid, value i has
    code i, so even code = even index); exact for float64 inputs by comparing in fractions."""
    from fractions import Fraction

    pos = [Fraction(v) for v in hand_grid(name).tolist() if v >= 0]
    out = []
    for v in y.tolist():
        a = Fraction(abs(v))
        i = max(j for j, g in enumerate(pos) if g <= a)
        if i == len(pos) - 1 or a == pos[i]:
            best = i
        else:
            lo, hi = a - pos[i], pos[i + 1] - a
            best = i if lo < hi else i + 1 if hi < lo else (i if i % 2 == 0 else i + 1)
        out.append(math.copysign(float(pos[best]), v))
    return torch.tensor(out, dtype=torch.float64)


# ----------------------------------------------------------------------------- formats


def test_format_constants_match_torch_and_the_spec_table():
    # E4M3: max 1.75 * 2^8 = 448, min normal 2^(1-7), min subnormal 2^(1-7-3)
    assert torch.finfo(torch.float8_e4m3fn).max == 448.0
    assert torch.finfo(torch.float8_e5m2).max == 57344.0  # 1.75 * 2^15
    assert (E4M3.torch_max, E4M3.min_normal, E4M3.min_subnormal) == (448.0, 2**-6, 2**-9)
    assert (E5M2.torch_max, E5M2.min_normal, E5M2.min_subnormal) == (57344.0, 2**-14, 2**-16)
    assert torch.finfo(torch.float8_e4m3fn).smallest_normal == 2**-6
    assert torch.finfo(torch.float8_e5m2).smallest_normal == 2**-14
    # top of the full-exponent-range grid: 1.875 * 2^8 and 1.75 * 2^16
    assert (E4M3.ref, E5M2.ref) == (480.0, 114688.0)
    assert fp8.get_format("E4M3") is E4M3
    with pytest.raises(ValueError, match="unknown FP8 format"):
        fp8.get_format("e3m4")


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_grid_is_the_hand_enumerated_grid_with_255_values(fmt):
    grid = fp8_grid(fmt)
    assert torch.equal(grid, hand_grid(fmt.name))
    assert grid.numel() == 255 and grid.max() == SPEC[fmt.name][3]
    assert torch.equal(grid, -grid.flip(0))
    # scaled: smallest positive value alpha * 2^-9 / 480 (E4M3), top value alpha
    for alpha in (1.0, 2.5, 0.037):
        g = fp8_grid(fmt, alpha)
        assert g.numel() == 255 and torch.equal(g, -g.flip(0)) and g.max() == alpha
        assert g[128].item() == pytest.approx(alpha * fmt.min_subnormal / fmt.ref, rel=1e-15)


# ----------------------------------------------------------------------------- torch equality


def _grid_and_midpoints(fmt, limit):
    g = hand_grid(fmt.name)
    g = g[g.abs() <= limit]
    mids = (g[1:] + g[:-1]) / 2
    return g, mids


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_equals_torch_cast_on_the_integer_bias_grid(fmt):
    """alpha = ref (c = 1): Q(x) == torch's cast for |x| <= finfo.max: all grid points, all
    midpoints (ties to even), subnormals and random values."""
    gen = torch.Generator().manual_seed(0)
    g, mids = _grid_and_midpoints(fmt, fmt.torch_max)
    sub = torch.arange(-4 * 2**fmt.man_bits, 4 * 2**fmt.man_bits + 1) * fmt.min_subnormal / 4
    rand = (torch.rand(200_000, generator=gen, dtype=torch.float64) * 2 - 1) * fmt.torch_max
    logs = torch.exp2(torch.rand(50_000, generator=gen, dtype=torch.float64) * 40 - 24)
    x = torch.cat([g, mids, sub.double(), rand, logs.clamp(max=fmt.torch_max), -logs.clamp(
        max=fmt.torch_max)]).float()
    torch_q = x.to(fmt.dtype).float()
    assert torch.equal(quantize(x, fmt.ref, fmt), torch_q)
    # the same values as float64 (float32-representable: no double rounding in torch's cast)
    assert torch.equal(quantize(x.double(), fmt.ref, fmt), torch_q.double())


def test_known_e4m3_roundings_by_hand():
    # 1.0625 is the midpoint of 1 (mantissa 000) and 1.125 (001): ties to even -> 1;
    # 1.1875 between 1.125 (001) and 1.25 (010) -> 1.25; 3 * 2^-10 between 2^-9 (code 1) and
    # 2^-8 (code 2) -> 2^-8; 2^-10 between 0 and 2^-9 -> 0; 300 in [256, 512), spacing 32 ->
    # 288 (nearer than 320); 464 between 448 (110) and 480 (111) -> 448; 465 -> 480;
    # beyond alpha = 480 -> 480.
    x = torch.tensor([1.0625, 1.1875, 3 * 2**-10, 2**-10, 300.0, 464.0, 465.0, 1e4, -1e30,
                      -1.0625], dtype=torch.float64)
    want = [1.0, 1.25, 2**-8, 0.0, 288.0, 448.0, 480.0, 480.0, -480.0, -1.0]
    assert quantize(x, 480.0, "e4m3").tolist() == want


def test_known_e5m2_roundings_by_hand():
    # above 57344 (1.11 * 2^15) the full-range grid has 65536, 81920, 98304, 114688 (spacing
    # 16384); 61440 is the midpoint of 57344 (mantissa 11) and 65536 (00) -> 65536; 73728 of
    # 65536 (00) and 81920 (01) -> 65536; 73729 -> 81920; 1.25 in [1, 2), spacing 0.25 -> 1.25;
    # 1.125 between 1 (00) and 1.25 (01) -> 1; subnormal 3 * 2^-17 -> 2^-15 (code 2 is even).
    x = torch.tensor([61440.0, 73728.0, 73729.0, 1e6, 1.25, 1.125, 3 * 2**-17],
                     dtype=torch.float64)
    want = [65536.0, 65536.0, 81920.0, 114688.0, 1.25, 1.0, 2**-15]
    assert quantize(x, 114688.0, "e5m2").tolist() == want


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_float64_ties_are_rounded_once(fmt):
    """float64 values one ulp either side of every midpoint go to the nearer neighbour, and the
    midpoints themselves to the even code (torch casts float64 through float32 and rounds
    1.0625 + 1 ulp down to 1.0: the quantizer must not)."""
    g, mids = _grid_and_midpoints(fmt, fmt.ref)
    up = torch.nextafter(mids, torch.full_like(mids, math.inf))
    down = torch.nextafter(mids, torch.full_like(mids, -math.inf))
    assert torch.equal(quantize(up, fmt.ref, fmt), g[1:])
    assert torch.equal(quantize(down, fmt.ref, fmt), g[:-1])
    assert torch.equal(quantize(mids, fmt.ref, fmt), hand_nearest(mids, fmt.name))
    x = torch.tensor([math.nextafter(1.0625, 2.0)], dtype=torch.float64)
    if fmt is E4M3:
        assert x.to(torch.float8_e4m3fn).double().item() == 1.0  # torch's double rounding
        assert quantize(x, 480.0, fmt).item() == 1.125


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_full_range_equals_hand_nearest(fmt):
    """Up to alpha (beyond torch's max too) the result is the nearest hand-grid value."""
    gen = torch.Generator().manual_seed(1)
    x = (torch.rand(3000, generator=gen, dtype=torch.float64) * 2 - 1) * fmt.ref
    x = torch.cat([x, torch.linspace(fmt.torch_max, fmt.ref, 257, dtype=torch.float64)])
    assert torch.equal(quantize(x, fmt.ref, fmt), hand_nearest(x, fmt.name))


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_scaled_grid_equals_scaled_torch_cast(fmt):
    """Q(x; alpha) == c * cast(x / c), c = alpha / ref, for |x| <= c * finfo.max."""
    gen = torch.Generator().manual_seed(2)
    for alpha in (3.7, 0.0123, 1e3, 480.0):
        c = alpha / fmt.ref
        g, mids = _grid_and_midpoints(fmt, fmt.torch_max)
        x = torch.cat([g * c, (torch.rand(20_000, generator=gen, dtype=torch.float64) * 2 - 1)
                       * fmt.torch_max * c])
        want = (x / c).float().to(fmt.dtype).double() * c
        torch.testing.assert_close(quantize(x, alpha, fmt), want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_clamps_to_alpha_and_never_reaches_library_overflow(fmt):
    alpha = 2.5
    x = torch.tensor([2.5, 2.6, 1e6, 1e38, -3.0, -1e38], dtype=torch.float32)
    q = quantize(x, alpha, fmt)
    assert q.tolist() == [2.5, 2.5, 2.5, 2.5, -2.5, -2.5]
    assert torch.isfinite(quantize(torch.tensor([1e5, 6e4]), fmt.ref, fmt)).all()
    # where the formats differ by design: E4M3 torch saturates 470 to 448, the grid has 480
    if fmt is E4M3:
        assert torch.tensor(470.0).to(torch.float8_e4m3fn).item() == 448.0
        assert quantize(torch.tensor(470.0), 480.0, fmt).item() == 480.0
    else:
        assert torch.tensor(70000.0).to(torch.float8_e5m2).float().item() == math.inf
        assert quantize(torch.tensor(70000.0), fmt.ref, fmt).item() == 65536.0


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_scaling_invariance(fmt):
    """q(c x; c alpha) = c q(x; alpha): exact for powers of two, to rounding otherwise."""
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(5000, generator=gen, dtype=torch.float64) * 2
    q = quantize(x, 3.0, fmt)
    for c in (2.0**-20, 0.5, 8.0, 2.0**30):
        assert torch.equal(quantize(c * x, c * 3.0, fmt), c * q)
    for c in (0.3, 7.1, 1e-4):
        torch.testing.assert_close(quantize(c * x, c * 3.0, fmt), c * q, rtol=1e-12, atol=0)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_grid_properties(fmt):
    gen = torch.Generator().manual_seed(4)
    alpha = 1.7
    x = torch.sort((torch.rand(20_000, generator=gen, dtype=torch.float64) * 2 - 1) * 2)[0]
    q = quantize(x, alpha, fmt)
    assert torch.equal(quantize(q, alpha, fmt), q)  # idempotent
    assert (q[1:] >= q[:-1]).all()  # monotone
    grid = hand_grid(fmt.name) * (alpha / fmt.ref)
    assert (torch.isin(q, grid) | (q.abs() == alpha)).all()  # top: alpha exactly
    assert q.unique().numel() <= 255 and q.abs().max() == alpha
    inside = x.abs() <= alpha
    lo, hi = grid_neighbours(x, alpha, fmt)
    assert ((q[inside] - x[inside]).abs() <= (hi - lo)[inside] / 2 * (1 + 1e-12)).all()


# ----------------------------------------------------------------------------- stochastic


def test_known_neighbours_by_hand():
    # E4M3, alpha = 480: 0.3 lies in [0.25, 0.5), spacing 2^-2 * 2^-3 = 2^-5 -> 9/32, 10/32;
    # 470 in [256, 512) spacing 32 -> 448, 480; 300 -> 288, 320; a grid point has lo = hi.
    lo, hi = grid_neighbours(torch.tensor([0.3, -0.3, 470.0, 300.0, 1.5], dtype=torch.float64),
                             480.0, "e4m3")
    assert lo.tolist() == [0.28125, -0.3125, 448.0, 288.0, 1.5]
    assert hi.tolist() == [0.3125, -0.28125, 480.0, 320.0, 1.5]
    # E5M2, alpha = 114688: 70000 -> 65536, 81920; 1e-5 (subnormal, spacing 2^-16) -> 0, 2^-16
    lo, hi = grid_neighbours(torch.tensor([70000.0, 1e-5], dtype=torch.float64), 114688.0,
                             "e5m2")
    assert lo.tolist() == [65536.0, 0.0] and hi.tolist() == [81920.0, 2**-16]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_stochastic_output_is_one_of_the_two_hand_neighbours(fmt):
    gen = torch.Generator().manual_seed(5)
    alpha = 0.8
    x = (torch.rand(50_000, generator=gen, dtype=torch.float64) * 2 - 1) * 0.8
    grid = hand_grid(fmt.name) * (alpha / fmt.ref)
    i = torch.searchsorted(grid, x, right=True) - 1
    lo, hi = grid[i], grid[(i + 1).clamp(max=254)]
    q = quantize_stochastic(x, alpha, fmt, generator=gen)
    assert ((q == lo) | (q == hi)).all()
    assert (q == lo).any() and (q == hi).any()
    g = grid[grid.abs() < alpha]  # on-grid inputs come back unchanged
    assert torch.equal(quantize_stochastic(g, alpha, fmt, generator=gen), g)
    assert quantize_stochastic(torch.tensor([5.0, -5.0]), alpha, fmt, generator=gen).tolist() \
        == pytest.approx([0.8, -0.8], rel=1e-7)


def test_stochastic_is_deterministic_given_the_generator():
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    a = quantize_stochastic(x, 3.0, generator=torch.Generator().manual_seed(7))
    b = quantize_stochastic(x, 3.0, generator=torch.Generator().manual_seed(7))
    c = quantize_stochastic(x, 3.0, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_stochastic_rounding_is_unbiased_with_the_right_variance(fmt):
    """For fixed x with neighbours lo < x < hi (gap s, f = (x - lo) / s) one draw is lo + s B,
    B ~ Bernoulli(f): mean x, variance s^2 f (1 - f). Over n draws the mean is within
    K_SIGMA * s sqrt(f (1 - f) / n) of x (false alarm 5.7e-7 per value); the variance estimate
    within K_SIGMA times its delta-method standard error plus a 1/n term."""
    n = 40_000
    gen = torch.Generator().manual_seed(6)
    alpha = 1.0
    # E4M3, alpha = 1: 0.1234 * 480 = 59.232 in [32, 64), spacing 4: lo = 56/480, hi = 60/480
    # (f far enough from 0 and 1 for the normal approximation; 2e-5 is subnormal in E4M3)
    for x0 in (0.1234, -0.37, 0.999, 3e-4, 0.0625 + 1e-3, 2e-5):
        x = torch.full((n,), x0, dtype=torch.float64)
        lo, hi = grid_neighbours(x[:1], alpha, fmt)
        s = float(hi - lo)
        f = (x0 - float(lo)) / s
        q = quantize_stochastic(x, alpha, fmt, generator=gen)
        sd = s * math.sqrt(f * (1 - f) / n)
        assert abs(q.mean().item() - x0) <= K_SIGMA * sd + 1e-15
        var = q.var(unbiased=False).item()
        se_var = s**2 * abs(1 - 2 * f) * math.sqrt(f * (1 - f) / n)
        assert abs(var - s**2 * f * (1 - f)) <= K_SIGMA * se_var + K_SIGMA * s**2 / n
    if fmt is E4M3:
        lo, hi = grid_neighbours(torch.tensor([0.1234], dtype=torch.float64), 1.0, fmt)
        assert (lo.item(), hi.item()) == (56 / 480, 60 / 480)


def test_bernoulli_half_reading_of_eq5_is_rejected():
    """Eq. 5 read literally (round up with probability 1/2) has mean (lo + hi) / 2; the
    quantizer's mean for x = 0.1234 (alpha = 1, E4M3: lo = 56/480, hi = 60/480, midpoint
    0.121 is 11 standard errors of the Bernoulli(1/2) rule away) must sit at x instead."""
    n = 40_000
    x = torch.full((n,), 0.1234, dtype=torch.float64)
    q = quantize_stochastic(x, 1.0, "e4m3", generator=torch.Generator().manual_seed(9))
    s, mid = 4 / 480, 58 / 480
    sd_half = s * 0.5 / math.sqrt(n)
    assert abs(q.mean().item() - mid) > K_SIGMA * sd_half
    f = (0.1234 - 56 / 480) / s
    assert abs(q.mean().item() - 0.1234) <= K_SIGMA * s * math.sqrt(f * (1 - f) / n)


def test_averaging_independent_stochastic_copies_reduces_the_error():
    """Spec §5.3 (Figure 2 effect): the MSE of the mean of K independent SR copies is about
    MSE_SR / K (errors are independent and zero-mean); K deterministic copies stay at MSE_det."""
    gen = torch.Generator().manual_seed(10)
    w = torch.rand(100_000, generator=gen, dtype=torch.float64) * 2 - 1
    k = 10
    copies = torch.stack([quantize_stochastic(w, 1.0, generator=gen) for _ in range(k)])
    mse_sr = ((copies[0] - w) ** 2).mean().item()
    mse_avg = ((copies.mean(0) - w) ** 2).mean().item()
    mse_det = ((quantize(w, 1.0) - w) ** 2).mean().item()
    assert mse_avg == pytest.approx(mse_sr / k, rel=0.1)
    assert mse_det < mse_sr  # one det copy beats one SR copy ...
    assert mse_avg < mse_det / 2  # ... but not ten averaged SR copies


# ----------------------------------------------------------------------------- gradients


def test_straight_through_gradients_by_hand():
    # alpha = 1, E4M3 grid = k / 480: Q(0.1) = 48/480 = 0.1 (on the grid); -0.7 * 480 = -336 is
    # the tie of -320 (1.010 * 2^8, even) and -352 -> -2/3; 1.5 and -2 are clipped to +-1.
    x = torch.tensor([0.1, -0.7, 1.5, -2.0, 0.0], dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    q = fake_quantize(x, alpha)
    assert q.tolist() == pytest.approx([0.1, -2 / 3, 1.0, -1.0, 0.0], abs=1e-15)
    upstream = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    q.backward(upstream)
    assert x.grad.tolist() == [1.0, 2.0, 0.0, 0.0, 5.0]  # upstream inside, 0 outside
    # d/dalpha: (Q - x) / alpha inside, sign(x) clipped: 1*0 + 2*(0.7 - 2/3) + 3*1 + 4*(-1) + 0
    assert alpha.grad.item() == pytest.approx(2 * (0.7 - 2 / 3) - 1, abs=1e-12)
    assert torch.isfinite(alpha.grad) and torch.isfinite(x.grad).all()


def test_fake_quantize_forward_equals_quantize_and_keeps_dtype():
    x = torch.randn(300, generator=torch.Generator().manual_seed(11))
    assert torch.equal(fake_quantize(x, 2.0), quantize(x, 2.0))
    assert fake_quantize(x.half(), 2.0).dtype == torch.float16
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(fake_quantize(x, 2.0, stochastic=True, generator=g1),
                       quantize_stochastic(x, 2.0, generator=g2))


# ----------------------------------------------------------------------------- QAT wrappers


def _small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5),
                         nn.LayerNorm(5))


def test_fp8_qat_wraps_linear_and_conv_and_computes_the_quantized_layer():
    model = fp8_qat(_small_model())
    assert isinstance(model[0], FP8QATLayer) and isinstance(model[3], FP8QATLayer)
    assert isinstance(model[4], nn.LayerNorm)
    conv, lin = model[0], model[3]
    # weight alpha = max|w| at wrap time; input beta = max|x| of the first batch
    assert conv.weight_quantizer.alpha.item() == conv.layer.weight.abs().max().item()
    x = torch.randn(4, 2, 6, 6, generator=torch.Generator().manual_seed(0))
    y = model(x)
    assert conv.input_quantizer.alpha.item() == x.abs().max().item()
    h = F.conv2d(quantize(x, x.abs().max()), quantize(conv.layer.weight, conv.weight_quantizer
                                                      .alpha), conv.layer.bias)
    h = torch.relu(h).flatten(1)
    assert lin.input_quantizer.alpha.item() == h.abs().max().item()
    want = F.linear(quantize(h, h.abs().max()), quantize(lin.layer.weight, lin.weight_quantizer
                                                         .alpha), lin.layer.bias)
    torch.testing.assert_close(y, model[4](want))
    y.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert len(qat_ranges(model)) == 4
    assert set(fp8_weight_alphas(model)) == {"0.layer.weight", "3.layer.weight"}


def test_fp8_qat_conv1d_skip_and_attention():
    model = nn.Sequential(nn.Conv1d(2, 4, 3), nn.Flatten(), nn.Linear(8, 2))
    fp8_qat(model, skip={"2"}, quantize_inputs=False, learn_ranges=False)
    assert isinstance(model[0], FP8QATLayer) and isinstance(model[2], nn.Linear)
    assert model[0].input_quantizer is None and not model[0].weight_quantizer.alpha.requires_grad
    assert model(torch.randn(3, 2, 4)).shape == (3, 2)
    # nn.MultiheadAttention reads out_proj.weight itself: its projections stay unwrapped
    layer = fp8_qat(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True))
    assert isinstance(layer.self_attn.out_proj, nn.Linear)
    assert isinstance(layer.linear1, FP8QATLayer)
    assert layer(torch.randn(2, 3, 8)).shape == (2, 3, 8)
    assert isinstance(fp8_qat(nn.Linear(3, 3)), FP8QATLayer)


def test_loaded_ranges_are_not_reinitialised():
    a = fp8_qat(_small_model())
    a(torch.randn(2, 2, 6, 6))
    b = fp8_qat(_small_model())
    b.load_state_dict(a.state_dict())
    x = 10 * torch.randn(2, 2, 6, 6)
    assert torch.equal(a(x), b(x))
    assert b[0].input_quantizer.alpha.item() == a[0].input_quantizer.alpha.item()


# ----------------------------------------------------------------------------- payloads


def test_codes_are_torch_bytes_plus_the_full_range_top_codes():
    # E4M3 1.0 = 0|0111|000 = 0x38; 448 = 0|1111|110 = 0x7E; 480 = 0|1111|111 = 0x7F (torch's
    # NaN code); E5M2 1.0 = 0|01111|00 = 0x3C; 65536 = 0|11111|00 = 0x7C (torch's inf);
    # -114688 = 1|11111|11 = 0xFF
    q = encode(torch.tensor([1.0, 448.0, 480.0, -480.0, 0.0]), 480.0, "e4m3", stochastic=False)
    assert q.codes.tolist() == [0x38, 0x7E, 0x7F, 0xFF, 0x00]
    assert decode(q).tolist() == [1.0, 448.0, 480.0, -480.0, 0.0]
    q = encode(torch.tensor([1.0, 65536.0, -114688.0]), 114688.0, "e5m2", stochastic=False)
    assert q.codes.tolist() == [0x3C, 0x7C, 0xFF]
    assert decode(q).tolist() == [1.0, 65536.0, -114688.0]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_every_code_round_trips(fmt):
    grid = hand_grid(fmt.name)
    q = encode(grid.float(), fmt.ref, fmt, stochastic=False)
    assert torch.equal(decode(q, torch.float64), grid)
    assert q.codes.unique().numel() == 255  # -0 and +0 share a value, not a code


def test_encode_decode_equals_the_quantizer_with_the_float32_alpha():
    gen = torch.Generator().manual_seed(12)
    w = torch.randn(64, 32, generator=gen)
    alpha = 1 / 3  # not a float32: the float32 alpha is what is sent and used
    q = encode(w, alpha, stochastic=False)
    a32 = torch.tensor(alpha, dtype=torch.float32)
    assert q.alpha.item() == a32.item()
    assert torch.equal(decode(q), quantize(w, a32))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(decode(encode(w, alpha, generator=g1)),
                       quantize_stochastic(w, a32, generator=g2))
    # alpha defaults to max|w|: nothing is clipped
    assert encode(w, stochastic=False).alpha.item() == w.abs().max().item()


def test_state_dict_payload_round_trip_and_byte_counts():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 4), nn.LayerNorm(4), nn.Conv1d(4, 2, 3))
    state = model.state_dict()
    state["count"] = torch.tensor(7, dtype=torch.int64)
    q = quantize_state_dict(state, alphas={"0.weight": 0.5}, generator=torch.Generator()
                            .manual_seed(0))
    assert set(q) == set(state)
    assert isinstance(q["0.weight"], fp8_payload.QuantizedTensor)
    assert isinstance(q["2.weight"], fp8_payload.QuantizedTensor)
    assert q["0.weight"].alpha.item() == pytest.approx(0.5)
    # by hand: FP8 weights 10*4 + 4*2*3 = 64 bytes + 2 alphas * 4; FP32 biases and LayerNorm
    # 4 + 4 + 4 + 2 = 14 floats * 4 = 56; the int64 counter 8: 64 + 8 + 56 + 8 = 136
    assert payload_nbytes(q) == 136
    blobs = to_bytes(q)
    assert sum(map(len, blobs)) == 136
    back = from_bytes(blobs, q)
    for key in q:
        if isinstance(q[key], fp8_payload.QuantizedTensor):
            assert torch.equal(back[key].codes, q[key].codes)
            assert torch.equal(back[key].alpha, q[key].alpha)
        else:
            assert torch.equal(back[key], q[key]) and back[key].dtype == q[key].dtype
    deq = dequantize_state_dict(back)
    assert torch.equal(deq["1.weight"], state["1.weight"])
    # |w| <= 1/sqrt(10) < 0.5: not clipped; SR error below the top binade's gap 32/480 * alpha
    assert (deq["0.weight"] - state["0.weight"]).abs().max() <= 0.5 / 15
    model.load_state_dict({k: v for k, v in deq.items() if k != "count"})
    with pytest.raises(ValueError, match="bytes, expected"):
        from_bytes([b[:-1] for b in blobs], q)


def test_state_dict_select_and_qat_alphas():
    model = fp8_qat(nn.Sequential(nn.Linear(6, 3)))
    model(torch.randn(2, 6))
    state = model.state_dict()
    q = quantize_state_dict(state, alphas=fp8_weight_alphas(model), stochastic=False)
    assert isinstance(q["0.layer.weight"], fp8_payload.QuantizedTensor)
    assert q["0.layer.weight"].alpha.item() == state["0.weight_quantizer.alpha"].item()
    assert not isinstance(q["0.layer.bias"], fp8_payload.QuantizedTensor)
    q2 = quantize_state_dict(state, select={"0.layer.bias"}, stochastic=False)
    assert isinstance(q2["0.layer.bias"], fp8_payload.QuantizedTensor)
    assert not isinstance(q2["0.layer.weight"], fp8_payload.QuantizedTensor)


# ----------------------------------------------------------------------------- SERVEROPTIMIZE


def test_server_optimize_without_quantization_is_the_weighted_mean():
    # weights 1 and 3: (1 * [1, 2] + 3 * [3, 4]) / 4 = [2.5, 3.5]; alpha (1 * 1 + 3 * 2) / 4
    r = server_optimize([torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])], [1.0, 2.0],
                        [1, 3], fmt=None)
    assert r.weight.tolist() == [2.5, 3.5] and r.alpha.item() == 1.75


@pytest.mark.parametrize("stochastic", [False, True])
def test_server_optimize_never_worse_than_fedavg(stochastic):
    gen = torch.Generator().manual_seed(13)
    base = torch.randn(500, generator=gen, dtype=torch.float64)
    clients, alphas = [], []
    for k in range(3):
        w = base + 0.05 * torch.randn(500, generator=gen, dtype=torch.float64)
        a = w.abs().max() * (0.9 + 0.1 * k)
        clients.append(quantize_stochastic(w, a, generator=gen))
        alphas.append(a)
    r = server_optimize(clients, alphas, [10, 20, 30], steps=5, lr=0.1,
                        stochastic=stochastic, generator=gen)
    assert r.objective <= r.initial
    assert min(alphas) - 1e-12 <= r.alpha <= max(alphas) + 1e-12
    p = torch.tensor([10, 20, 30], dtype=torch.float64) / 60
    qw = quantize(r.weight, r.alpha)
    if not stochastic:  # the reported objective is the deterministic one
        j = sum(float(pk * ((qw - c) ** 2).sum()) for pk, c in zip(p, clients, strict=True))
        assert r.objective == pytest.approx(j, rel=1e-9)


def test_search_alpha_picks_the_generating_range():
    # target = Q(w; 2): with w = target, alpha = 2 reproduces it exactly (error 0), 1.5 clips
    w = torch.linspace(-2, 2, 101, dtype=torch.float64)
    target = quantize(w, 2.0)
    best, errors = search_alpha(target, target, [1.5, 2.0, 2.5])
    assert best.item() == 2.0 and errors[1].item() == 0.0 and (errors[[0, 2]] > 0).all()
