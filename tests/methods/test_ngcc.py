from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from perloc.methods.layers.conv import CircularFFTConv1d, same_pad
from perloc.methods.layers.gcc import ordered_pairs
from perloc.methods.layers.sinc import SincConv
from perloc.methods.tdoa.ngcc import NGCCPHAT, NgccParams, load_reference

REF_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "ngcc"
CHECKPOINT = REF_DIR / "model.pth"
SPEECH = REF_DIR / "speech.wav"
needs_checkpoint = pytest.mark.skipif(
    not CHECKPOINT.is_file(), reason=f"released NGCC-PHAT checkpoint not found at {CHECKPOINT}"
)

SMALL = NgccParams(
    sig_len=256, max_tau=8, channels=8, corr_channels=6, head_channels=8, sinc_kernel=31
)


def _small(**kw) -> NGCCPHAT:
    torch.manual_seed(0)
    fields = {k: getattr(SMALL, k) for k in SMALL.__dataclass_fields__}
    return NGCCPHAT(NgccParams(**{**fields, **kw})).eval()


def _close(a, b, rtol=1e-4):
    """Max abs difference within ``rtol`` of the largest magnitude of ``b``."""
    err, scale = (a - b).abs().max().item(), b.abs().max().item()
    assert err <= rtol * scale, f"max abs diff {err:.3g} vs scale {scale:.3g}"


# -- size and checkpoint ---------------------------------------------------------------------
def test_paper_config_counts():
    model = NGCCPHAT()
    floats = sum(v.numel() for v in model.state_dict().values() if v.is_floating_point())
    # 889,985 float state elements = 888,193 trainable + 7 BN x (running mean + var) x 128
    assert model.parameter_count() == 888_193
    assert floats == 889_985
    assert model.state_count() == 889_992  # + 7 num_batches_tracked counters
    assert model(torch.randn(2, 2048), torch.randn(2, 2048)).shape == (2, 47)


@needs_checkpoint
def test_load_reference_strict():
    model = load_reference(CHECKPOINT)
    state = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)
    assert not model.training and set(model.state_dict()) == set(state)
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key], value), key


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda s: s.pop("final_conv.bias"), "missing keys: \\['final_conv.bias'\\]"),
        (lambda s: s.update(extra=torch.zeros(1)), "unexpected keys: \\['extra'\\]"),
        (lambda s: s.update({"mlp.0.0.weight": torch.zeros(128, 128, 9)}), "mlp.0.0.weight"),
    ],
)
def test_mismatched_state_dict_raises(tmp_path, edit, match):
    state = NGCCPHAT().state_dict()
    edit(state)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=match):
        load_reference(tmp_path / "bad.pth")
    with pytest.raises(FileNotFoundError):
        load_reference(tmp_path / "absent.pth")


# -- sinc layer ------------------------------------------------------------------------------
@pytest.mark.parametrize("channels,kernel,n", [(128, 1023, 2048), (16, 30, 200), (4, 9, 9)])
def test_sinc_fft_equals_direct(channels, kernel, n):
    sinc = SincConv(channels, kernel)
    assert sinc.kernel_size % 2 == 1 and sinc.filters().shape == (channels, 1, sinc.kernel_size)
    x = torch.randn(3, 1, n)
    with torch.no_grad():
        _close(sinc(x), sinc.direct(x))
        _close(sinc(x[:, 0]), sinc.direct(x))  # cached spectra, [B, N] input


def test_sinc_gradients_flow_and_match_direct():
    sinc, x = SincConv(8, 63), torch.randn(2, 1, 256)
    grads = []
    for path in (sinc, sinc.direct):
        sinc.zero_grad()
        path(x).pow(2).mean().backward()
        grads.append([sinc.low_hz_.grad.clone(), sinc.band_hz_.grad.clone()])
    for g_fft, g_direct in zip(*grads, strict=True):
        assert torch.isfinite(g_fft).all() and g_fft.abs().sum() > 0
        _close(g_fft, g_direct, rtol=1e-3)


