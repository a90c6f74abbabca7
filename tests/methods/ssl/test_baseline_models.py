"""DI-NN and GNN (relation network) baselines of Paper VII (spec tdoa_ssl.md sections 7.1, 7.2)."""

import numpy as np
import pytest
import torch

from perloc.methods.layers.gcc import all_pairs
from perloc.methods.ssl.dinn_model import DINN, DinnParams, stft_features
from perloc.methods.ssl.gnn_model import GnnParams, RelationNet, pair_gcc_features

N = 2048


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _gnn_batch(b=3, m=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, m, N, generator=g), 6 * torch.rand(b, m, 3, generator=g),
            torch.ones(b, m, dtype=torch.bool), 6 * torch.rand(b, 3, generator=g))


# ----------------------------------------------------------------------------------- DI-NN


def test_dinn_parameter_count_at_paper_config():
    torch.manual_seed(0)
    model = DINN()
    n = _n_params(model)
    print(f"DI-NN_11 (3-D, metadata 33 + 4): {n:,} parameters (Paper VII Table 1: ~3.6M)")
    assert 3.3e6 <= n <= 3.9e6
    # conv 2,087,424 + BiGRU 1,182,720 + fusion head 303,600 + metadata MLP 5,587 + BN 24
    assert n == 3_579_355
    assert DinnParams().n_metadata == 37 and DinnParams().n_frames == 9


def test_dinn_stft_front_end_known_answer():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, N)).astype(np.float32)
    feats = stft_features(torch.from_numpy(x))
    assert feats.shape == (2, 3, 9, 1024)
    padded = np.pad(x[1, 2].astype(np.float64), 512, mode="reflect")  # center=True
    for k in (0, 4, 8):
        frame = padded[256 * k : 256 * k + 1024]  # rectangular window
        spec = np.fft.rfft(frame) / np.sqrt(1024)  # normalized=True
        expected = np.concatenate([spec[1:].real, spec[1:].imag])  # DC dropped, [real | imag]
        np.testing.assert_allclose(feats[1, 2, k].numpy(), expected, atol=2e-4)


def test_dinn_forward_backward_finite():
    torch.manual_seed(0)
    model = DINN()
    signals, metadata = torch.randn(2, 11, N), torch.rand(2, 37) * 5
    out = model(signals, metadata)
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.convs[0][0].weight.grad.abs().sum() > 0
    assert model.gru.weight_hh_l0_reverse.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        assert model(signals[:1], metadata[:1]).shape == (1, 3)


def test_dinn_fixed_microphone_count():
    model = DINN(DinnParams(n_mics=5, channels=(4, 8, 8, 16), gru_hidden=8))
    with pytest.raises(ValueError, match=r"DI-NN_5 .*\[B, 5, N\].*\(2, 6, 2048\)"):
        model(torch.randn(2, 6, N), torch.rand(2, 3 * 6 + 4))
    with pytest.raises(ValueError, match="metadata must be"):
        model(torch.randn(2, 5, N), torch.rand(2, 3 * 5))
    assert model(torch.randn(2, 5, N), torch.rand(2, 19)).shape == (2, 3)


# -------------------------------------------------------------------------------------- GNN


def test_gnn_parameter_counts():
    counts = {lags: _n_params(RelationNet(GnnParams(n_lags=lags))) for lags in (200, 629, 1024)}
    print(f"GNN parameters by GCC lags: {counts} (Paper VII Table 1: 2.2M)")
    assert 1.5e6 <= counts[200] <= 2.6e6
    assert counts == {200: 1_698_128, 629: 1_966_253, 1024: 2_213_128}


