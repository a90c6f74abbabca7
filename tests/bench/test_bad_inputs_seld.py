"""Bad STARSS23 input through ``bench run seld --data-root``: a 3-channel or 48 kHz recording, a
5-column CSV, a negative frame, an unknown class, a recording without its CSV; each one error
line naming the file, exit 2, and nothing written to the workspace (the adapter checks every
file before a cell is planned). A clean run of the same folder works."""

from __future__ import annotations

import pytest
from cli_helpers import invoke

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


def _written(workspace) -> list[str]:
    return sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*") if p.is_file())


def test_the_hand_written_folder_runs(capsys, workspace, hand_written_root):  # noqa: F811
    result = invoke(capsys, *RUN, "--data-root", str(hand_written_root), "--json")
    assert result.code == 0, result.err


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__.strip("_"))
def test_bad_input_is_one_line_exit_2_nothing_written(capsys, workspace, hand_written_root,  # noqa: F811
                                                      damage):
    path, needle = damage(hand_written_root)
    before = _written(workspace)
    result = invoke(capsys, *RUN, "--data-root", str(hand_written_root))
    lines = result.err.strip().splitlines()
    assert result.code == 2 and len(lines) == 1, result.err
    assert str(path) in lines[0] and needle in lines[0]
    assert result.out == "" and _written(workspace) == before
