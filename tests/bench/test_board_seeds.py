"""The seeds of one run share a board section even where each seed draws its own test set
(a dataset names its seed-independent ``base_version``); a new dataset starts a new section."""

from __future__ import annotations

from perloc.bench.core.record import RunRecord, Score
from perloc.bench.core.registry import TASKS
from perloc.bench.report.board_table import board_rows
from perloc.bench.report.leaderboard import update_board


def _record(method: str, seed: int, value: float, base: str) -> RunRecord:
    dataset = {"name": "tdoa-rooms", "version": f"{base}-seed{seed}", "base_version": base,
               "provenance": {"kind": "synthetic"}}
    score = Score(value, value - 1, value + 1)
    return RunRecord(task="tdoa", method=method, profile="default", seed=seed, dataset=dataset,
                     params={}, scores={"mae_cm": score, "acc_10cm": Score(50.0, 45.0, 55.0)},
                     slices={"t60=0.2": {"mae_cm": score, "acc_10cm": Score(50.0, 45.0, 55.0)}},
                     n_examples=10)


def test_three_seeds_on_seed_dependent_test_sets_make_one_row_of_three():
    task = TASKS.get("tdoa")
    board = update_board({}, task, [_record("gcc-phat", s, 5.0 + s, "v1") for s in (0, 1, 2)])
    (key,) = board["sections"]
    (row,) = board_rows(board, key)
    assert [e["seed"] for e in row.entries] == [0, 1, 2]


def test_a_record_on_another_dataset_replaces_the_section():
    task = TASKS.get("tdoa")
    board = update_board({}, task, [_record("gcc-phat", s, 5.0, "v1") for s in (0, 1)])
    board = update_board(board, task, [_record("ngcc-phat", 0, 4.0, "v2")])
    (key,) = board["sections"]
    assert [e["method"] for e in board["sections"][key]["entries"]] == ["ngcc-phat"]


def test_a_section_published_before_base_versions_keeps_its_rows():
    task = TASKS.get("tdoa")
    board = update_board({}, task, [_record("gcc-phat", 0, 5.0, "v1")])
    (key,) = board["sections"]
    del board["sections"][key]["dataset"]["base_version"]  # as an older board stored it
    board = update_board(board, task, [_record("ngcc-phat", 0, 4.0, "v1"),
                                       _record("ngcc-phat", 1, 4.5, "v1")])
    methods = sorted((e["method"], e["seed"]) for e in board["sections"][key]["entries"])
    assert methods == [("gcc-phat", 0), ("ngcc-phat", 0), ("ngcc-phat", 1)]


def test_records_from_different_devices_are_never_ranked_as_one():
    """A GPU record (or a bf16 one) of the same cell goes to a section of its own, headed by
    the device; the CPU fp32 section keeps the key it always had."""
    from perloc.bench.report.leaderboard import section_heading

    task = TASKS.get("tdoa")
    cpu = _record("gcc-phat", 0, 5.0, "v1")
    gpu = _record("ngcc-phat", 0, 4.0, "v1")
    gpu.device = {"kind": "cuda", "name": "NVIDIA H100 80GB HBM3", "memory_gib": 79.1}
    half = _record("ngcc-phat", 0, 4.1, "v1")
    half.device = {"kind": "cpu", "amp": "bf16"}
    board = update_board({}, task, [cpu, gpu, half])
    sections = board["sections"]
    assert sorted(sections) == ["default/synthetic", "default/synthetic @ cpu, bf16",
                                "default/synthetic @ cuda NVIDIA H100 80GB HBM3, 79.1 GiB"]
    assert [[e["method"] for e in s["entries"]] for s in sections.values()] == [
        ["gcc-phat"], ["ngcc-phat"], ["ngcc-phat"]]
    gpu_section = sections["default/synthetic @ cuda NVIDIA H100 80GB HBM3, 79.1 GiB"]
    assert section_heading(gpu_section).endswith(", on cuda NVIDIA H100 80GB HBM3, 79.1 GiB")
    assert "device" not in sections["default/synthetic"]
