"""The validation-curve report: steps on the x axis, the budget table, the floor crossing."""

from __future__ import annotations

from perloc.bench.report.base import Row
from perloc.bench.report.curves import TrainingCurves, first_below


def _entry(values, per=50):
    return {"status": "ok", "seed": 0,
            "series": {"val_mae_cm": values, "steps_per_epoch": [per]}}


def test_first_below_is_the_first_step_past_the_level():
    assert first_below([50, 100, 150], [90.0, 70.0, 40.0], 75.0) == 100
    assert first_below([50, 100], [90.0, 80.0], 75.0) is None
    assert first_below([10, 20], [0.4, 0.9], 0.5, lower_is_better=False) == 20


def test_budget_table_names_steps_best_value_and_floor_crossing(tmp_path):
    rows = [Row("wav2pos", [_entry([120.0, 80.0, 60.0, 65.0])]),
            Row("di-nn", [_entry([130.0, 125.0], per=100)]),
            Row("mean-position", [_entry([100.0], per=30)]),
            Row("multilat", [{"status": "ok", "seed": 0}])]
    report = TrainingCurves("val_mae_cm", "MAE cm", floor="mean-position")
    board, section = {"task": "ssl"}, {"profile": "default", "provenance": "synthetic"}
    text = "\n".join(report.markdown(board, section, rows))
    assert "| wav2pos | 200 | 60.00 | 150 | 100 |" in text  # best at epoch 3 of 50 steps
    assert "| di-nn | 200 | 125.00 | 200 | never |" in text
    assert "beating mean-position (100.00)" in text and "multilat" not in text
    names = report.publish(board, section, rows, tmp_path)
    assert names == ["ssl-curves-default-synthetic.png"] and (tmp_path / names[0]).stat().st_size
