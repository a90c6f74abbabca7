from dataclasses import replace

import pytest
import torch

from perloc.methods.ssl.wav2pos_model import (
    Wav2pos,
    Wav2posOutput,
    Wav2posParams,
    random_mask,
)
from perloc.methods.tdoa.ngcc import NGCCPHAT, NgccParams

N, TAU = 256, 20
TINY = Wav2posParams(sig_len=N, embed_dim=32, depth=1, heads=4, decoder_dim=32,
                     decoder_depth=1, decoder_heads=4, coord_hidden=16, tdoa_hidden=32,
                     head_hidden=(32, 16), max_tau=TAU)
TINY_NGCC = NgccParams(sig_len=N, max_tau=TAU, channels=4, corr_channels=4, head_channels=4,
                       sinc_kernel=31)


def _model(params: Wav2posParams = TINY, seed: int = 0) -> Wav2pos:
    torch.manual_seed(seed)
    ngcc = NGCCPHAT(TINY_NGCC) if params.use_tdoa and params.tdoa_source == "ngcc" else None
    return Wav2pos(params, ngcc).eval()


def _batch(b: int, m: int, seed: int = 0, source: bool = True):
    g = torch.Generator().manual_seed(seed)
    coord_known, audio_known, source_known = random_mask(b, m, g)
    signals = torch.randn(b, m, N, generator=g)
    mic_pos = torch.randn(b, m, 3, generator=g).masked_fill(~coord_known[..., None], float("nan"))
    src = torch.randn(b, N, generator=g) if source else None
    return signals, mic_pos, coord_known, audio_known, src, source_known if source else None


def _rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- parameters ------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(embed_dim=30), dict(depth=0), dict(max_tau=2048),
                                dict(tdoa_source="srp"), dict(global_pool="sum"),
                                dict(head_hidden=(0,)), dict(use_tdoa=1), dict(mlp_ratio=0)])
def test_params_validation(kw):
    with pytest.raises(ValueError):
        Wav2posParams(**kw)


def test_paper_config_parameter_count():
    ngcc = NGCCPHAT(NgccParams(max_tau=314))
    model = Wav2pos(Wav2posParams(), ngcc)
    ngcc_n = sum(q.numel() for q in ngcc.parameters())
    own, total = model.parameter_count(), model.parameter_count_with_ngcc()
    print(f"\nwav2pos paper config: {own:,} trainable + NGCC {ngcc_n:,} = {total:,} parameters")
    assert ngcc_n == 888_193 and total == own + ngcc_n
    assert 9.0e6 <= total <= 12.0e6
    assert all(not q.requires_grad for q in ngcc.parameters())


def test_set_ngcc_checks():
    with pytest.raises(ValueError, match="max_tau"):
        Wav2pos(TINY, NGCCPHAT(NgccParams(sig_len=N, max_tau=5, channels=4, corr_channels=4,
                                          head_channels=4, sinc_kernel=31)))
    with pytest.raises(ValueError):
        Wav2pos(replace(TINY, tdoa_source="gcc"), NGCCPHAT(TINY_NGCC))
    with pytest.raises(RuntimeError, match="NGCCPHAT"):
        Wav2pos(TINY).eval()(*_batch(2, 6))


# -- invariances -----------------------------------------------------------------------------
def test_permutation_equivariance():
    model = _model()
    signals, mic_pos, coord_known, audio_known, src, source_known = _batch(4, 9, seed=1)
    perm = torch.randperm(9, generator=_rng(3))
    with torch.no_grad():
        out = model(signals, mic_pos, coord_known, audio_known, src, source_known)
        out_p = model(signals[:, perm], mic_pos[:, perm], coord_known[:, perm],
                      audio_known[:, perm], src, source_known)
    torch.testing.assert_close(out_p.source, out.source, atol=1e-5, rtol=0)
    torch.testing.assert_close(out_p.mics, out.mics[:, perm], atol=1e-5, rtol=0)
    torch.testing.assert_close(out_p.audio[:, 1:], out.audio[:, 1:][:, perm], atol=1e-5, rtol=0)


