"""The CIFAR-10 / CIFAR-100 adapters on tiny hand-written pickles in the release layout (written
by Python 3's own pickler, bytes keys, as a re-pickled copy would be): pixel layout, labels,
names, splits, batches, version, the two root conventions, ``bench data check``; and each bad
input (missing file, truncated pickle, forbidden class, wrong shape or type, labels out of
range or miscounted, bad meta) as one error line naming the file, exit 2 through the CLI, no
file written and nothing executed."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from perloc.bench.core.errors import UserError
from perloc.datasets.cifar import Cifar10, Cifar100
from perloc.datasets.cifar_names import CIFAR10_NAMES, CIFAR100_COARSE, CIFAR100_FINE
from tests.bench.cli_helpers import invoke

TRAIN_SIZES = (3, 2, 4, 1, 2)


def _rows(n: int, first: int) -> np.ndarray:
    """uint8 rows whose pixels encode (image, channel, y, x) so the layout can be checked."""
    i, c, y, x = np.meshgrid(np.arange(n) + first, np.arange(3), np.arange(32), np.arange(32),
                             indexing="ij")
    return ((i * 7 + c * 50 + y * 3 + x) % 256).astype(np.uint8).reshape(n, 3072)


def _dump(obj, path, protocol=2):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


@pytest.fixture
def cifar10_root(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    first = 0
    for k, n in enumerate(TRAIN_SIZES, start=1):
        _dump({b"batch_label": f"training batch {k} of 5".encode(),
               b"labels": [(first + i) % 10 for i in range(n)], b"data": _rows(n, first),
               b"filenames": [f"img_{first + i}.png".encode() for i in range(n)]},
              folder / f"data_batch_{k}", protocol=2 if k % 2 else 4)
        first += n
    _dump({b"batch_label": b"testing batch 1 of 1", b"labels": [9, 0, 5],
           b"data": _rows(3, 100), b"filenames": [b"t0.png", b"t1.png", b"t2.png"]},
          folder / "test_batch")
    _dump({b"num_cases_per_batch": 4, b"num_vis": 3072,
           b"label_names": [n.encode() for n in CIFAR10_NAMES]}, folder / "batches.meta")
    return tmp_path


@pytest.fixture
def cifar100_root(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n, first in (("train", 6, 0), ("test", 3, 50)):
        fine = [(17 * (first + i)) % 100 for i in range(n)]
        _dump({b"filenames": [f"{name}{i}.png".encode() for i in range(n)],
               b"batch_label": f"{name} batch 1 of 1".encode(), b"fine_labels": fine,
               b"coarse_labels": [f % 20 for f in fine], b"data": _rows(n, first)}, folder / name)
    _dump({b"fine_label_names": [n.encode() for n in CIFAR100_FINE],
           b"coarse_label_names": [n.encode() for n in CIFAR100_COARSE]}, folder / "meta")
    return tmp_path


def test_reads_the_hand_written_cifar10(cifar10_root):
    data = Cifar10(cifar10_root)
    assert data.class_names == CIFAR10_NAMES and data.provenance.kind == "real"
    assert data.splits() == {"train": tuple(f"data_batch_{k}" for k in range(1, 6)),
                             "test": ("test_batch",)}
    images = data.images("train")
    assert images.shape == (12, 3, 32, 32) and images.dtype == np.uint8
    i, c, y, x = 5, 2, 17, 30  # data_batch_3's first image, blue plane
    assert images[i, c, y, x] == (i * 7 + c * 50 + y * 3 + x) % 256
    np.testing.assert_array_equal(data.labels("train"), np.arange(12) % 10)
    np.testing.assert_array_equal(data.labels("test"), [9, 0, 5])
    batches = list(data.batches("test", 2))
    assert [len(b) for b in batches] == [2, 1]
    assert batches[0]["image"].shape == (2, 3, 32, 32)
    assert list(batches[0].meta["class"]) == ["truck", "airplane"]
    assert list(batches[1].meta["index"]) == [2]
    assert [len(b) for b in data.batches("train", 5, limit=7)] == [5, 2]
    info = data.describe()
    assert info["n_images"] == {"train": 12, "test": 3} and info["n_files"] == {"train": 5, "test": 1}


def test_the_root_may_be_the_batches_folder_itself(cifar10_root):
    inner = Cifar10(cifar10_root / "cifar-10-batches-py")
    assert inner.version == Cifar10(cifar10_root).version


def test_version_follows_content(cifar10_root):
    before = Cifar10(cifar10_root).version
    path = cifar10_root / "cifar-10-batches-py" / "test_batch"
    batch = pickle.loads(path.read_bytes(), encoding="bytes")
    batch[b"labels"][0] = 8
    _dump(batch, path)
    assert Cifar10(cifar10_root).version != before


def test_reads_the_hand_written_cifar100(cifar100_root):
    data = Cifar100(cifar100_root)
    assert data.class_names == CIFAR100_FINE and data.coarse_names == CIFAR100_COARSE
    fine = data.labels("train")
    np.testing.assert_array_equal(fine, [(17 * i) % 100 for i in range(6)])
    np.testing.assert_array_equal(data.coarse_labels("train"), fine % 20)
    (batch,) = data.batches("test", 10)
    assert list(batch.meta["superclass"]) == [CIFAR100_COARSE[f % 20] for f in batch["label"]]
    assert data.images("test").shape == (3, 3, 32, 32)


def test_cifar10_has_no_coarse_labels(cifar10_root):
    with pytest.raises(UserError, match="cifar10 has no coarse labels"):
        Cifar10(cifar10_root).coarse_labels("train")


def test_bench_data_check_lists_every_file(cifar10_root, capsys):
    result = invoke(capsys, "data", "check", "cifar10", "--root", str(cifar10_root))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "real" in lines[0] and "10 classes" in lines[0]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows["data_batch_3"] == ["train", "4", "4", "0", "1"]
    assert rows["test_batch"] == ["test", "3", "3", "0", "1"]


# ------------------------------------------------------------------------------ bad input


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _edit(root, name, change, folder="cifar-10-batches-py"):
    path = root / folder / name
    batch = pickle.loads(path.read_bytes(), encoding="bytes")
    change(batch)
    _dump(batch, path)
    return path


def _missing(root):
    path = root / "cifar-10-batches-py" / "data_batch_3"
    path.unlink()
    return path, "file not found"


def _truncated(root):
    path = root / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(path.read_bytes()[:-500])
    return path, "truncated pickle"


def _forbidden(root):
    path = root / "cifar-10-batches-py" / "data_batch_4"
    _dump({b"data": _System(f"touch {root / 'pwned'}"), b"labels": [0]}, path)
    return path, "refused to load"


def _set(key, value):
    return lambda batch: batch.__setitem__(key, value)


def _case(name, key, value, needle, file="data_batch_1"):
    def damage(root):
        return _edit(root, file, _set(key, value)), needle

    damage.__name__ = name
    return damage


DAMAGE = [
    _missing, _truncated, _forbidden,
    _case("short_rows", b"data", np.zeros((3, 3071), np.uint8),
          "'data' is uint8 of shape (3, 3071), expected uint8 N x 3072"),
    _case("float_data", b"data", np.zeros((3, 3072), np.float32), "'data' is float32"),
    _case("image_array", b"data", np.zeros((3, 3, 32, 32), np.uint8), "shape (3, 3, 32, 32)"),
    _case("no_data", b"data", None, "no 'data' entry"),
    _case("label_10", b"labels", [0, 10, 2], "labels[1] = 10 is outside 0..9"),
    _case("negative_label", b"labels", [0, 1, -1], "labels[2] = -1 is outside 0..9"),
    _case("two_labels", b"labels", [0, 1], "2 labels for 3 images"),
    _case("text_labels", b"labels", [b"cat", 1, 2], "'labels' is not a list of integers"),
    _case("filenames", b"filenames", [b"a.png"], "'filenames' holds 1 entries for 3 images"),
    _case("nine_names", b"label_names", [b"x"] * 9, "'label_names' has 9 names, expected 10",
          file="batches.meta"),
    _case("no_names", b"label_names", None, "no 'label_names' list of class names",
          file="batches.meta"),
]


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize("damage", DAMAGE, ids=lambda f: f.__name__.strip("_"))
def test_bad_input_is_one_error_line_naming_the_file(cifar10_root, damage, capsys):
    path, needle = damage(cifar10_root)
    before = _files(cifar10_root)
    with pytest.raises(UserError) as caught:
        Cifar10(cifar10_root)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ") and needle in message, message
    result = invoke(capsys, "data", "check", "cifar10", "--root", str(cifar10_root))
    lines = result.err.strip().splitlines()
    assert result.code == 2 and lines == [f"error: {message}"] and result.out == "", result
    assert _files(cifar10_root) == before and not (cifar10_root / "pwned").exists()


@pytest.mark.parametrize("file, key, value, needle", [
    ("train", b"coarse_labels", [0, 1, 2, 3, 4, 20], "coarse_labels[5] = 20 is outside 0..19"),
    ("test", b"fine_labels", [0, 100, 1], "fine_labels[1] = 100 is outside 0..99"),
    ("meta", b"coarse_label_names", [b"x"] * 100, "'coarse_label_names' has 100 names, "
                                                  "expected 20"),
])
def test_cifar100_bad_input(cifar100_root, capsys, file, key, value, needle):
    path = _edit(cifar100_root, file, _set(key, value), folder="cifar-100-python")
    with pytest.raises(UserError) as caught:
        Cifar100(cifar100_root)
    assert str(caught.value).startswith(f"{path}: ") and needle in str(caught.value)
    result = invoke(capsys, "data", "check", "cifar100", "--root", str(cifar100_root))
    assert result.code == 2 and result.err.strip() == f"error: {caught.value}"


def test_a_missing_root_names_the_flag(tmp_path, capsys):
    with pytest.raises(UserError, match=f"--data-root: {tmp_path / 'nope'} does not exist"):
        Cifar10(tmp_path / "nope")
    result = invoke(capsys, "data", "check", "cifar10", "--root", str(tmp_path / "nope"))
    assert result.code == 2 and result.err.strip() == \
        f"error: --root: {tmp_path / 'nope'} does not exist"
