"""``bench export`` / ``bench score``: predictions made outside the harness get a board row.

Known answer: a GCC-PHAT written here in plain numpy on the exported inputs (not the harness's
torch op) must score exactly what the registered ``gcc-phat`` scores on the same split.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from cli_helpers import invoke


def _numpy_gcc_phat(signals: np.ndarray, max_tau: int = 23, eps: float = 1e-3) -> np.ndarray:
    """Integer TDOA of mics (0, 1): argmax over |lag| <= max_tau of IDFT(W X0 X1*), with
    W = 1 / (|X0 X1*| + eps), FFT length 2N (linear correlation)."""
    a, b = signals[:, 0].astype(np.float64), signals[:, 1].astype(np.float64)
    n = 2 * a.shape[1]
    cross = np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n))
    corr = np.fft.irfft(cross / (np.abs(cross) + eps), n)
    window = np.concatenate([corr[:, -max_tau:], corr[:, :max_tau + 1]], axis=1)
    return np.argmax(window, axis=1) - max_tau


@pytest.fixture
def exported(capsys, workspace, smoke_corpus):
    out = workspace / "export"
    result = invoke(capsys, "export", "tdoa", "--profile", "smoke", "--out", str(out))
    assert result.code == 0, result.err
    return out


def _write(path, header, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _numpy_predictions(exported, path):
    ids = [row["id"] for row in csv.DictReader((exported / "ids.csv").open())]
    tau = _numpy_gcc_phat(np.load(exported / "inputs.npz")["signals"])
    return _write(path, ["id", "tau"], zip(ids, tau, strict=True)), ids


def test_export_writes_ids_inputs_template_and_manifest(exported):
    manifest = json.loads((exported / "manifest.json").read_text())
    ids = list(csv.DictReader((exported / "ids.csv").open()))
    assert manifest["n_examples"] == len(ids) == 120  # 2 utterances x 4 cells x 15 windows
    assert {"snr", "t60", "file"} <= set(ids[0])
    assert ids[0]["id"] == f"{manifest['id_tag']}-000000"
    assert np.load(exported / "inputs.npz")["signals"].shape[0] == 120
    template = (exported / "predictions-template.csv").read_text().splitlines()
    assert template[0] == "id,tau" and len(template) == 121


def test_independent_predictions_score_like_the_registered_method(capsys, workspace, exported):
    pred, _ = _numpy_predictions(exported, workspace / "numpy-gcc.csv")
    scored = invoke(capsys, "score", "tdoa", "--profile", "smoke", "--pred", str(pred),
                    "--publish", "--json")
    assert scored.code == 0, scored.err
    external = json.loads(scored.out)
    ran = invoke(capsys, "run", "tdoa", "--profile", "smoke", "-m", "gcc-phat", "--json")
    harness = json.loads(ran.out)[0]
    assert external["origin"] == "external" and external["method"] == "numpy-gcc"
    assert external["params"]["predictions"] == "numpy-gcc.csv"
    for metric in ("mae_cm", "rmse_cm", "acc_10cm"):
        assert external["scores"][metric]["value"] == pytest.approx(
            harness["scores"][metric]["value"], abs=1e-9)
    board = (workspace / "leaderboards" / "tdoa.md").read_text()
    assert "numpy-gcc (external)" in board


def test_external_rows_are_not_rerun_by_regress(capsys, workspace, exported):
    pred, _ = _numpy_predictions(exported, workspace / "numpy-gcc.csv")
    assert invoke(capsys, "score", "tdoa", "--profile", "smoke", "--pred", str(pred),
                  "--publish").code == 0
    assert invoke(capsys, "run", "tdoa", "--profile", "smoke", "-m", "gcc-phat",
                  "--publish").code == 0
    result = invoke(capsys, "regress", "tdoa")
    assert result.code == 0, result.err
    assert "gcc-phat" in result.out and "numpy-gcc" not in result.out


def _bad_files(folder, ids):
    good = [[i, 0] for i in ids]
    return {
        "no column": (_write(folder / "a.csv", ["id", "delay"], good), "no column 'tau'"),
        "not a number": (_write(folder / "b.csv", ["id", "tau"],
                                good[:5] + [[ids[5], "x"]] + good[6:]), "row 7: tau: 'x'"),
        "not finite": (_write(folder / "c.csv", ["id", "tau"], [[ids[0], "nan"]] + good[1:]),
                       "row 2: tau: 'nan' is not finite"),
        "twice": (_write(folder / "d.csv", ["id", "tau"], good + [good[3]]),
                  f"id {ids[3]!r} appears twice"),
        "missing": (_write(folder / "e.csv", ["id", "tau"], good[:-1]),
                    f"no prediction for id {ids[-1]}"),
        "other export": (_write(folder / "f.csv", ["id", "tau"],
                                [["000000-" + i.split("-")[1], 0] for i in ids]),
                         "was the file made for another export?"),
        "extra cells": (_write(folder / "g.csv", ["id", "tau"], [good[0] + [1]] + good[1:]),
                        "row 2: more cells than header columns"),
    }


def test_malformed_predictions_one_error_line_naming_file_and_row(capsys, workspace, exported):
    ids = [row["id"] for row in csv.DictReader((exported / "ids.csv").open())]
    binary = workspace / "h.csv"
    binary.write_bytes(b"id,tau\n\xff\xfe\x00\n")
    cases = _bad_files(workspace, ids)
    cases["binary"] = (binary, "not UTF-8 text")
    for label, (path, message) in cases.items():
        result = invoke(capsys, "score", "tdoa", "--profile", "smoke", "--pred", str(path))
        assert result.code == 2, label
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), (label, lines)
        assert message in lines[0], (label, lines[0])
    assert not (workspace / "results" / "runs").exists()  # nothing written


def test_score_flags_checked_before_any_work(capsys, workspace, exported):
    pred, _ = _numpy_predictions(exported, workspace / "p.csv")
    clash = invoke(capsys, "score", "tdoa", "--profile", "smoke", "--pred", str(pred),
                   "--name", "gcc-phat")
    assert clash.code == 2 and "--name: 'gcc-phat' is a registered method" in clash.err
    missing = invoke(capsys, "score", "tdoa", "--pred", str(workspace / "nope.csv"))
    assert missing.code == 2 and "--pred" in missing.err and "no such file" in missing.err
    other_seed = invoke(capsys, "score", "tdoa", "--profile", "smoke", "--seed", "1",
                        "--pred", str(pred))
    assert other_seed.code == 2 and "another export" in other_seed.err
    again = invoke(capsys, "export", "tdoa", "--profile", "smoke", "--out", str(exported))
    assert again.code == 2 and "exists and is not an empty folder" in again.err
    assert not (workspace / "results" / "runs").exists()
