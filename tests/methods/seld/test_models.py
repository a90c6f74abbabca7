"""SELD networks: output layout, Paper VI's parameter counts, the NGCC features' lag sign, and
the baseline's decoding rules worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from perloc.methods.seld.cst_former import CstFormer, CstFormerParams, parameter_count
from perloc.methods.seld.decode import decode, decode_frame_class
from perloc.methods.seld.ngcc_features import LagProjection, NgccSeld
from perloc.methods.seld.seldnet import Seldnet, accdoa_view


def test_the_156_outputs_are_track_value_class():
    flat = torch.arange(156.0)[None, None]
    view = accdoa_view(flat, 13)
    assert view[0, 0, 1, 0, 0] == 52 and view[0, 0, 0, 1, 0] == 13  # track 1 / y at +13
    assert view[0, 0, 2, 3, 12] == 2 * 52 + 39 + 12  # track 2, distance of class 12


@pytest.mark.parametrize("channels, bins, size, count", [
    (10, 64, "small", 550_000), (7, 382, "small-salsa", 530_000), (10, 64, "large", 1_370_000)])
def test_cst_former_sizes_match_paper_vi_table_1(channels, bins, size, count):
    n = parameter_count(CstFormer(channels, bins, p=CstFormerParams(size=size)))
    assert abs(n - count) / count < 0.005


def test_ngcc_ms_adds_what_paper_vi_says():
    # Table 1: 663K for NGCC + MS Small: the first conv's 90 extra channels, NGCC, lag MLP
    backbone = parameter_count(CstFormer(100, 64))
    extractor = NgccSeld()
    ngcc = parameter_count(extractor) - parameter_count(extractor.tdoa_head)
    total = backbone + ngcc + parameter_count(LagProjection(13))
    assert abs(total - 663_000) / 663_000 < 0.005


@pytest.mark.parametrize("net", [lambda: Seldnet(10, 64), lambda: CstFormer(10, 64)])
def test_networks_map_5_s_of_features_to_50_label_frames(net):
    out = net()(torch.randn(2, 10, 250, 64))
    assert out.shape == (2, 50, 3, 4, 13)


def test_ngcc_features_peak_at_the_delay_of_the_first_microphone():
    # mic 1 hears the noise 3 samples after mics 2-4: pairs (1, j) put the GCC peak at +3
    torch.manual_seed(0)
    model = NgccSeld().eval()
    noise = torch.randn(1, 4800 + 3)
    audio = torch.cat([noise[:, :4800], noise[:, 3:].expand(3, -1)])[None]
    x = audio.reshape(1, 4, 10, 480).permute(0, 2, 1, 3).reshape(10, 4, 480)
    from perloc.methods.layers.gcc import gcc
    corr = gcc(x, model.pairs, model.gcc_params)
    assert (corr[:, :3].argmax(-1) - 6 == 3).float().mean() > 0.8  # pairs (1,2), (1,3), (1,4)
    with torch.no_grad():
        feats = model.features(audio)
    assert feats.shape == (1, 6, 16, 10, 13)
    logits = NgccSeld().tdoa_logits(audio[..., :4800])
    assert logits.shape == (1, 2, 6, 3, 13)  # 2 label frames, 6 pairs, K = 3 tracks


def _tracks(*rows):
    out = np.zeros((3, 4))
    for k, row in enumerate(rows):
        out[k] = row
    return out


def _unit(deg, d=1.0):
    return (np.cos(np.radians(deg)), np.sin(np.radians(deg)), 0.0, d)


def test_decoding_rules_by_hand():
    assert decode_frame_class(_tracks((0.4, 0, 0, 1))) == []  # norm 0.4: inactive
    (event,) = decode_frame_class(_tracks((0.9, 0, 0, -2)))
    assert event.tolist() == [0.9, 0, 0, 0]  # negative distance clipped
    (mean,) = decode_frame_class(_tracks(_unit(0, 1.0), _unit(10, 3.0)))  # 10 deg: one event
    np.testing.assert_allclose(mean[3], 2.0)
    assert len(decode_frame_class(_tracks(_unit(0), _unit(30)))) == 2  # 30 deg: two events
    pair_and_third = decode_frame_class(_tracks(_unit(0), _unit(10), _unit(90)))
    assert len(pair_and_third) == 2 and pair_and_third[1][1] == pytest.approx(1.0)
    assert len(decode_frame_class(_tracks(_unit(0), _unit(8), _unit(4)))) == 1  # all similar


def test_decode_walks_frames_and_classes():
    out = np.zeros((4, 3, 4, 13))
    out[1, 0, :, 5] = (0, 1, 0, 2)
    out[3, 2, :, 0] = (1, 0, 0, 1)
    frame, cls, xyz, dist = decode(out)
    assert frame.tolist() == [1, 3] and cls.tolist() == [5, 0] and dist.tolist() == [2, 1]