def test_sinc_init_and_short_input():
    sinc = SincConv(128, 1023, 16000)
    assert sinc.low_hz_[0].item() == pytest.approx(30.0, abs=1e-3)
    top = sinc.low_hz_[-1] + sinc.band_hz_[-1]
    assert top.item() == pytest.approx(8000 - 100, rel=1e-5)
    with pytest.raises(ValueError, match="shorter than the 1023-tap kernel"):
        sinc(torch.randn(1, 1, 1000))


def test_plain_first_layer_fft_equals_conv1d():
    conv = CircularFFTConv1d(8, 101)
    ref = torch.nn.Conv1d(1, 8, 101, padding=50, padding_mode="circular")
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(2, 1, 300)
    with torch.no_grad():
        _close(conv(x), ref(x))
        _close(conv(x), conv.direct(x))
    assert same_pad(101) == (50, 50) and same_pad(4) == (1, 2)


# -- shift equivariance ----------------------------------------------------------------------
@pytest.mark.parametrize("use_sinc", [True, False])
def test_backbone_is_circular_shift_equivariant(use_sinc):
    model, x = _small(use_sinc=use_sinc), torch.randn(2, 256)
    with torch.no_grad():
        out = model.backbone_features(x)
        for t in (1, 7, -40):
            _close(model.backbone_features(x.roll(t, -1)), out.roll(t, -1), rtol=1e-5)


def _shift_error(model, t):
    x1, x2 = torch.randn(2, 256), torch.randn(2, 256)
    with torch.no_grad():
        f2 = model.backbone_features(x2)
        ref = model.correlate(model.backbone_features(x1), f2)
        shifted = model.correlate(model.backbone_features(x1.roll(t, -1)), f2)
    # lag k of the shifted pair equals lag k - t of the original (window cropped)
    a, b = (shifted[..., t:], ref[..., :-t]) if t > 0 else (shifted[..., :t], ref[..., -t:])
    return (a - b).abs().max().item() / ref.abs().max().item()


@pytest.mark.parametrize("t", [3, -5])
def test_correlations_shift_with_circular_gcc(t):
    """Shifting x1 circularly by t shifts every per-channel correlation by t lags.

    Exact only for a circular GCC (n_fft = N): f is circular-padded, so f(roll(x1)) =
    roll(f(x1)), and a circular cross-correlation of a circularly shifted signal is the
    shifted correlation. The reference (and default) GCC zero-pads to 2N, i.e. a *linear*
    correlation: the t samples that wrap around the frame end then meet other samples of x2,
    so the equivariance holds only approximately (up to a border effect of t / N).
    """
    torch.manual_seed(1)
    assert _shift_error(_small(n_fft=256), t) < 1e-5
    torch.manual_seed(1)
    assert _shift_error(_small(), t) > 1e-3  # linear 2N GCC: only approximate


