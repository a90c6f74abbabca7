"""``bench compare A B``: per-cell table, overall row, verdict, plot, JSON, record reuse."""

import json

from cli_helpers import invoke


def test_compare_table_verdict_plot_and_reuse(capsys, workspace):
    plot = workspace / "figure.png"
    outcome = invoke(capsys, "compare", "phat", "cc", "--profile", "smoke", "--snr", "0:30",
                     "--plot", str(plot))
    assert outcome.code == 0, outcome.err
    lines = outcome.out.splitlines()
    cells = [line.split()[0] for line in lines[2:] if line and not line.startswith("gcc")]
    assert cells == ["snr=0|t60=0.2", "snr=0|t60=0.4", "snr=30|t60=0.2", "snr=30|t60=0.4",
                     "overall"]
    assert "gcc-phat mae_cm" in lines[0] and "gcc-cc acc_10cm" in lines[0]
    verdicts = [line for line in lines if " beats " in line or " tie " in line]
    assert len(verdicts) == 2 and "CIs" in verdicts[0]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    again = invoke(capsys, "compare", "gcc-phat", "gcc-cc", "--profile", "smoke", "--snr", "0:30",
                   "--json")
    assert again.err.count("reusing record") == 2
    payload = json.loads(again.out)
    assert [r["method"] for r in payload["records"]] == ["gcc-phat", "gcc-cc"]
    overall = payload["rows"][-1]
    assert overall["cell"] == "overall"
    delta = overall["mae_cm"]["gcc-phat"]["value"] - overall["mae_cm"]["gcc-cc"]["value"]
    assert abs(overall["mae_cm"]["delta"] - delta) < 1e-9


def test_compare_bad_input(capsys, workspace):
    same = invoke(capsys, "compare", "gcc-phat", "phat", "--profile", "smoke")
    assert same.code == 2 and "same method" in same.err
    bad_plot = invoke(capsys, "compare", "gcc-phat", "gcc-cc", "--plot", "x.jpg")
    assert bad_plot.code == 2 and "--plot" in bad_plot.err
    unknown = invoke(capsys, "compare", "gcc-phat", "ngcc-nope")
    assert unknown.code == 2 and "unknown method 'ngcc-nope'" in unknown.err
    assert not (workspace / "results" / "runs").exists()


def test_a_tracking_server_gone_after_the_checks_does_not_fail_compare(capsys, workspace,
                                                                         monkeypatch):
    """The server answered the start-up checks (stubbed here) and is gone when the records
    are logged: compare still prints its table and exits 0, the records are saved, and it
    says once what `bench sync` will do (as a sweep does)."""
    from perloc.bench.store import mlflow_prepare

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(mlflow_prepare, "check_uri", lambda uri: None)
    monkeypatch.setattr(mlflow_prepare, "prepare", lambda uri, runs, **kwargs: None)
    outcome = invoke(capsys, "compare", "gcc-phat", "gcc-cc", "--profile", "smoke", "--snr", "0")
    assert outcome.code == 0, outcome.err
    assert "overall" in outcome.out
    assert outcome.err.count("does not answer") == 1 and "bench sync tdoa" in outcome.err
    assert len(list((workspace / "results" / "runs" / "tdoa" / "smoke").glob("*.json"))) == 2
