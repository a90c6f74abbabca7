"""``bench score seld --ref DIR --pred DIR`` on official-format CSVs written by hand: the numbers
the metric's own known-answer tests expect, the JSON keys and units, and bad input."""

from __future__ import annotations

import json
import math

import pytest
from cli_helpers import invoke


def _write(folder, name, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)


@pytest.fixture
def folders(tmp_path):
    ref = tmp_path / "ref" / "metadata_dev" / "dev-test-sony"
    # file a: class 0 at az 0 matched exactly, class 1 at az 90 missed; frame 1 is the last
    # annotated frame (never scored). file b: class 2 predicted 30 degrees off (a spatial FP)
    _write(ref, "fold4_room23_mix001.csv", "0,0,0,0,0,100\n0,1,0,90,0,200\n1,0,0,0,0,100\n")
    _write(ref, "fold4_room23_mix002.csv", "0,2,0,0,0,100\n1,2,0,0,0,100\n")
    pred = tmp_path / "pred"
    _write(pred, "fold4_room23_mix001.csv", "0,0,0,1.0,0.0,0.0,1.0\n5,4,0,1,0,0,1\n")
    _write(pred, "fold4_room23_mix002.csv", "0,2,0,30,0,1.0\n")  # 6-column polar, metres
    return tmp_path / "ref", pred


def test_json_scores_match_the_hand_computed_answer(capsys, folders):
    ref, pred = folders
    result = invoke(capsys, "score", "seld", "--ref", str(ref), "--pred", str(pred), "--json")
    assert result.code == 0, result.err
    out = json.loads(result.out)
    assert list(out) == ["F", "DOAE", "RDE", "DE", "ER", "LR", "SELD"]
    # class 0: TP 1 -> F 1; class 1: FN 1 -> F 0; class 2: FP_spatial 1 -> F 0; macro /13
    assert out["F"] == pytest.approx(1 / 13)
    assert out["DOAE"] == pytest.approx((0.0 + 30.0) / 2, abs=1e-3)  # classes 0 and 2
    assert out["RDE"] == pytest.approx(0.0) and out["DE"] == pytest.approx(0.0)
    assert out["ER"] == pytest.approx(2 / 3)  # one deletion, one insertion, 3 references
    assert out["LR"] == pytest.approx(2 / 13)  # classes 0 and 2 matched, class 1 missed
    micro = json.loads(invoke(capsys, "score", "seld", "--ref", str(ref), "--pred", str(pred),
                              "--average", "micro", "--json").out)
    assert micro["F"] == pytest.approx(1 / (1 + 1 + 0.5))  # TP 1, FP_spatial 1, FN 1


def test_text_output_has_the_jackknife_with_two_files(capsys, folders):
    ref, pred = folders
    result = invoke(capsys, "score", "seld", "--ref", str(ref), "--pred", str(pred))
    assert result.code == 0 and "2 files, macro average" in result.out
    assert "jackknife" in result.out


def test_a_missing_prediction_file_is_no_predictions(capsys, folders):
    ref, pred = folders
    (pred / "fold4_room23_mix002.csv").unlink()
    out = json.loads(invoke(capsys, "score", "seld", "--ref", str(ref), "--pred", str(pred),
                            "--json").out)
    assert out["F"] == pytest.approx(1 / 13)
    assert out["DOAE"] == pytest.approx(0.0, abs=1e-3)  # only class 0 matched now


def test_no_predictions_at_all_gives_nan_as_null(capsys, folders, tmp_path):
    ref, _ = folders
    empty = tmp_path / "empty"
    empty.mkdir()
    out = json.loads(invoke(capsys, "score", "seld", "--ref", str(ref), "--pred", str(empty),
                            "--json").out)
    assert out["F"] == 0.0 and out["DOAE"] is None and out["SELD"] == pytest.approx(1.0)
    assert math.isclose(out["ER"], 1.0)


@pytest.mark.parametrize("where, text, says", [
    ("ref", "0,1,0,10,20\n", "5 columns where the reference format has 6"),
    ("ref", "-1,1,0,10,20,100\n", "negative frame index"),
    ("pred", "0,13,0,1,0,0,1\n", "class index 13 is not in 0..12"),
    ("pred", "0,1,0,x,0,0,1\n", "not a number"),
])
def test_bad_rows_are_one_line_naming_file_and_line(capsys, folders, where, text, says):
    ref, pred = folders
    target = (ref / "metadata_dev" / "dev-test-sony" if where == "ref" else pred)
    (target / "fold4_room23_mix001.csv").write_text(text)
    result = invoke(capsys, "score", "seld", "--ref", str(ref), "--pred", str(pred), "--json")
    assert result.code == 2 and result.out == ""
    (line,) = result.err.strip().splitlines()
    assert "fold4_room23_mix001.csv:1:" in line and says in line


def test_bad_flags_and_orphans(capsys, folders):
    ref, pred = folders
    bad = invoke(capsys, "score", "seld", "--ref", str(ref), "--pred", str(pred),
                 "--average", "weighted")
    assert bad.code == 2 and "--average" in bad.err and "macro, micro" in bad.err
    (pred / "fold4_room99_mix001.csv").write_text("")
    orphan = invoke(capsys, "score", "seld", "--ref", str(ref), "--pred", str(pred))
    assert orphan.code == 2 and "fold4_room99_mix001" in orphan.err
    other = invoke(capsys, "score", "tdoa", "--ref", str(ref), "--pred", str(pred))
    assert other.code == 2 and "no scorer of official files" in other.err
