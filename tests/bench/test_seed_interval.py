"""Rows over several seeds: mean ± sample sd and the 95% t-interval of the mean (known answers).

Hand computation for 90, 92, 94: mean 92; sd = sqrt((4 + 0 + 4) / 2) = 2;
t(0.975, 2) = 4.303 (Student-t table); half-width = 4.303 * 2 / sqrt(3) = 4.968.
"""

from __future__ import annotations

import pytest

from perloc.bench.report.base import Row, seed_summary
from perloc.bench.report.board_table import score_cell


def _row(values: list[float]) -> Row:
    return Row("m", [{"status": "ok", "seed": seed,
                      "scores": {"accuracy": {"value": v, "ci_low": v - 1, "ci_high": v + 1}}}
                     for seed, v in enumerate(values)])


def test_three_seeds_give_the_hand_computed_t_interval():
    summary = seed_summary([90.0, 92.0, 94.0])
    assert summary.mean == 92.0 and summary.std == pytest.approx(2.0)
    assert summary.half_width == pytest.approx(4.303 * 2 / 3 ** 0.5, abs=1e-3)
    assert (summary.ci_low, summary.ci_high) == pytest.approx((87.032, 96.968), abs=1e-3)


def test_the_row_shows_sd_and_the_half_width_labelled():
    assert score_cell(_row([90.0, 92.0, 94.0]), "accuracy", "scores", True) == \
        "92.00 ± 2.00 sd, ± 4.97 [87.03, 96.97] (n=3)"
    assert score_cell(_row([90.0]), "accuracy", "scores", True) == "90.00 [89.00, 91.00]"