def _reference_forward(model, x1, x2):
    """The reference code's ops spelled out: direct circular convs, GCC-PHAT with
    1 / (|X1 X2*| + eps) on 2N points, zero-padded head (eval mode)."""

    def block(x, conv, bn, pad_mode, act=True):
        k = conv.weight.shape[-1]
        x = F.conv1d(F.pad(x, (k // 2, k // 2), mode=pad_mode), conv.weight, conv.bias)
        return F.leaky_relu(bn(x), 0.2) if act else bn(x)

    def f(x):
        sinc, rest = model.backbone.conv[0], list(model.backbone.conv)[1:]
        x = F.conv1d(
            F.pad(x[:, None], (sinc.kernel_size // 2,) * 2, mode="circular"), sinc.filters()
        )
        x = F.leaky_relu(model.backbone.bn[0](x), 0.2)
        for i, conv in enumerate(rest, start=1):
            x = block(x, conv, model.backbone.bn[i], "circular", act=i < len(rest))
        return x

    n, tau = 2 * x1.shape[-1], model.params.max_tau
    cross = torch.fft.rfft(f(x1), n=n) * torch.fft.rfft(f(x2), n=n).conj()
    cc = torch.fft.irfft(cross / (cross.abs() + model.params.eps), n)
    cc = torch.cat([cc[..., -tau:], cc[..., : tau + 1]], dim=-1)
    for layer in model.mlp:
        cc = block(cc, layer[0], layer[1], "constant")
    return block(cc, model.final_conv, torch.nn.Identity(), "constant", act=False)[:, 0]


def test_forward_matches_reference_ops():
    model = _small()
    for bn in [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]:
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    x1, x2 = torch.randn(3, 256), torch.randn(3, 256)
    with torch.no_grad():
        _close(model(x1, x2), _reference_forward(model, x1, x2), rtol=1e-5)


# -- released model on real speech ------------------------------------------------------------
@needs_checkpoint
@pytest.mark.skipif(not SPEECH.is_file(), reason=f"speech sample not found at {SPEECH}")
def test_reference_recovers_anechoic_integer_delays():
    import soundfile as sf

    speech, fs = sf.read(SPEECH, dtype="float32")
    assert fs == 16000
    s, start = torch.from_numpy(speech), 16000
    delays = torch.arange(-23, 24)
    x1 = torch.stack([s[start - d : start - d + 2048] for d in delays.tolist()])  # s[t - d]
    x2 = s[start : start + 2048].expand(len(delays), -1)
    model = load_reference(CHECKPOINT)
    with torch.inference_mode():
        pred = model.predict_delay(model(x1, x2))
    assert torch.equal(pred, delays)


# -- arrays ----------------------------------------------------------------------------------
def test_features_equal_per_pair_and_flip():
    model, x = _small(), torch.randn(2, 4, 256)
    pairs = ordered_pairs(4)
    with torch.no_grad():
        out = model.features(x)
        feats = [model.backbone_features(x[:, i]) for i in range(4)]
        assert out.shape == (2, 12, 6, 17)
        for k, (i, j) in enumerate(pairs.tolist()):
            _close(out[:, k], model.correlate(feats[i], feats[j]), rtol=1e-5)
            back = pairs.tolist().index([j, i])
            assert torch.equal(out[:, back], out[:, k].flip(-1))
        logits = model.pair_logits(x, [[0, 1], [2, 3]])
        assert logits.shape == (2, 2, 17)
        _close(logits[:, 1], model(x[:, 2], x[:, 3]), rtol=1e-5)


def test_features_differentiable():
    model, x = _small(), torch.randn(1, 3, 256)
    with torch.no_grad():
        ref = model.features(x, [[0, 1], [1, 0]])
    out = model.features(x, [[0, 1], [1, 0]])
    assert out.requires_grad
    _close(out.detach(), ref, rtol=1e-5)
    out.pow(2).sum().backward()
    assert model.backbone.conv[0].low_hz_.grad.abs().sum() > 0


def test_training_step_updates_all_parameters():
    model = _small().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x1, x2, target = torch.randn(4, 256), torch.randn(4, 256), torch.tensor([0, 3, 8, 16])
    F.cross_entropy(model(x1, x2), target).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    opt.step()


# -- heads and parameters --------------------------------------------------------------------
def test_classification_predict_delay():
    model = _small()
    logits = F.one_hot(torch.tensor([0, 8, 16]), 17).float()
    assert model.predict_delay(logits).tolist() == [-8, 0, 8]
    assert "target_mean" not in model.state_dict()


def test_regression_head():
    model = _small(head="regression")
    out = model(torch.randn(3, 256), torch.randn(3, 256))
    assert out.shape == (3, 1)
    model.target_mean.fill_(2.0)
    model.target_std.fill_(4.0)
    np.testing.assert_allclose(model.predict_delay(out).detach(), out[:, 0].detach() * 4 + 2)
    assert {"target_mean", "target_std", "reg.0.running_mean", "reg.2.weight"} <= set(
        model.state_dict()
    )


@pytest.mark.parametrize(
    "kw",
    [
        {"head": "classifier"},
        {"sinc_kernel": 30},
        {"sinc_kernel": 301},
        {"dropout": 1.0},
        {"bn_momentum": 0.0},
        {"channels": 0},
        {"corr_channels": True},
        {"max_tau": 256},
        {"max_tau": -1},
        {"n_fft": 10},
        {"eps": -1.0},
        {"fs": 0},
    ],
)
def test_parameter_validation(kw):
    fields = {k: getattr(SMALL, k) for k in SMALL.__dataclass_fields__}
    with pytest.raises(ValueError):
        NgccParams(**{**fields, **kw})
