from dataclasses import replace

import numpy as np
import pytest
import torch

from perloc.methods.layers.gcc import GCCParams, gcc
from perloc.methods.tdoa.pgcc import PGCCPHAT, PgccParams, gcc_beta

N, TAU = 512, 23
SMALL = PgccParams(betas=(0.0, 0.25, 0.5, 0.75, 1.0), channels=(4, 8), hidden=16, sig_len=N)


def _pair(rng, delay, n=N, batch=3, pad=64):
    """x1 is x2 delayed by ``delay`` samples (exact slicing of one white-noise source)."""
    src = rng.standard_normal((batch, n + 2 * pad))
    x1 = src[:, pad - delay : pad - delay + n]
    x2 = src[:, pad : pad + n]
    return torch.tensor(x1, dtype=torch.float32), torch.tensor(x2, dtype=torch.float32)


def _shared(x1, x2, weighting):
    return gcc(torch.stack([x1, x2], dim=1), [[0, 1]], GCCParams(weighting, max_tau=TAU))[:, 0]


def test_gcc_beta_matches_shared_op_at_beta_0_and_1():
    x1, x2 = _pair(np.random.default_rng(0), 5)
    out = gcc_beta(x1, x2, [0.0, 1.0], max_tau=TAU)
    assert out.shape == (3, 2, 2 * TAU + 1)
    cc, phat = _shared(x1, x2, "cc"), _shared(x1, x2, "phat")
    torch.testing.assert_close(out[:, 0], cc, rtol=1e-4, atol=1e-4 * cc.abs().max().item())
    torch.testing.assert_close(out[:, 1], phat, rtol=1e-4, atol=1e-5)


def test_gcc_beta_intermediate_beta_and_peak_sign():
    rng = np.random.default_rng(1)
    x1, x2 = _pair(rng, -7)
    betas = (0.0, 0.3, 0.7, 1.0)
    out = gcc_beta(x1[:, None], x2[:, None], betas, max_tau=TAU)  # [B, 1, N] accepted
    assert (out.argmax(-1) - TAU == -7).all()
    a, b = x1.double().numpy(), x2.double().numpy()
    g = np.fft.rfft(a, 2 * N) * np.conj(np.fft.rfft(b, 2 * N))
    full = np.fft.irfft(g * (1 / (np.abs(g) + 1e-3)) ** 0.3, 2 * N)
    ref = np.concatenate([full[:, -TAU:], full[:, : TAU + 1]], axis=-1)
    np.testing.assert_allclose(out[:, 1].numpy(), ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())


def test_gcc_beta_differentiable_and_validates():
    x1, x2 = _pair(np.random.default_rng(2), 3, batch=2)
    x1.requires_grad_(True)
    gcc_beta(x1, x2, [0.0, 0.5, 1.0], max_tau=TAU).square().sum().backward()
    assert x1.grad is not None and torch.isfinite(x1.grad).all()
    with pytest.raises(ValueError, match="equal shapes"):
        gcc_beta(x1.detach(), x2[:, :-1], [1.0])
    with pytest.raises(ValueError, match="too short"):
        gcc_beta(x1.detach()[:, :8], x2[:, :8], [1.0], max_tau=TAU)


@pytest.mark.parametrize(
    "head, expected", [("regression", 11_535_041), ("classification", 11_558_639)]
)
def test_default_parameter_count(head, expected):
    model = PGCCPHAT(PgccParams(head=head))
    count = model.parameter_count()
    print(f"PGCC-PHAT {head}: {count} parameters")
    assert count == expected
    assert 11_400_000 <= count <= 11_600_000  # "11.5M" in Paper V Table 1
    assert model.params.feature_shape() == (512, 1, 37)


@pytest.mark.parametrize("head", ["regression", "classification"])
def test_default_output_shapes(head):
    torch.manual_seed(0)
    model = PGCCPHAT(PgccParams(head=head)).eval()
    x1, x2 = torch.randn(2, 1, 2048), torch.randn(2, 1, 2048)
    with torch.no_grad():
        out = model(x1, x2)
    assert model.image(x1, x2).shape == (2, 1, 11, 47)
    assert out.shape == ((2,) if head == "regression" else (2, 47))
    assert model.predict_delay(out).shape == (2,)


@pytest.mark.parametrize("head", ["regression", "classification"])
def test_reduced_config_trains(head):
    torch.manual_seed(0)
    model = PGCCPHAT(replace(SMALL, head=head)).train()
    assert model.params.feature_shape() == (8, 1, 43)
    x1, x2 = _pair(np.random.default_rng(3), 4, batch=4)
    out = model(x1, x2)
    assert out.shape == ((4,) if head == "regression" else (4, 2 * TAU + 1))
    target = model.encode_target(torch.tensor([4.2, -3.5, 0.0, 22.6]))
    if head == "regression":
        loss = torch.nn.functional.mse_loss(out, target)
    else:
        assert target.tolist() == [27, 19, 23, 46]  # round half to even: -3.5 -> -4
        loss = torch.nn.functional.cross_entropy(out, target)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert grads[0].abs().sum() > 0  # reaches the first conv


def test_predict_delay_rounding_and_clipping():
    model = PGCCPHAT(SMALL)
    model.set_target_stats(2.0, 10.0)
    out = torch.tensor([0.0, 0.26, -0.25, 0.05, 5.0, -5.0])  # tau = 2, 4.6, -0.5, 2.5, 52, -48
    assert model.predict_delay(out).tolist() == [2, 5, 0, 2, 23, -23]
    real = model.predict_delay(out, integer=False)
    torch.testing.assert_close(real, torch.tensor([2.0, 4.6, -0.5, 2.5, 52.0, -48.0]))
    torch.testing.assert_close(model.encode_target(real), out)
    clf = PGCCPHAT(replace(SMALL, head="classification"))
    logits = torch.zeros(2, 47)
    logits[0, 0], logits[1, 40] = 1.0, 1.0
    assert clf.predict_delay(logits).tolist() == [-23, 17]
    with pytest.raises(ValueError):
        model.set_target_stats(0.0, 0.0)


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_tau", -1),
        ("max_tau", 2.5),
        ("betas", ()),
        ("betas", (0.0, float("nan"))),
        ("channels", (32, 0)),
        ("hidden", 0),
        ("dropout", 1.0),
        ("head", "ce"),
        ("eps", -1e-3),
        ("sig_len", 10),
    ],
)
def test_bad_config_names_field(field, value):
    with pytest.raises(ValueError, match=field):
        PgccParams(**{field: value})


def test_image_too_small_for_convs():
    with pytest.raises(ValueError, match="too small.*channels"):
        PgccParams(betas=(0.0, 0.5, 1.0), channels=(8, 8))
    with pytest.raises(ValueError, match="too small"):
        PgccParams(max_tau=4)  # 9 lags < 11 needed by 5 convs
    params = PgccParams(betas=np.linspace(0, 1, 5), channels=[4, 8])  # arrays/lists accepted
    assert params.betas == (0.0, 0.25, 0.5, 0.75, 1.0) and params.channels == (4, 8)
