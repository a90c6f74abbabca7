"""Every registered method honours its card and runs on its task's smoke profile via the CLI,
under the wrong-device check.

New methods are picked up by discovery (MTEB's mock-run conformance idea): nothing to list.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from cli_helpers import invoke

from perloc.bench.core.registry import METHODS, TASKS
from perloc.bench.report.efficiency import paper_parameter_count

NAMES = METHODS.names()
HOME_TASKS = sorted({METHODS.get(name).card.task for name in NAMES})
CHECKPOINT = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ngcc" / "model.pth"


@pytest.mark.parametrize("name", NAMES)
def test_method_card_is_complete(name):
    cls = METHODS.get(name)
    card = cls.card
    assert card.name == name and card.reference and card.summary
    assert TASKS.get(card.task).runs(card)
    assert dataclasses.is_dataclass(card.params)
    assert card.params.__dataclass_params__.frozen
    card.params()  # the paper configuration needs no arguments
    assert callable(getattr(cls, "predict", None))
    if card.kind == "learned":
        assert all(callable(getattr(cls, m, None))
                   for m in ("fit", "state_dict", "load_state_dict"))
    count = paper_parameter_count(cls)
    assert count.split()[0].replace(",", "").isdigit()
    if card.kind == "classical":
        assert count == "0"


@pytest.mark.slow
@pytest.mark.own_checkpoints  # every fit runs here, under the check, not loaded from a cache
@pytest.mark.parametrize("task", HOME_TASKS)
def test_every_method_of_a_task_runs_its_smoke_profile(capsys, monkeypatch, task):
    """One ``bench run --device cpu`` per task with every method whose card names it, under
    the wrong-device check (``PERLOC_DEVICE_CHECK``: inside every fit and predict a tensor
    made without a device lands on ``meta`` and breaks the first op that meets the data, as
    a forgotten CPU tensor breaks a CUDA run): each record is ok, finite, and scored on the
    smoke examples the method accepts, so every method moves everything through the one
    device mechanism a CUDA run uses."""
    names = [n for n in NAMES if METHODS.get(n).card.task == task]
    if "ngcc-phat-released" in names:
        if not CHECKPOINT.is_file():
            names.remove("ngcc-phat-released")
        monkeypatch.setenv("PERLOC_NGCC_CHECKPOINT", str(CHECKPOINT))
    monkeypatch.setenv("PERLOC_DEVICE_CHECK", "1")
    argv = [a for n in names for a in ("-m", n)]
    result = invoke(capsys, "run", task, "--profile", "smoke", *argv, "--device", "cpu",
                    "--json")
    assert result.code == 0, result.err
    records = {r["method"]: r for r in json.loads(result.out)}
    assert sorted(records) == sorted(names)
    for name, record in records.items():
        assert record["status"] == "ok" and record["n_examples"] > 0, name
        primary = TASKS.get(task).primary
        assert math.isfinite(record["scores"][primary]["value"]), name
