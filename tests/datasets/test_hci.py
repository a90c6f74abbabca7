"""HCI decade folders: a hand-written fixture (decade colours, sizes, a grey photo), the three
root conventions, folder -> label in chronological order, the paper's random 80/20 split per
decade (changes with the seed) and the official first-80 % split (does not), hci-sim read
back by the same adapter, and each bad folder or file as one UserError naming it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from perloc.bench.core.errors import UserError
from perloc.datasets.hci import DECADES, Hci
from perloc.datasets.synth.hci_sim import SimSize, write_hci_sim
from tests.bench.cli_helpers import invoke

COLOURS = {"1930s": (200, 10, 10), "1940s": (10, 200, 10), "1950s": (10, 10, 200),
           "1960s": (200, 200, 10), "1970s": (10, 200, 200)}


def _jpeg_bytes(colour, size, mode="RGB"):
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def _database(folder, per_decade=10):
    for k, decade in enumerate(reversed(DECADES)):  # created out of order on purpose
        (folder / decade).mkdir(parents=True)
        data = _jpeg_bytes(COLOURS[decade], (40 + 7 * k, 30 + 5 * k))
        for i in range(per_decade):
            (folder / decade / f"img{i:03d}.jpg").write_bytes(data)
    return folder


@pytest.fixture
def hci(tmp_path):
    _database(tmp_path / "decade_database")
    (tmp_path / "decade_database" / "1950s" / "img003.jpg").write_bytes(
        _jpeg_bytes(90, (50, 70), mode="L"))
    return tmp_path


def test_fixture_read_back(hci):
    data = Hci(hci)
    assert (data.name, data.target_names, data.unit) == ("hci", ("decade",), "decades")
    assert data.classes == ("1930s", "1940s", "1950s", "1960s", "1970s")
    rows = np.arange(50)
    targets = data.targets(rows)
    assert targets.dtype == np.float64 and targets.shape == (50, 1)
    meta = data.meta(rows)
    order = {"1930s": 0, "1940s": 1, "1950s": 2, "1960s": 3, "1970s": 4}
    assert [order[d] for d in meta["decade"]] == targets[:, 0].astype(int).tolist()
    assert targets[:, 0].tolist() == sorted(targets[:, 0].tolist())
    images = data.images(rows, 24)
    assert images.dtype == np.uint8 and images.shape == (50, 3, 24, 24)
    for row in (0, 15, 47):
        expected = COLOURS[meta["decade"][row]]
        assert np.all(np.abs(images[row, :, 12, 12].astype(int) - expected) < 12)
    grey = int(np.flatnonzero(meta["file"] == "img003.jpg")[2])  # the 1950s one
    assert meta["decade"][grey] == "1950s"
    assert np.all(images[grey, :, 12, 12] == images[grey, 0, 12, 12])  # grey -> three channels
    assert abs(int(images[grey, 0, 12, 12]) - 90) < 4
    info = data.describe()
    assert info["per_decade"] == dict.fromkeys(DECADES, 10)
    assert info["n_images"] == {"train": 40, "test": 10}


@pytest.mark.parametrize("where", ["decade_database", ".",
                                   "HistoricalColor-ECCV2012/data/imgs/decade_database"])
def test_root_conventions(tmp_path, where):
    folder = _database(tmp_path / "x" / "decade_database" if where == "." else tmp_path / where,
                       per_decade=2)
    root = folder if where == "." else tmp_path
    data = Hci(root)
    assert data.folder == folder and len(data.paths) == 10


def test_random_split_per_decade_and_seed(tmp_path):
    data = Hci(_database(tmp_path / "decade_database", per_decade=265))
    a, b = data.split_rows(0), data.split_rows(1)
    for rows in (a, b):
        assert np.bincount(data.labels[rows["train"]]).tolist() == [212] * 5
        assert np.bincount(data.labels[rows["test"]]).tolist() == [53] * 5
        assert sorted(np.concatenate([rows["train"], rows["test"]])) == list(range(1325))
    assert not np.array_equal(a["test"], b["test"])
    assert np.array_equal(data.split_rows(0)["test"], a["test"])


def test_first_split_is_seed_independent(hci):
    data = Hci(hci, split="first")
    a, b = data.split_rows(0), data.split_rows(7)
    assert np.array_equal(a["train"], b["train"]) and np.array_equal(a["test"], b["test"])
    names = data.meta(a["test"])["file"].tolist()
    assert names == ["img008.jpg", "img009.jpg"] * 5  # the last 20 % in file-name order
    with pytest.raises(UserError, match="split"):
        Hci(hci, split="shuffle")


def test_sim_read_back(tmp_path):
    root = write_hci_sim(tmp_path / "hci", SimSize("tiny", 10), seed=4)
    data = Hci(root, split="first")
    assert data.provenance.kind == "synthetic"
    for k, decade in enumerate(DECADES):
        files = sorted((root / "decade_database" / decade).glob("*.jpg"))
        assert len(files) == 10
        rows = np.flatnonzero(data.meta(np.arange(50))["decade"] == decade)
        assert data.targets(rows)[:, 0].tolist() == [float(k)] * 10
    sizes = data.describe()["sizes"]
    assert sizes["width"][0] >= 160 and sizes["width"][1] <= 320
    assert len({tuple(s) for s in data.sizes.tolist()}) > 10  # various sizes
    assert data.images([0, 49], 32).shape == (2, 3, 32, 32)
    again = write_hci_sim(tmp_path / "hci2", SimSize("tiny", 10), seed=4)
    assert Hci(again).version == data.version


def _expect(path, root):
    with pytest.raises(UserError) as caught:
        Hci(root)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message
    return message


def test_empty_decade_folder(hci):
    folder = hci / "decade_database" / "1960s"
    for path in folder.iterdir():
        path.unlink()
    assert "no .jpg" in _expect(folder, hci)


def test_missing_decade_folder(hci):
    folder = hci / "decade_database" / "1940s"
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    assert "not found" in _expect(folder, hci)


def test_unexpected_folder(hci):
    (hci / "decade_database" / "1980s").mkdir()
    assert "1980s" in _expect(hci / "decade_database", hci)


def test_unreadable_jpeg(hci):
    path = hci / "decade_database" / "1970s" / "img004.jpg"
    path.write_bytes(b"GIF? no: garbage")
    _expect(path, hci)


def test_bench_data_check(hci, capsys):
    result = invoke(capsys, "data", "check", "hci", "--root", str(hci))
    assert result.code == 0 and "1970s" in result.out
    result = invoke(capsys, "data", "check", "hci", "--root", str(hci / "nowhere"))
    assert result.code == 2 and "--root" in result.err
