"""Efficiency figures: parameter counts at the paper configs, MACs known answers, latency."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from perloc.bench.core.registry import METHODS
from perloc.bench.report.efficiency import count_macs, measure, median_latency_ms


def test_macs_of_a_linear_layer_and_a_convolution():
    assert count_macs(nn.Linear(40, 64, bias=True), torch.zeros(1, 98, 40)) == 98 * 40 * 64
    conv = nn.Conv1d(2, 3, kernel_size=5)
    assert count_macs(conv, torch.zeros(1, 2, 100)) == 96 * 3 * 2 * 5


def test_latency_is_positive_and_restores_the_thread_count():
    before = torch.get_num_threads()
    ms = median_latency_ms(nn.Linear(8, 8), torch.zeros(1, 8), threads=1, warmup=1, runs=3)
    assert ms > 0 and torch.get_num_threads() == before


@pytest.mark.parametrize("name,params", [("kwt-1", 607_308), ("kwt-2", 2_394_252),
                                         ("kwt-3", 5_360_844), ("mhatt-rnn", 756_689),
                                         ("ds-cnn", 414_012)])
def test_paper_configs_have_the_papers_parameter_counts(name, params, monkeypatch):
    monkeypatch.setattr("perloc.bench.report.efficiency.RUNS", 2)
    monkeypatch.setattr("perloc.bench.report.efficiency.WARMUP", 0)
    cls = METHODS.get(name)
    method = cls(cls.card.params())
    method.model = method.build(method.params, 12)
    figures = measure(method)
    assert figures["params"] == params
    assert figures["macs"] > params  # every weight is used at least once per clip


def test_kwt_macs_follow_the_token_count():
    """98 frame tokens + 1 class token through 12 blocks: the closed-form MAC count."""
    cls = METHODS.get("kwt-1")
    method = cls(dataclasses.replace(cls.card.params()))
    method.model = method.build(method.params, 12)
    module, clip = method.inference_probe()
    d, mlp, n, layers = 64, 256, 99, 12
    per_block = n * d * 3 * d + n * d * d + 2 * n * d * mlp + 2 * n * n * d  # qkv, proj, mlp, attn
    frontend = 98 * 257 * 80 + 98 * 80 * 40  # mel and DCT matmuls (the rfft is not counted)
    expected = frontend + 98 * 40 * d + layers * per_block + d * 12
    assert count_macs(module, clip) == pytest.approx(expected, rel=0.01)
    assert np.isfinite(module(clip).detach().numpy()).all()
