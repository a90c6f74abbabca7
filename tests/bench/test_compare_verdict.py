"""``bench compare``'s verdict names a winner only for a significant difference."""

import pytest

from perloc.bench.core.record import RunRecord, Score
from perloc.bench.core.registry import TASKS
from perloc.bench.report.compare import verdict


def _record(method: str, value: float, low: float, high: float) -> RunRecord:
    return RunRecord(task="tdoa", method=method, profile="smoke", seed=0, dataset={}, params={},
                     scores={"mae_cm": Score(value, low, high)})


@pytest.mark.parametrize("a, b", [((5.0, 4.0, 6.0), (5.0, 4.0, 6.0)),  # equal
                                  ((5.0, 4.0, 6.0), (5.5, 4.5, 6.5)),  # CIs overlap
                                  ((5.0, 5.0, 5.0), (5.0, 5.0, 5.0))])  # equal, zero-width CIs
def test_a_tie_names_no_winner(a, b):
    line = verdict(TASKS.get("tdoa"), _record("x", *a), _record("y", *b), "mae_cm")
    assert "beats" not in line
    assert line.startswith("x and y tie on mae_cm overall")
    assert "no significant difference" in line


def test_separated_cis_name_the_better_method_by_the_metric_direction():
    task = TASKS.get("tdoa")
    low, high = _record("low", 3.0, 2.5, 3.5), _record("high", 6.0, 5.0, 7.0)
    assert verdict(task, high, low, "mae_cm").startswith("low beats high on mae_cm")  # lower wins
    accurate = {"acc_10cm": Score(90.0, 88.0, 92.0)}
    low.scores, high.scores = {"acc_10cm": Score(50.0, 45.0, 55.0)}, accurate
    assert verdict(task, low, high, "acc_10cm").startswith("high beats low on acc_10cm")
