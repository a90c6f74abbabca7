"""Each learned localizer trains with its publication's optimiser (spec tdoa_ssl.md 4.8, 7.1,
7.2): wav2pos AdamW with weight decay 0.1 on weight matrices only and a warm-up; DI-NN and GNN
Adam with their MultiStepLR milestones scaled to the run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from perloc.bench.core.protocols import FitContext
from perloc.methods.ssl.baselines import DiNN, DinnMethodParams, Gnn, GnnMethodParams
from perloc.methods.ssl.wav2pos import Wav2posMethod, Wav2posMethodParams
from perloc.methods.training import make_optimizer

CTX = FitContext(checkpoint=Path("unused.pt"), seed=0, epochs=20, steps_per_epoch=10,
                 batch_size=8, lr=1.0)


def _factors(method, steps):
    optimizer, schedule, per = make_optimizer(method.model, CTX, method.optimization(CTX))
    assert per == "step"
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return out


def test_wav2pos_decays_weight_matrices_only_and_warms_up():
    method = Wav2posMethod(Wav2posMethodParams(embed_dim=32, depth=1, heads=2, decoder_dim=32,
                                               decoder_depth=1, decoder_heads=2,
                                               tdoa_source="gcc"))
    optimizer, _, _ = make_optimizer(method.model, CTX, method.optimization(CTX))
    assert isinstance(optimizer, torch.optim.AdamW)
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 0.1
               for p in g["params"]}
    for name, p in method.model.named_parameters():
        assert (id(p) in decayed) == (p.ndim >= 2), name  # tokens, biases, norms: no decay
    lrs = _factors(method, 200)
    warm = round(5 / 30 * 200)  # [R-w2p]: 5 warm-up epochs of 30
    assert lrs[0] == 0.0 and lrs[warm // 2] == pytest.approx(0.5 * lrs[warm], rel=0.05)
    assert max(lrs) == pytest.approx(lrs[warm], rel=1e-3) and lrs[-1] < 0.01


def test_dinn_and_gnn_follow_their_milestones():
    dinn = _factors(DiNN(DinnMethodParams(mics=(5,), channels=(4, 4, 4, 4), gru_hidden=4)), 200)
    # MultiStepLR [3, 8] of 20 epochs x 0.5: 30 steps at 1, 50 at 0.5, then 0.25
    assert dinn[29] == 1.0 and dinn[30] == 0.5 and dinn[79] == 0.5 and dinn[80] == 0.25
    gnn = _factors(Gnn(GnnMethodParams(width=8)), 200)
    # [1, 3, 20] of 100 epochs: 2 steps at 1, 4 at 0.5, 34 at 0.25, then 0.125
    assert gnn[1] == 1.0 and gnn[2] == 0.5 and gnn[6] == 0.25 and gnn[40] == 0.125
    for method in (DiNN(DinnMethodParams(mics=(5,), channels=(4, 4, 4, 4), gru_hidden=4)),
                   Gnn(GnnMethodParams(width=8))):
        optimizer, _, _ = make_optimizer(method.model, CTX, method.optimization(CTX))
        assert type(optimizer) is torch.optim.Adam