def test_variable_number_of_mics_same_weights():
    model = _model()
    for m in (5, 7, 9, 11):
        with torch.no_grad():
            out = model(*_batch(3, m, seed=m))
        assert isinstance(out, Wav2posOutput)
        assert out.source.shape == (3, 3) and out.mics.shape == (3, m, 3)
        assert out.audio.shape == (3, m + 1, N) and out.audio_mask.shape == (3, m + 1)
        assert all(torch.isfinite(t).all() for t in (out.source, out.mics, out.audio))


@pytest.mark.parametrize("train", [False, True])
def test_masked_tokens_do_not_influence(train):
    model = _model().train(train)
    signals, mic_pos, coord_known, audio_known, src, source_known = _batch(4, 11, seed=2)
    source_known[:2] = False
    assert (~coord_known).any() and (~audio_known).any()
    with torch.no_grad():
        ref = model(signals, mic_pos, coord_known, audio_known, src, source_known).source
        signals2, mic_pos2, src2 = signals.clone(), mic_pos.clone(), src.clone()
        signals2[~audio_known] = 100 * torch.randn_like(signals2[~audio_known])
        mic_pos2[~coord_known] = torch.randn_like(mic_pos2[~coord_known])
        src2[~source_known] = float("nan")
        out = model(signals2, mic_pos2, coord_known, audio_known, src2, source_known).source
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)


# -- TDOA module -----------------------------------------------------------------------------
class _Counter:
    def __init__(self, module):
        self.rows = 0
        module.register_forward_hook(self)

    def __call__(self, module, inputs, output):
        self.rows += inputs[0].shape[0]


@pytest.mark.parametrize("source", [False, True])
def test_ngcc_filter_runs_once_per_channel(source):
    model = _model()
    b, m = 3, 11
    signals, mic_pos, _, _, src, _ = _batch(b, m, seed=4)
    known = torch.ones(b, m, dtype=torch.bool)
    filt, head = _Counter(model.ngcc.backbone), _Counter(model.ngcc.final_conv)
    with torch.no_grad():
        model(signals, mic_pos, known, known, src if source else None)
    channels = m + 1 if source else m
    assert filt.rows == b * channels
    assert head.rows == b * channels * (channels - 1)  # 110 ordered pairs for 11 mics


def test_ngcc_pairs_follow_per_example_masks():
    model = _model()
    signals, mic_pos, coord_known, audio_known, src, source_known = _batch(5, 11, seed=5)
    filt, head = _Counter(model.ngcc.backbone), _Counter(model.ngcc.final_conv)
    with torch.no_grad():
        model(signals, mic_pos, coord_known, audio_known, src, source_known)
    present = torch.cat([source_known[:, None], audio_known], 1)
    k = present.sum(1)
    assert filt.rows == 5 * int(present.any(0).sum())
    assert head.rows == int((k * (k - 1)).sum())


def test_pair_correlations_match_pairwise_ngcc():
    model = _model()
    audio = torch.randn(2, 4, N, generator=_rng(6))
    pairs = torch.tensor([[0, 1], [1, 0], [2, 3], [3, 1]])
    valid = torch.tensor([[True, True, False, True], [False, True, True, True]])
    corr = model.pair_correlations(audio, pairs, valid)
    bi, pi = torch.nonzero(valid, as_tuple=True)
    with torch.no_grad():
        direct = model.ngcc(audio[bi, pairs[pi, 0]], audio[bi, pairs[pi, 1]])
    torch.testing.assert_close(corr, direct, atol=1e-4, rtol=1e-4)
    model.gcc_autograd_path = True  # the path taken off CPU
    torch.testing.assert_close(model.pair_correlations(audio, pairs, valid), corr,
                               atol=1e-4, rtol=1e-4)


