"""DS-CNN: parameter counts, 'same' padding, shapes, gradients and a tiny fit."""

from __future__ import annotations

import pytest
import torch

from perloc.methods.kws.ds_cnn_model import DsCnn, DsCnnParams, same_padding
from tests.methods.kws.fit_helpers import (
    assert_finite_gradients,
    fit_two_classes,
)

SMALL = DsCnnParams(filters=16, blocks=2)


@pytest.mark.parametrize(("n_classes", "count"), [(12, 414_012), (35, 420_383)])
def test_parameter_counts_at_the_ds_cnn_l_config(n_classes, count):
    assert DsCnn(DsCnnParams(n_classes=n_classes)).parameter_count() == count


def test_tensorflow_same_padding():
    assert same_padding(98, 10, 2) == (4, 4)
    assert same_padding(40, 4, 1) == (1, 2)
    assert same_padding(49, 3, 2) == (1, 1)
    assert same_padding(5, 1, 3) == (0, 0)


def test_feature_map_sizes_and_logits_shape():
    torch.manual_seed(0)
    model = DsCnn().eval()
    x = torch.randn(3, 98, 40)
    with torch.no_grad():
        assert model.stem(x.unsqueeze(1)).shape == (3, 276, 49, 40)
        assert model.blocks(model.stem(x.unsqueeze(1))).shape == (3, 276, 25, 20)
        assert model(x).shape == (3, 12)
        assert torch.equal(model(x), model(x.unsqueeze(1)))


def test_small_config_backward_gives_finite_gradients_everywhere():
    torch.manual_seed(0)
    assert_finite_gradients(DsCnn(SMALL))


def test_eval_mode_is_deterministic():
    torch.manual_seed(0)
    model = DsCnn(DsCnnParams(filters=16, blocks=2, dropout=0.5)).eval()
    x = torch.randn(3, 98, 40)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_wrong_input_shape_is_rejected():
    with pytest.raises(ValueError, match="mfcc must be"):
        DsCnn(SMALL)(torch.randn(2, 40, 98))


@pytest.mark.parametrize(("field", "value"), [("n_classes", 0), ("filters", 2.0),
                                              ("blocks", False), ("frames", -3)])
def test_bad_ints_are_rejected(field, value):
    with pytest.raises(ValueError, match=f"{field} must be an int >= 1"):
        DsCnnParams(**{field: value})


@pytest.mark.parametrize(("field", "value", "message"), [
    ("first_kernel", (10,), "first_kernel must be a tuple"),
    ("first_kernel", [10, 4], "first_kernel must be a tuple"),
    ("first_kernel", (10, 0), r"first_kernel\[1\] must be an int >= 1"),
    ("first_stride", (1.5, 1), r"first_stride\[0\] must be an int >= 1"),
    ("dropout", 1.0, "dropout must be a number in"),
    ("dropout", -0.5, "dropout must be a number in"),
])
def test_bad_shapes_and_dropout_are_rejected(field, value, message):
    with pytest.raises(ValueError, match=message):
        DsCnnParams(**{field: value})


def test_small_config_fits_two_synthetic_classes():
    """100 % train accuracy within 60 Adam steps (checked every 2; stops once reached)."""
    torch.manual_seed(0)
    assert fit_two_classes(DsCnn(SMALL)) == 1.0
