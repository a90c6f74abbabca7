"""UTKFace with the CORAL CSVs: a hand-written fixture (known ages, names, colours), the
utkface-sim stand-in read back by the same adapter (ages from the CSV + 21, the malformed
name, every age in both splits), the image cache, and each bad input as one UserError naming
the file (and the CSV line)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from perloc.bench.core.errors import UserError
from perloc.datasets.synth.utkface_sim import SimSize, write_utkface_sim
from perloc.datasets.utkface import CHIP_SIDE, UTKFace, parse_name
from tests.bench.cli_helpers import invoke

MALFORMED = "55_0_0_20170116232725357jpg.chip.jpg"
TRAIN = [("0", "26_1_0_20170116171048641.jpg.chip.jpg", "5", (200, 30, 30)),
         ("7", MALFORMED, "34", (30, 200, 30)),
         ("9", "21_0_3_20170116171048642.jpg.chip.jpg", "0", (30, 30, 200))]
TEST = [("3", "60_1_4_20170116171048643.jpg.chip.jpg", "39", (120, 120, 120)),
        ("4", "40_0_2_20170116171048644.jpg.chip.jpg", "18", (250, 250, 10))]  # name says 40


def _jpeg(path, colour, size=(CHIP_SIDE, CHIP_SIDE)):
    Image.new("RGB", size, colour).save(path, "JPEG", quality=95)


def _csv(path, rows, header=",file,age"):
    path.write_text(header + "\n" + "".join(",".join(r[:3]) + "\n" for r in rows))


@pytest.fixture
def utk(tmp_path):
    (tmp_path / "UTKFace").mkdir()
    (tmp_path / "age" / "data").mkdir(parents=True)  # the dold repo's place for the CSVs
    for _, name, _, colour in TRAIN + TEST:
        _jpeg(tmp_path / "UTKFace" / name, colour)
    _csv(tmp_path / "age" / "data" / "utk_train.csv", TRAIN)
    _csv(tmp_path / "age" / "data" / "utk_test.csv", TEST)
    return tmp_path


def test_fixture_read_back(utk, tmp_path):
    data = UTKFace(utk)
    assert (data.name, data.target_names, data.unit, data.classes) == (
        "utkface", ("age",), "years", ())
    rows = data.split_rows(seed=3)
    assert rows["train"].tolist() == [0, 1, 2] and rows["test"].tolist() == [3, 4]
    assert rows["train"].dtype == np.int64
    ages = data.targets(np.arange(5))
    assert ages.dtype == np.float64 and ages.shape == (5, 1)
    assert ages[:, 0].tolist() == [26.0, 55.0, 21.0, 60.0, 39.0]
    meta = data.meta(np.arange(5))
    assert meta["file"][1] == MALFORMED
    assert meta["gender"].tolist() == [1, 0, 0, 1, 0] and meta["race"].tolist() == [0, 0, 3, 4, 2]
    info = data.describe()
    assert info["n_images"] == {"train": 3, "test": 2} and info["name_age_mismatches"] == 1
    assert data.provenance.kind == "real"
    images = data.images([0, 2, 4], 32)
    assert images.dtype == np.uint8 and images.shape == (3, 3, 32, 32)
    centre = images[:, :, 16, 16].astype(int)
    assert np.all(np.abs(centre - [[200, 30, 30], [30, 30, 200], [250, 250, 10]]) < 12)


def test_image_cache_second_call_reads(utk, tmp_path):
    data = UTKFace(utk, cache=tmp_path / "images.h5")
    first = data.images([4, 0], 16)
    again = UTKFace(utk, cache=tmp_path / "images.h5")
    assert np.array_equal(again.images([4, 0], 16), first)
    assert data.store.cache.computed == 1 and again.store.cache.computed == 0
    assert np.array_equal(UTKFace(utk).images([4, 0], 16), first)  # no cache: same pixels


def test_parse_name_tolerates_malformed():
    assert parse_name(MALFORMED) == (55, 0, 0)
    assert parse_name("39_1_20170116174525125.jpg.chip.jpg") == (39, 1, -1)  # no race field


def test_sim_read_back(tmp_path):
    root = write_utkface_sim(tmp_path / "utk", SimSize("tiny", 48, 42), seed=5)
    data = UTKFace(root)
    assert data.provenance.kind == "synthetic"
    with (root / "utk_train.csv").open() as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["", "file", "age"]
    csv_ages = np.array([int(r[2]) for r in lines[1:]])
    rows = data.split_rows()
    assert np.array_equal(data.targets(rows["train"])[:, 0], csv_ages + 21)
    names = [r[1] for r in lines[1:]]
    malformed = [n for n in names if not n.endswith(".jpg.chip.jpg")]
    assert len(malformed) == 1 and malformed[0].endswith("jpg.chip.jpg")
    assert (root / "UTKFace" / malformed[0]).is_file()
    for split in ("train", "test"):  # every age 21..60 in both splits
        assert set(data.targets(rows[split])[:, 0].astype(int)) == set(range(21, 61))
    assert data.describe()["name_age_mismatches"] == 0
    meta = data.meta(rows["test"])
    assert set(meta["gender"]) <= {0, 1} and set(meta["race"]) <= set(range(5))
    image = data.images([0], CHIP_SIDE)
    assert image.shape == (1, 3, CHIP_SIDE, CHIP_SIDE) and image.std() > 10
    again = write_utkface_sim(tmp_path / "utk2", SimSize("tiny", 48, 42), seed=5)
    assert (again / "utk_test.csv").read_bytes() == (root / "utk_test.csv").read_bytes()
    assert UTKFace(again).version == data.version


def _expect(match_path, root, **kwargs):
    with pytest.raises(UserError) as caught:
        UTKFace(root, **kwargs)
    message = str(caught.value)
    assert str(match_path) in message and "\n" not in message
    return message


def test_bad_header(utk):
    path = utk / "age" / "data" / "utk_train.csv"
    _csv(path, TRAIN, header="idx,file,age")
    assert ":1:" in _expect(path, utk)


def test_row_names_missing_file(utk):
    (utk / "UTKFace" / TEST[1][1]).unlink()
    message = _expect(utk / "UTKFace" / TEST[1][1], utk)
    assert "utk_test.csv:3" in message and "not found" in message


def test_age_outside_range(utk):
    path = utk / "age" / "data" / "utk_test.csv"
    _csv(path, [TEST[0], ("4", TEST[1][1], "40")])
    message = _expect(path, utk)
    assert f"{path}:3" in message and "21-60" in message


@pytest.mark.parametrize("bad", [("4", TEST[1][1]), ("4", TEST[1][1], "x1"),
                                 ("4", TEST[1][1], "18", "extra")])
def test_bad_rows(utk, bad):
    path = utk / "age" / "data" / "utk_test.csv"
    path.write_text(",file,age\n" + ",".join(TEST[0][:3]) + "\n" + ",".join(bad) + "\n")
    assert f"{path}:3" in _expect(path, utk)


def test_wrong_image_size(utk):
    path = utk / "UTKFace" / TRAIN[0][1]
    _jpeg(path, (1, 2, 3), size=(100, 120))
    assert "100 x 120" in _expect(path, utk)


def test_corrupt_jpeg(utk):
    path = utk / "UTKFace" / TRAIN[2][1]
    path.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 5)
    _expect(path, utk)


def test_truncated_jpeg_fails_on_decode(utk):
    path = utk / "UTKFace" / TRAIN[2][1]
    path.write_bytes(path.read_bytes()[:900])
    data = UTKFace(utk)  # the header is intact
    with pytest.raises(UserError, match=str(path)):
        data.images([2], 16)


def test_bench_data_check_and_synth(utk, tmp_path, capsys):
    result = invoke(capsys, "data", "check", "utkface", "--root", str(utk))
    assert result.code == 0 and "utk_train.csv" in result.out and "1 file-name ages" in result.out
    _csv(utk / "age" / "data" / "utk_train.csv", TRAIN, header="file,age")
    result = invoke(capsys, "data", "check", "utkface", "--root", str(utk))
    assert result.code == 2 and "utk_train.csv:1" in result.err
