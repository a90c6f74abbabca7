"""Paper I heads, loss and decoding (spec dold_pointtnt.md §1.5-§1.7, §9.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from perloc.datasets.ordinal_data import LABEL_SPACES
from perloc.methods.ordinal import bins as B
from perloc.methods.ordinal.methods import DoldEqual, DoldOrdinal, DoldRandom, OrdinalParams, Rvc
from perloc.methods.ordinal.nets import (
    OrdinalNet,
    SmallCnn,
    label_diversity_loss,
    segment_log_softmax,
)


def test_segmented_log_softmax_equals_per_head_log_softmax():
    binset = B.BinSet((B.ordinal_groups(np.arange(5)),), (np.arange(5),))
    logits = torch.randn(4, binset.outputs, generator=torch.Generator().manual_seed(0)) * 5
    got = segment_log_softmax(logits, torch.as_tensor(binset.segment), len(binset.flat))
    for o, s in zip(binset.offsets, binset.sizes, strict=True):
        torch.testing.assert_close(got[:, o:o + s], torch.log_softmax(logits[:, o:o + s], 1))


def test_loss_of_uniform_outputs_is_the_sum_of_log_bin_counts():
    binset = B.BinSet((B.equal_width_centred(21, 60, 5, pad=True),), (np.arange(21, 61),))
    targets = np.array([[21.0], [40.0], [60.0]])
    index = torch.as_tensor(binset.encode(targets))
    loss = label_diversity_loss(torch.zeros(3, binset.outputs),
                                torch.as_tensor(binset.segment), len(binset.flat), index)
    assert math.isclose(float(loss), 5 * math.log(10), rel_tol=1e-6)


def test_a_confident_correct_head_set_has_near_zero_loss():
    binset = B.BinSet((B.ordinal_groups(np.arange(5)),), (np.arange(5),))
    index = binset.encode(np.array([[2.0]]))
    logits = torch.full((1, binset.outputs), -30.0)
    logits[0, torch.as_tensor(index[0])] = 30.0
    loss = label_diversity_loss(logits, torch.as_tensor(binset.segment), len(binset.flat),
                                torch.as_tensor(index))
    assert float(loss) < 1e-6


@pytest.mark.parametrize(("cls", "space", "heads", "outputs"), [
    (Rvc, "utkface", 1, 40), (DoldEqual, "utkface", 5, 50), (DoldRandom, "utkface", 30, 300),
    (DoldEqual, "biwi", 3, 150), (DoldRandom, "biwi", 30, 1200), (DoldOrdinal, "hci", 5, 13),
    (Rvc, "biwi", 1, 151)])
def test_each_method_builds_the_papers_head_layout(cls, space, heads, outputs):
    method = cls(OrdinalParams(backbone="cnn", width=4, trunk=8))
    method.build(LABEL_SPACES[space], seed=0)
    per_dim = method.binset.heads[0]
    assert len(per_dim) == heads and sum(p.size for p in per_dim) == outputs
    assert method.model.heads[0].out_features == outputs
    assert len(method.model.trunks) == len(LABEL_SPACES[space].dims)


def test_random_bins_are_redrawn_per_seed():
    def centres(seed: int) -> np.ndarray:
        method = DoldRandom(OrdinalParams(backbone="cnn", width=4, trunk=8))
        method.build(LABEL_SPACES["utkface"], seed)
        return method.binset.heads[0][0].values

    assert np.array_equal(centres(1), centres(1))
    assert not np.array_equal(centres(1), centres(2))


def test_hci_prediction_is_the_map_decade_of_the_marginal_posterior():
    method = DoldOrdinal(OrdinalParams(backbone="cnn", width=4, trunk=8))
    method.build(LABEL_SPACES["hci"], seed=0)
    truth = np.arange(5)[:, None].astype(float)
    index = method.binset.encode(truth)
    logits = torch.full((5, method.binset.outputs), -20.0)
    logits.scatter_(1, torch.as_tensor(index), 20.0)
    method.model.heads[0] = _Const(logits)  # the network emits those logits for any image
    estimate, members = method.estimates(np.zeros((5, 3, 16, 16), dtype=np.float32))
    assert estimate[:, 0].tolist() == [0, 1, 2, 3, 4]
    assert members.shape == (5, 1, 5)


class _Const(torch.nn.Module):
    def __init__(self, value: torch.Tensor) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value[:len(x)]


def test_small_cnn_and_trunks_give_one_output_block_per_dimension():
    net = OrdinalNet(SmallCnn(4), 8, (5, 7, 9))
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 21)
