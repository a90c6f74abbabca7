import numpy as np
import pytest
import torch

from perloc.methods.layers.gcc import (
    GCCParams,
    all_pairs,
    estimate_all_pairs,
    estimate_tdoa,
    gcc,
    ordered_pairs,
)

N, TAU = 1024, 23


def _delayed_array(rng, delays, n=N, pad=64):
    """Channel c is a common source delayed by ``delays[c]`` samples (exact, by slicing)."""
    src = rng.standard_normal(n + 2 * pad)
    return np.stack([src[pad - d : pad - d + n] for d in delays]).astype(np.float32)


def _reference(x1, x2, weighting, eps=1e-3, tau=TAU, n_fft=None):
    n = n_fft or 2 * len(x1)
    x1_f, x2_f = np.fft.rfft(x1.astype(np.float64), n), np.fft.rfft(x2.astype(np.float64), n)
    cross = x1_f * np.conj(x2_f)
    weight = {
        "phat": 1 / (np.abs(cross) + eps),
        "scot": 1 / (np.sqrt(np.abs(x1_f) ** 2 * np.abs(x2_f) ** 2) + eps),
        "roth": 1 / (np.abs(x2_f) ** 2 + eps),
        "cc": 1.0,
    }[weighting]
    cc = np.fft.irfft(cross * weight, n)
    return np.concatenate([cc[-tau:], cc[: tau + 1]])


@pytest.mark.parametrize("weighting", ["phat", "scot", "roth", "cc"])
def test_recovers_integer_delays_all_pairs(weighting):
    rng = np.random.default_rng(1)
    frames, truth = [], []
    for _ in range(16):
        delays = rng.integers(-11, 12, size=4)  # pairwise differences within [-22, 22]
        frames.append(_delayed_array(rng, delays))
        truth.append(delays)
    truth = np.array(truth)
    tau, pairs = estimate_all_pairs(np.stack(frames), GCCParams(weighting=weighting))
    assert tau.dtype == torch.long and tau.shape == (16, 6)
    expected = truth[:, pairs[:, 0]] - truth[:, pairs[:, 1]]
    np.testing.assert_array_equal(tau.numpy(), expected)


def test_recovers_extreme_delays():
    rng = np.random.default_rng(2)
    delays = [-23, 23, 0, 17, -5, -23]
    x = np.stack([_delayed_array(rng, [d, 0]) for d in delays])
    np.testing.assert_array_equal(estimate_tdoa(gcc(x))[:, 0].numpy(), delays)


@pytest.mark.parametrize("weighting", ["phat", "scot", "roth", "cc"])
@pytest.mark.parametrize("max_tau,n_fft", [(23, None), (200, None), (40, 1500)])
def test_matches_numpy_per_pair_reference(weighting, max_tau, n_fft):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, N)).astype(np.float32)
    params = GCCParams(weighting=weighting, max_tau=max_tau, n_fft=n_fft)
    pairs = ordered_pairs(4)
    out = gcc(x, pairs, params).numpy()
    assert out.shape == (3, 12, 2 * max_tau + 1) and out.dtype == np.float32
    for b in range(3):
        for k, (i, j) in enumerate(pairs.tolist()):
            ref = _reference(x[b, i], x[b, j], weighting, tau=max_tau, n_fft=n_fft)
            np.testing.assert_allclose(out[b, k], ref, rtol=0, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("weighting", ["phat", "roth"])
def test_pair_subsets_reversed_and_repeated(weighting):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 5, 300)).astype(np.float32)
    pairs = [[0, 3], [2, 1], [3, 0], [0, 3], [4, 1], [1, 2]]  # partners of 0: {3}, non-contiguous
    out = gcc(x, pairs, GCCParams(weighting=weighting)).numpy()
    for b in range(2):
        for k, (i, j) in enumerate(pairs):
            ref = _reference(x[b, i], x[b, j], weighting)
            np.testing.assert_allclose(out[b, k], ref, rtol=0, atol=1e-4 * np.abs(ref).max())


