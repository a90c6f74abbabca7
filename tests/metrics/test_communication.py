"""Bytes to reach an accuracy and the communication gain (Paper IV §5.7), by hand."""

from __future__ import annotations

import math

import pytest

from perloc.metrics.communication import bytes_to_reach, communication_gain


def test_bytes_to_reach_is_the_first_crossing():
    assert bytes_to_reach([10, 30, 20, 40], [1, 2, 3, 4], 25) == 2
    assert bytes_to_reach([10, 30], [1, 2], 30) == 2  # at least tau
    assert math.isinf(bytes_to_reach([10, 30], [1, 2], 31))


def test_gain_at_the_lower_of_the_two_best_accuracies():
    fp32 = ([50, 70, 80], [400, 800, 1200])
    # FP8 quarter payload, same rounds: gain 4 at tau = 80
    assert communication_gain(fp32, ([50, 70, 80], [100, 200, 300])) == 4
    # FP8 best is 70: tau = 70, FP32 reaches it at 800 bytes, FP8 at 200 -> 4
    assert communication_gain(fp32, ([50, 70, 69], [100, 200, 300])) == 4
    # FP8 reaches 80 a round earlier: 1200 / 200 = 6 (beyond the ideal 4)
    assert communication_gain(fp32, ([70, 85, 85], [100, 200, 300])) == 6
    assert math.isnan(communication_gain(fp32, ([], [])))
    with pytest.raises(ValueError):
        bytes_to_reach([1, 2], [1], 1)
