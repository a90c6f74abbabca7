"""The CIFAR pickle reader: what numpy writes at every protocol reads back; the Python 2 style
writer produces the release's opcodes; a pickle naming anything outside the allowed numpy
helpers is refused without running it (a payload that would create a file leaves no file);
truncated, garbage and trailing bytes are one error line naming the file."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import pickletools

import numpy as np
import pytest

from perloc.bench.core.errors import UserError
from perloc.datasets.cifar_pickle import ALLOWED, RestrictedUnpickler, dump_batch, load_batch

ROWS = np.arange(4 * 3072, dtype=np.int64).reshape(4, 3072).astype(np.uint8)


def _globals(raw: bytes) -> set[str]:
    """The module.name pairs a pickle asks its unpickler for."""
    asked = set()

    class Logging(RestrictedUnpickler):
        def find_class(self, module, name):
            asked.add(f"{module}.{name}")
            return super().find_class(module, name)

    Logging(io.BytesIO(raw), encoding="bytes").load()
    return asked


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_reads_numpy_pickles_at_every_protocol(tmp_path, protocol):
    path = tmp_path / "batch"
    batch = {b"data": ROWS, "labels": [1, 2, 3, np.int64(4)], b"batch_label": b"x",
             "wide": np.arange(3, dtype=">i8")}
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    assert {tuple(g.rsplit(".", 1)) for g in _globals(path.read_bytes())} <= ALLOWED
    got = load_batch(path)
    assert set(got) == {"data", "labels", "batch_label", "wide"}
    np.testing.assert_array_equal(got["data"], ROWS)
    assert got["labels"] == [1, 2, 3, 4] and got["batch_label"] == b"x"
    np.testing.assert_array_equal(got["wide"], [0, 1, 2])


def test_the_python2_writer_uses_the_release_opcodes(tmp_path):
    path = tmp_path / "data_batch_1"
    dump_batch({"data": ROWS, "labels": [0, 9, 3, 3], "batch_label": "training batch 1 of 5",
                "filenames": ["a.png", "b" * 300, "c", "d"]}, path)
    raw = path.read_bytes()
    assert raw[:2] == b"\x80\x02"
    assert _globals(raw) == {"numpy.core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype"}
    ops = {op.name for op, _, _ in pickletools.genops(raw)}
    assert {"SHORT_BINSTRING", "BINSTRING"} <= ops and not ops & {"BINUNICODE", "BINBYTES"}
    plain = pickle.loads(raw, encoding="bytes")  # as the release's own instructions read it
    assert set(plain) == {b"data", b"labels", b"batch_label", b"filenames"}
    np.testing.assert_array_equal(plain[b"data"], ROWS)
    assert plain[b"filenames"][1] == b"b" * 300
    assert set(pickle.loads(raw, encoding="latin1")) == {"data", "labels", "batch_label",
                                                         "filenames"}  # as torchvision reads it
    assert load_batch(path)["labels"] == [0, 9, 3, 3]


class _Reduce:
    """An object that pickles as ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker):
    """(pickled bytes, the name the refusal must give) of objects whose loading would create
    ``marker``."""
    exec_code = f"open({str(marker)!r}, 'w').close()"
    in_data = {b"data": ROWS, b"labels": [_Reduce(builtins.open, str(marker), "w")]}
    return {
        "os.system": (pickle.dumps(_Reduce(os.system, f"touch {marker}"), protocol=2),
                      f"{os.system.__module__}.system"),
        "builtins.open": (pickle.dumps(_Reduce(builtins.open, str(marker), "w"), protocol=4),
                          "io.open"),
        "builtins.exec": (pickle.dumps(_Reduce(builtins.exec, exec_code), protocol=0),
                          "__builtin__.exec"),  # protocol 0 writes Python 2's module name
        "inside a batch": (pickle.dumps(in_data, protocol=2), "io.open"),
    }


@pytest.mark.parametrize("name", ["os.system", "builtins.open", "builtins.exec", "inside a batch"])
def test_a_forbidden_class_is_refused_and_nothing_runs(tmp_path, name):
    marker = tmp_path / "pwned"
    raw, refused = _payloads(marker)[name]
    path = tmp_path / "data_batch_1"
    path.write_bytes(raw)
    with pytest.raises(UserError) as caught:
        load_batch(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ") and \
        f"refused to load {refused}" in message, message
    assert not marker.exists()


def test_the_payloads_are_live_for_an_unrestricted_reader(tmp_path):
    """The control: plain ``pickle.loads`` of the same bytes does create the file."""
    marker = tmp_path / "pwned"
    pickle.loads(_payloads(marker)["builtins.open"][0])
    assert marker.exists()


def test_codecs_encode_is_narrowed_to_latin1(tmp_path):
    path = tmp_path / "batch"
    import _codecs

    path.write_bytes(pickle.dumps({b"data": _Reduce(_codecs.encode, "x", "rot13")}, protocol=2))
    with pytest.raises(UserError, match="_codecs.encode with 'rot13' is not allowed"):
        load_batch(path)


@pytest.mark.parametrize("cut", [1, 100, 5000, -1])
def test_a_truncated_pickle_names_the_file(tmp_path, cut):
    path = tmp_path / "test_batch"
    dump_batch({"data": ROWS, "labels": [0, 1, 2, 3]}, path)
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(UserError) as caught:
        load_batch(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


@pytest.mark.parametrize("raw, needle", [
    (b"", "truncated pickle"),
    (b"hello world", "not a readable CIFAR pickle"),
    (pickle.dumps({b"a": 1}, protocol=2) + b"junk", "4 bytes after the pickle's end"),
    (pickle.dumps([1, 2], protocol=2), "holds a list, not the dict of a CIFAR batch"),
    (pickle.dumps({1: 2}, protocol=2), "a key 1 that is not a string"),
])
def test_garbage_names_the_file(tmp_path, raw, needle):
    path = tmp_path / "batches.meta"
    path.write_bytes(raw)
    with pytest.raises(UserError) as caught:
        load_batch(path)
    assert str(caught.value).startswith(f"{path}: ") and needle in str(caught.value)


def test_a_missing_file_names_it(tmp_path):
    with pytest.raises(UserError, match=f"{tmp_path / 'meta'}: file not found"):
        load_batch(tmp_path / "meta")