def test_autograd_path_matches_and_backpropagates():
    x = torch.randn(2, 3, 256, generator=torch.Generator().manual_seed(10))
    fast = gcc(x, ordered_pairs(3))
    xg = x.clone().requires_grad_(True)
    slow = gcc(xg, ordered_pairs(3))
    torch.testing.assert_close(slow.detach(), fast, rtol=0, atol=1e-4 * float(fast.abs().max()))
    slow.square().sum().backward()
    assert xg.grad is not None and bool(torch.isfinite(xg.grad).all())


def test_sign_convention_positive_when_first_lags():
    rng = np.random.default_rng(4)
    x = _delayed_array(rng, [7, 0])  # x1[n] = x2[n - 7]
    np.testing.assert_array_equal(np.asarray(x[0, 7:]), np.asarray(x[1, :-7]))
    corr = gcc(x[None])
    assert corr.shape == (1, 1, 2 * TAU + 1)
    assert int(corr[0, 0].argmax()) - TAU == 7
    assert int(estimate_tdoa(gcc(x[None], [[1, 0]]))[0, 0]) == -7


def test_ordered_pair_flip():
    x = torch.randn(2, 4, N, generator=torch.Generator().manual_seed(5))
    pairs = ordered_pairs(4)
    out = gcc(x, pairs)
    index = {tuple(p): k for k, p in enumerate(pairs.tolist())}
    for (i, j), k in index.items():
        torch.testing.assert_close(out[:, k], out[:, index[(j, i)]].flip(-1))
    tau, got_pairs = estimate_all_pairs(x, ordered=True)
    assert got_pairs.shape == (12, 2) and torch.equal(got_pairs, pairs)
    assert torch.equal(tau[:, 0], -tau[:, index[(1, 0)]])


def test_pair_helpers():
    assert all_pairs(3).tolist() == [[0, 1], [0, 2], [1, 2]]
    assert ordered_pairs(3).tolist() == [[0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1]]
    assert all_pairs(11).shape == (55, 2) and ordered_pairs(11).shape == (110, 2)


def test_circular_shift_equivariance():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 256)).astype(np.float32)
    params = GCCParams(max_tau=20, n_fft=256)
    base = gcc(x, params=params)
    shifted = gcc(np.roll(x, 37, axis=-1), params=params)
    torch.testing.assert_close(base, shifted, rtol=0, atol=1e-4 * float(base.abs().max()))


def test_chunking_does_not_change_result(monkeypatch):
    import perloc.methods.layers.gcc as gcc_module

    x = torch.randn(5, 6, 300, generator=torch.Generator().manual_seed(7))
    full = gcc(x)
    monkeypatch.setattr(gcc_module, "CHUNK_BYTES", 3 * 8 * 301)  # 3 pair-frames per chunk
    torch.testing.assert_close(gcc(x), full)


def test_inference_mode_and_tensor_input():
    x = torch.randn(2, 3, 512, generator=torch.Generator().manual_seed(8))
    with torch.inference_mode():
        out = gcc(x)
    torch.testing.assert_close(out, gcc(x.double().numpy()))


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"weighting": "foo"}, "weighting"),
        ({"eps": -1.0}, "eps"),
        ({"eps": float("nan")}, "eps"),
        ({"max_tau": -1}, "max_tau"),
        ({"max_tau": 2.5}, "max_tau"),
        ({"n_fft": 0}, "n_fft"),
    ],
)
def test_param_validation(kwargs, field):
    with pytest.raises(ValueError, match=field):
        GCCParams(**kwargs)


def test_input_validation():
    x = np.zeros((1, 3, 64), dtype=np.float32)
    with pytest.raises(ValueError, match="shape"):
        gcc(x[0])
    with pytest.raises(ValueError, match="pairs"):
        gcc(x, [[0, 3]])
    with pytest.raises(ValueError, match="pairs"):
        gcc(x, [[1, 1]])
    with pytest.raises(ValueError, match="n_fft"):
        gcc(x, params=GCCParams(max_tau=23, n_fft=40))
