"""Federated training sets: the crop-and-flip augmentation, normalisation, setups."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from perloc.bench.core.errors import UserError
from perloc.datasets.fl_data import SETUPS, crop_flip, normalise_images, setup_named


def test_crop_without_padding_is_the_image_or_its_mirror():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    out = crop_flip(x, torch.Generator().manual_seed(0), pad=0)
    for i in range(2):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))


def test_crop_is_a_shifted_window_of_the_zero_padded_image():
    x = torch.rand(64, 1, 6, 6) + 1.0  # no zeros inside the image
    out = crop_flip(x, torch.Generator().manual_seed(1), pad=2)
    assert out.shape == x.shape
    flips = shifts = 0
    for i in range(64):
        padded = torch.nn.functional.pad(x[i], (2, 2, 2, 2))
        found = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                 if torch.equal(out[i], (padded[:, dy:dy + 6, dx:dx + 6].flip(-1) if f
                                         else padded[:, dy:dy + 6, dx:dx + 6]))]
        assert found, i
        flips += found[0][2]
        shifts += (found[0][0], found[0][1]) != (2, 2)
    assert 16 < flips < 48 and shifts > 40  # both kinds of draw happen


def test_normalisation_by_hand():
    images = np.full((1, 3, 2, 2), 255, np.uint8)
    out = normalise_images(images, ((0.5, 0.0, 1.0), (0.25, 0.5, 1.0)))
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([2.0, 2.0, 0.0]))


def test_setups_and_unknown_names():
    assert SETUPS["cifar10-dir0.3"].alpha == 0.3 and SETUPS["gsc-speaker"].modality == "audio"
    with pytest.raises(UserError, match="unknown federated setup 'mnist'"):
        setup_named("mnist")
