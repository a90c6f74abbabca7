"""MHAtt-RNN: parameter counts, shapes, attention from the middle step, gradients and a tiny fit."""

from __future__ import annotations

import pytest
import torch

from perloc.methods.kws.mhatt_rnn_model import MhattRnn, MhattRnnParams
from tests.methods.kws.fit_helpers import (
    assert_finite_gradients,
    fit_two_classes,
)

SMALL = MhattRnnParams(conv_filters=4, rnn_units=16, heads=2, dense=16)


@pytest.mark.parametrize(("n_classes", "count"), [(12, 756_689), (35, 758_184)])
def test_parameter_counts_at_the_paper_config(n_classes, count):
    assert MhattRnn(MhattRnnParams(n_classes=n_classes)).parameter_count() == count


def test_logits_and_attention_shapes():
    torch.manual_seed(0)
    model = MhattRnn().eval()
    x = torch.randn(3, 98, 40)
    with torch.no_grad():
        assert model(x).shape == (3, 12)
        assert model.attention_weights(x).shape == (3, 4, 98)
        assert model.features(x).shape == (3, 4 * 256)


def test_attention_weights_sum_to_one_over_time():
    torch.manual_seed(0)
    model = MhattRnn(SMALL).eval()
    with torch.no_grad():
        weights = model.attention_weights(torch.randn(3, 98, 40))
    assert (weights >= 0).all()
    assert torch.allclose(weights.sum(-1), torch.ones(3, SMALL.heads), atol=1e-5)


def test_attention_queries_from_the_middle_step():
    """Only the GRU output at T // 2 feeds the queries: replacing it changes the weights the
    way a by-hand recomputation says."""
    torch.manual_seed(0)
    model = MhattRnn(SMALL).eval()
    x = torch.randn(2, 98, 40)
    with torch.no_grad():
        seq = model.sequence(x)
        query = model.queries(seq[:, 49]).view(2, SMALL.heads, -1)
        expected = torch.softmax(torch.einsum("bhd,btd->bht", query, seq), dim=-1)
        assert torch.allclose(model.attention_weights(x), expected, atol=1e-6)


def test_small_config_backward_gives_finite_gradients_everywhere():
    torch.manual_seed(0)
    assert_finite_gradients(MhattRnn(SMALL))


def test_eval_mode_is_deterministic():
    torch.manual_seed(0)
    model = MhattRnn(SMALL).eval()
    x = torch.randn(3, 98, 40)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_wrong_input_shape_is_rejected():
    with pytest.raises(ValueError, match="mfcc must be"):
        MhattRnn(SMALL)(torch.randn(2, 40, 98))


@pytest.mark.parametrize(("field", "value"), [("n_classes", 0), ("rnn_units", 1.5),
                                              ("heads", True), ("conv_kernel", -1),
                                              ("frames", 0)])
def test_bad_ints_are_rejected(field, value):
    with pytest.raises(ValueError, match=f"{field} must be an int >= 1"):
        MhattRnnParams(**{field: value})


@pytest.mark.parametrize("value", [-0.1, 1.0, "0.2", None])
def test_bad_dropout_is_rejected(value):
    with pytest.raises(ValueError, match="dropout must be a number in"):
        MhattRnnParams(dropout=value)


def test_small_config_fits_two_synthetic_classes():
    """100 % train accuracy within 60 Adam steps (checked every 2; stops once reached)."""
    torch.manual_seed(0)
    assert fit_two_classes(MhattRnn(SMALL)) == 1.0