def test_fewer_than_two_audio_tokens_gives_zero_q():
    model = _model()
    signals, mic_pos, _, _, _, _ = _batch(2, 6, seed=7)
    coord_known = torch.ones(2, 6, dtype=torch.bool)
    audio_known = torch.zeros(2, 6, dtype=torch.bool)
    audio_known[0, 2] = True
    head = _Counter(model.ngcc.final_conv)
    with torch.no_grad():
        out = model(signals, mic_pos, coord_known, audio_known)
        coord_out = torch.zeros(2, 7, TINY.decoder_dim)
        audio = torch.randn(2, 7, N)
        q = model._tdoa(audio, torch.cat([audio_known[:, :1], audio_known], 1), coord_out)
    assert head.rows == 0 and torch.isfinite(out.source).all()
    assert torch.equal(q, torch.zeros_like(q))


@pytest.mark.parametrize("kw", [dict(tdoa_source="gcc"), dict(use_tdoa=False),
                                dict(pairwise_encoding=False, global_pool="mean")])
def test_variants_run(kw):
    model = _model(replace(TINY, **kw))
    out = model.train()(*_batch(4, 7, seed=8))
    assert torch.isfinite(out.source).all() and out.mics.shape == (4, 7, 3)


# -- masking and loss ------------------------------------------------------------------------
@pytest.mark.parametrize("m", [5, 7, 9, 11, 12])
def test_random_mask_constraints(m):
    coord_known, audio_known, source_known = random_mask(4000, m, _rng(m))
    lo, hi = min(8, m), min(11, m)
    n_c, n_a = coord_known.sum(1), audio_known.sum(1)
    assert ((n_c >= lo) & (n_c <= hi) & (n_a >= lo) & (n_a <= hi)).all()
    assert ((coord_known & audio_known).sum(1) >= min(5, m)).all()
    assert (coord_known | audio_known).all()  # never both masked
    assert 0.45 < source_known.float().mean() < 0.55
    if m == 11:  # every (n_c, n_a) in [8, 11]^2 occurs, every mic gets masked sometimes
        assert len(set(zip(n_c.tolist(), n_a.tolist(), strict=True))) == 16
        assert (~coord_known).any(0).all() and (~audio_known).any(0).all()
    with pytest.raises(ValueError):
        random_mask(2, m, _rng(), keep=(1, 2))


def test_loss_backward_and_frozen_ngcc():
    model = _model().train()
    assert not model.ngcc.training and model.training
    signals, mic_pos, coord_known, audio_known, src, source_known = _batch(6, 11, seed=9)
    g = _rng(10)
    out = model(signals, mic_pos, coord_known, audio_known, src, source_known)
    clean = torch.randn(6, 12, N, generator=g)
    clean[:, 0][~source_known] = float("nan")  # absent source audio is never a target
    losses = model.loss(out, torch.randn(6, 3, generator=g), torch.randn(6, 11, 3, generator=g),
                        clean)
    assert all(torch.isfinite(v) for v in losses) and losses.mic > 0
    losses.total.backward()
    assert all(q.grad is None for q in model.ngcc.parameters())
    grads = [q.grad for n, q in model.named_parameters() if not n.startswith("ngcc.")]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)
    assert model.parameter_count() == sum(q.numel() for q in grads)
    model.eval().train()
    assert not model.ngcc.training and model.ngcc.backbone.bn[0].training is False


def test_loss_skips_mic_term_without_masked_mics():
    model = _model()
    signals, mic_pos, _, _, _, _ = _batch(2, 6, seed=11)
    known = torch.ones(2, 6, dtype=torch.bool)
    out = model(signals, mic_pos, known, known)
    losses = model.loss(out, torch.zeros(2, 3), torch.full((2, 6, 3), float("nan")),
                        torch.randn(2, 7, N))
    assert losses.mic == 0 and torch.isfinite(losses.total)
    losses.total.backward()
