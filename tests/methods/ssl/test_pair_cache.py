"""The frozen-NGCC pair cache: rows equal what the NGCC computes, each pair computed once,
rows shared wherever the same two channels meet, persisted, and never served across NGCCs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from perloc.methods.layers.gcc import ordered_pairs
from perloc.methods.ssl.pair_cache import PairCache

L = 16


class Recorder:
    """A stand-in for the NGCC: row (b, i, j) = 2 x_i[:L] + x_j[:L] (a known answer that tells
    channel order apart); counts the rows it was asked for."""

    def __init__(self) -> None:
        self.rows = 0

    def __call__(self, audio, pairs, valid):
        bi, pi = torch.nonzero(valid, as_tuple=True)
        self.rows += len(bi)
        return 2 * audio[bi, pairs[pi, 0], :L] + audio[bi, pairs[pi, 1], :L]


def _expected(audio, pairs, valid):
    out = []
    for b in range(valid.shape[0]):
        for p in range(valid.shape[1]):
            if valid[b, p]:
                i, j = pairs[p].tolist()
                out.append(2 * audio[b, i, :L] + audio[b, j, :L])
    return torch.stack(out)


def _case(seed=0, b=3, c=4, n=64):
    gen = torch.Generator().manual_seed(seed)
    audio = torch.randn(b, c, n, generator=gen)
    pairs = ordered_pairs(c)
    valid = torch.rand(b, len(pairs), generator=gen) < 0.7
    return audio, pairs, valid


def test_rows_are_the_computed_rows_and_a_second_call_computes_nothing():
    audio, pairs, valid = _case()
    cache, compute = PairCache(L), Recorder()
    first = cache.rows(audio, pairs, valid, compute)
    want = _expected(audio, pairs, valid)
    assert torch.allclose(first, want, atol=1e-2, rtol=1e-3)
    assert compute.rows == int(valid.sum()) and len(cache) == int(valid.sum())
    again = cache.rows(audio, pairs, valid, compute)
    assert compute.rows == int(valid.sum()) and torch.equal(first, again)
    assert cache.hits == int(valid.sum())


def test_the_same_two_channels_share_a_row_wherever_they_meet():
    audio, pairs, _ = _case(b=1)
    valid = torch.ones(1, len(pairs), dtype=torch.bool)
    cache, compute = PairCache(L), Recorder()
    cache.rows(audio, pairs, valid, compute)
    moved = torch.cat([audio, audio[:, [2, 0, 3, 1]]], 0)  # a second example: channels permuted
    out = cache.rows(moved, pairs, torch.ones(2, len(pairs), dtype=torch.bool), compute)
    assert compute.rows == len(pairs)  # nothing new: every ordered pair was seen before
    assert torch.allclose(out, _expected(moved, pairs, torch.ones(2, len(pairs)).bool()),
                          atol=1e-2, rtol=1e-3)


def test_rows_persist_and_a_damaged_file_is_rebuilt(tmp_path, caplog):
    audio, pairs, valid = _case(seed=3)
    path = tmp_path / "rows.h5"
    cache = PairCache(L, path)
    first = cache.rows(audio, pairs, valid, Recorder())
    assert cache.save() == int(valid.sum()) and cache.save() == 0
    reloaded, compute = PairCache(L, path), Recorder()
    assert torch.equal(reloaded.rows(audio, pairs, valid, compute), first)
    assert compute.rows == 0
    path.write_bytes(b"not hdf5 at all")
    fresh, compute = PairCache(L, path), Recorder()
    assert len(fresh) == 0 and "unreadable NGCC pair cache" in caplog.text
    fresh.rows(audio, pairs, valid, compute)
    assert compute.rows == int(valid.sum())


def test_past_the_cap_rows_are_returned_but_not_kept():
    audio, pairs, valid = _case(seed=5)
    cache, compute = PairCache(L, max_bytes=2 * L * 4), Recorder()  # room for four rows
    out = cache.rows(audio, pairs, valid, compute)
    assert len(cache) == 4
    assert torch.allclose(out, _expected(audio, pairs, valid), atol=1e-2, rtol=1e-3)


def test_wav2pos_outputs_with_the_cache_match_the_plain_ngcc():
    from perloc.methods.ssl.wav2pos import Wav2posMethod, Wav2posMethodParams

    params = Wav2posMethodParams(embed_dim=32, depth=1, heads=2, decoder_dim=32,
                                 decoder_depth=1, decoder_heads=2, coord_hidden=16,
                                 tdoa_hidden=32, head_hidden=(32, 16), ngcc_channels=4,
                                 ngcc_sinc_kernel=127, max_tau=40)
    torch.manual_seed(0)
    method = Wav2posMethod(params)
    net = method.model.net.eval()
    assert net.pair_cache is not None
    gen = torch.Generator().manual_seed(1)
    args = dict(signals=torch.randn(4, 6, 2048, generator=gen),
                mic_pos=torch.randn(4, 6, 3, generator=gen),
                coord_known=torch.ones(4, 6, dtype=torch.bool),
                audio_known=torch.ones(4, 6, dtype=torch.bool),
                source_signal=torch.randn(4, 2048, generator=gen),
                source_known=torch.tensor([True, False, True, False]))
    with torch.no_grad():
        cached = net(**args).source
        net.pair_cache = None
        plain = net(**args).source
    assert torch.allclose(cached, plain, atol=1e-3, rtol=1e-2)
    # new NGCC weights (a loaded checkpoint) never see the old rows
    old = method.model.net.pair_cache
    method.load_state_dict(method.state_dict())
    assert method.model.net.pair_cache is not old and len(method.model.net.pair_cache) == 0


@pytest.mark.parametrize("pool", [0, 24])
def test_a_pool_trains_on_fixed_windows(luvira_smoke, pool):
    from perloc.datasets.luvira import Luvira
    from perloc.datasets.ssl_luvira import LuviraTrainConfig, LuviraTraining

    training = LuviraTraining(Luvira(luvira_smoke), LuviraTrainConfig(augment=None, pool=pool))
    a = training.batch(40, np.random.default_rng(1))["signals"]
    b = training.batch(40, np.random.default_rng(2))["signals"]
    distinct = {row.tobytes() for row in np.concatenate([a, b])}
    if pool:  # 80 draws from 24 frozen windows: repeats, and nothing outside the pool
        assert len(distinct) <= pool
        assert distinct <= {row.tobytes() for row in training._pool["signals"]}
    else:  # fresh shift and noise on every draw
        assert len(distinct) == 80