def _numpy_gcc_phat(x1, x2, n_bins=200, eps=1e-7):
    """pysoundloc ``gcc_phat_batch`` + [R-gnn] ``GccPhat``: circular, central bins, max-norm."""
    n = len(x1)
    cross = np.fft.rfft(x1, n) * np.conj(np.fft.rfft(x2, n))
    cc = np.fft.irfft(cross / (eps + np.abs(cross)), n)
    cc = np.concatenate([cc[-(n // 2) :], cc[: n // 2 + 1]])  # lag -N/2 .. N/2
    cc = cc[(n - n_bins) // 2 : (n + n_bins) // 2]
    return cc / np.abs(cc).max()


def test_gnn_gcc_input_known_answer():
    rng = np.random.default_rng(3)
    base = rng.standard_normal(N)
    x = np.stack([np.roll(base, 37), base, rng.standard_normal(N)]).astype(np.float32)
    pairs = all_pairs(3)  # (0, 1), (0, 2), (1, 2)
    feats = pair_gcc_features(torch.from_numpy(x)[None], pairs, n_lags=200)[0].numpy()
    assert feats.shape == (3, 200)
    for p, (i, j) in enumerate(pairs.tolist()):
        expected = _numpy_gcc_phat(x[i].astype(np.float64), x[j].astype(np.float64))
        np.testing.assert_allclose(feats[p], expected, atol=2e-5)
    assert list(GnnParams().lags)[np.argmax(feats[0])] == 37 and feats[0].max() == pytest.approx(1)
    # the inputs psi sees for pair (0, 1): GCC, mic 0, mic 1, extra
    model, pos, extra = RelationNet(), torch.rand(1, 3, 3), torch.rand(1, 3)
    rows = model.pair_inputs(torch.from_numpy(x)[None], pos, torch.ones(1, 3, dtype=torch.bool),
                             extra, pairs)
    assert rows.shape == (1, 3, 209)
    expected = torch.cat([pos[0, 0], pos[0, 1], extra[0]])
    np.testing.assert_array_equal(rows[0, 0, 200:].numpy(), expected.numpy())


def test_gnn_absent_microphones_are_ignored():
    torch.manual_seed(0)
    model = RelationNet()
    signals, pos, mask, extra = _gnn_batch()
    mask[0, [2, 7]] = False
    mask[1, 3:] = False  # 3 of 11 microphones
    ref = model(signals, pos, mask, extra)
    signals2, pos2 = signals.clone(), pos.clone()
    signals2[~mask] = torch.randn(int((~mask).sum()), N)
    pos2[~mask] = float("nan")
    signals2[0, 2] = float("nan")
    out = model(signals2, pos2, mask, extra)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-6)
    full = model(signals2, pos2, torch.ones_like(mask), extra)  # example 2 has all mics present
    torch.testing.assert_close(full[2], ref[2], rtol=0, atol=1e-6)
    assert not torch.allclose(ref[0], model(signals, pos, torch.ones_like(mask), extra)[0])


def test_gnn_any_microphone_count_and_subsets():
    torch.manual_seed(0)
    model = RelationNet()
    signals, pos, mask, extra = _gnn_batch(b=2, m=11)
    assert model(signals[:, :5], pos[:, :5], mask[:, :5], extra).shape == (2, 3)
    assert model(signals, pos, mask, extra).shape == (2, 3)
    keep = [0, 3, 4, 8, 10]  # 5 of 11 microphones, order kept => the same i < j pairs
    subset = torch.zeros_like(mask)
    subset[:, keep] = True
    torch.testing.assert_close(model(signals, pos, subset, extra),
                               model(signals[:, keep], pos[:, keep], mask[:, keep], extra),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="at least 2 present"):
        model(signals, pos, torch.eye(11, dtype=torch.bool)[:2], extra)


def test_gnn_is_not_permutation_invariant():
    """Paper VII Table 1 ("perm. inv.: no"): only i < j pairs enter, so reordering the mics
    changes which of R_ij / R_ji (and which coordinate order) psi sees."""
    torch.manual_seed(0)
    model = RelationNet()
    signals, pos, mask, extra = _gnn_batch(b=4)
    perm = torch.randperm(11, generator=torch.Generator().manual_seed(1))
    out = model(signals, pos, mask, extra)
    out_perm = model(signals[:, perm], pos[:, perm], mask[:, perm], extra)
    change = (out - out_perm).abs().max().item()
    print(f"GNN output change under a microphone permutation (random init): {change:.3e}")
    assert change > 1e-6


def test_gnn_backward_finite():
    torch.manual_seed(0)
    model = RelationNet(GnnParams(n_lags=629, extra_metadata=4))
    signals, pos, mask, _ = _gnn_batch(b=2)
    mask[1, :6] = False
    out = model(signals, pos, mask, torch.rand(2, 4))
    out.square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    with pytest.raises(ValueError, match="extra must be"):
        model(signals, pos, mask, torch.rand(2, 3))
