"""DCASE SELD CSVs: hand-written files read to known events, round trips, and one error line
per malformed row naming the file and line."""

from __future__ import annotations

import numpy as np
import pytest

from perloc.bench.core.errors import UserError
from perloc.datasets.dcase_csv import (
    DcaseEvents,
    csv_files,
    read_prediction,
    read_reference,
    write_prediction,
    write_reference,
)


def test_reference_rows_read_to_unit_directions_in_metres(tmp_path):
    path = tmp_path / "fold4_room2_mix001.csv"
    path.write_text("3,1,0,90,0,250\n3,1,1,0,90,100\n\n7,12,0,180,0,75\n")
    ev = read_reference(path)
    assert ev.frame.tolist() == [3, 3, 7] and ev.cls.tolist() == [1, 1, 12]
    assert ev.track.tolist() == [0, 1, 0]
    np.testing.assert_allclose(ev.xyz, [[0, 1, 0], [0, 0, 1], [-1, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(ev.dist, [2.5, 1.0, 0.75])


def test_cartesian_prediction_drops_the_vector_length_and_keeps_metres(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("0,2,0,0.0,3.0,0.0,1.25\n1,2,0,0,0,0,0.5\n")
    ev = read_prediction(path)
    np.testing.assert_allclose(ev.xyz, [[0, 1, 0], [1, 0, 0]], atol=1e-12)  # 0-vector: az 0
    np.testing.assert_allclose(ev.dist, [1.25, 0.5])


@pytest.mark.parametrize("unit, metres", [("m", 150.0), ("cm", 1.5)])
def test_polar_prediction_distance_unit(tmp_path, unit, metres):
    path = tmp_path / "p.csv"
    path.write_text("0,0,0,-90,0,150\n")
    ev = read_prediction(path, distance_unit=unit)
    np.testing.assert_allclose(ev.xyz, [[0, -1, 0]], atol=1e-12)
    assert ev.dist.tolist() == [metres]


def test_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    az, el = rng.integers(-180, 180, 50), rng.integers(-40, 61, 50)
    a, e = np.radians(az), np.radians(el)
    xyz = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], axis=1)
    dist = rng.integers(50, 400, 50) / 100.0
    ev = DcaseEvents(np.arange(50), rng.integers(0, 13, 50), np.zeros(50, np.int64), xyz, dist)
    write_reference(tmp_path / "r.csv", ev)
    back = read_reference(tmp_path / "r.csv")
    angle = np.degrees(np.arccos(np.clip(np.sum(back.xyz * xyz, axis=1), -1, 1)))
    assert angle.max() < 0.5 and np.allclose(back.dist, dist)
    write_prediction(tmp_path / "p.csv", ev._replace(xyz=xyz * 3.0))
    back = read_prediction(tmp_path / "p.csv")
    np.testing.assert_allclose(back.xyz, xyz, atol=1e-5)
    np.testing.assert_allclose(back.dist, dist, atol=1e-6)
    assert back.cls.tolist() == ev.cls.tolist()


@pytest.mark.parametrize("text, says", [
    ("0,1,0,10,20\n", ":1: 5 columns where the reference format has 6"),
    ("0,1,0,10,20,100\n-1,1,0,10,20,100\n", ":2: negative frame index -1"),
    ("0,13,0,10,20,100\n", ":1: class index 13 is not in 0..12"),
    ("frame,class,source,azimuth,elevation,distance\n", ":1: not a number"),
    ("0,1,0,nan,20,100\n", ":1: a value is not finite"),
    ("0,1,0,10,20,-5\n", ":1: negative distance"),
])
def test_malformed_reference_rows(tmp_path, text, says):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        read_reference(path)
    assert str(err.value).startswith(f"{path}") and says in str(err.value)
    assert "\n" not in str(err.value)


def test_malformed_prediction_rows(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("0,1,0,1,0,0,2\n0,1,0,10,20,2\n")
    with pytest.raises(UserError, match=r"bad.csv:2: mixes 6- and 7-column rows"):
        read_prediction(path)
    path.write_text("0,1,0,1\n")
    with pytest.raises(UserError, match=r"bad.csv:1: 4 columns where a prediction has 7 or 6"):
        read_prediction(path)


def test_csv_files_searches_recursively_and_refuses_twin_stems(tmp_path):
    for sub in ("metadata_dev/dev-test-sony", "metadata_dev/dev-test-tau"):
        (tmp_path / sub).mkdir(parents=True)
    (tmp_path / "metadata_dev/dev-test-sony/fold4_room23_mix001.csv").write_text("")
    (tmp_path / "metadata_dev/dev-test-tau/fold4_room2_mix001.csv").write_text("")
    assert sorted(csv_files(tmp_path, "--ref")) == ["fold4_room23_mix001", "fold4_room2_mix001"]
    (tmp_path / "fold4_room2_mix001.csv").write_text("")
    with pytest.raises(UserError, match="--ref .*two files named fold4_room2_mix001.csv"):
        csv_files(tmp_path, "--ref")
    with pytest.raises(UserError, match="--ref .*not a folder"):
        csv_files(tmp_path / "nope", "--ref")
