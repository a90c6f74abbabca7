"""Bad STARSS23 input through ``bench run seld --data-root``: a 3-channel or 48 kHz recording, a
5-column CSV, a negative frame, an unknown class, a recording without its CSV; each one error
line naming the file, exit 2, and nothing written to the workspace (the adapter checks every
file before a cell is planned). A clean run of the same folder works."""

from __future__ import annotations

import pytest
from cli_helpers import invoke, refused

from perloc.bench.run import cells
from tests.datasets.test_starss23 import (
    CSV_DAMAGE,
    _48_khz,
    _three_channels,
    _wav_without_csv,
)
from tests.datasets.test_starss23 import root as hand_written_root  # noqa: F401  (fixture)

DAMAGE = [_three_channels, _48_khz, *CSV_DAMAGE[:3], _wav_without_csv]
RUN = ("run", "seld", "--profile", "default", "-m", "srp-phat-oracle")


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch):
    monkeypatch.setattr(cells, "_DATASETS", {})


def test_the_hand_written_folder_runs(capsys, workspace, hand_written_root):  # noqa: F811
    result = invoke(capsys, *RUN, "--data-root", str(hand_written_root), "--json")
    assert result.code == 0, result.err


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__.strip("_"))
def test_bad_input_is_one_line_exit_2_nothing_written(capsys, workspace, hand_written_root,  # noqa: F811
                                                      damage):
    path, needle = damage(hand_written_root)
    result = refused(capsys, workspace, *RUN, "--data-root", str(hand_written_root))
    assert str(path) in result.err and needle in result.err
