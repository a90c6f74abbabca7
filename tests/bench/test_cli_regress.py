"""``bench regress``: passes against its own published numbers, fails when one gets worse."""

import json

from cli_helpers import invoke


def _publish_smoke(capsys, workspace):
    outcome = invoke(capsys, "run", "tdoa", "--profile", "smoke", "-m", "gcc-phat", "-m", "gcc-cc",
                     "--publish")
    assert outcome.code == 0, outcome.err
    return workspace / "leaderboards" / "tdoa.json"


def test_regress_passes_on_unchanged_numbers(capsys, workspace):
    _publish_smoke(capsys, workspace)
    outcome = invoke(capsys, "regress", "tdoa")
    assert outcome.code == 0, outcome.out + outcome.err
    assert "no regression" in outcome.out
    assert "WORSE" not in outcome.out


def test_regress_fails_with_a_table_when_a_metric_worsens(capsys, workspace):
    path = _publish_smoke(capsys, workspace)
    board = json.loads(path.read_text())
    entry = next(e for e in board["sections"]["smoke/synthetic"]["entries"]
                 if e["method"] == "gcc-phat")
    entry["scores"]["mae_cm"]["value"] -= 3.0  # published better than we now measure
    entry["scores"]["acc_10cm"]["value"] += 0.5  # inside the 1-point tolerance
    path.write_text(json.dumps(board))
    outcome = invoke(capsys, "regress", "tdoa")
    assert outcome.code == 1
    lines = [line for line in outcome.out.splitlines() if line.startswith("gcc-phat")]
    verdicts = {line.split()[1]: line.split()[-1] for line in lines}
    assert verdicts["mae_cm"] == "WORSE"
    assert verdicts["acc_10cm"] == "ok"
    assert "published" in outcome.out and "tolerance" in outcome.out
    assert "REGRESSION" in outcome.out


def test_regress_without_a_smoke_section_is_a_clear_error(capsys, workspace):
    (workspace / "leaderboards").mkdir()
    (workspace / "leaderboards" / "tdoa.json").write_text('{"sections": {}}')
    outcome = invoke(capsys, "regress", "tdoa")
    assert outcome.code == 2 and "no smoke section" in outcome.err


def test_regress_on_malformed_board(capsys, workspace):
    (workspace / "leaderboards").mkdir()
    (workspace / "leaderboards" / "tdoa.json").write_text('{"sections": ')
    outcome = invoke(capsys, "regress", "tdoa")
    assert outcome.code == 2 and "tdoa.json: malformed JSON" in outcome.err
