"""The CIFAR python batches as pickles: a restricted reader and a Python 2 style writer.

The CIFAR python release (spec kws_fl.md §6) ships every batch as a dict pickled by Python 2
(protocol 2): keys and text are Python 2 ``str``, which ``pickle.load(f, encoding='bytes')``
turns into ``bytes``; ``data`` is a numpy array, rebuilt through
``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype``.

A pickle can call any importable function while it loads (``os.system`` included), so
:func:`load_batch` reads with :class:`RestrictedUnpickler`, whose ``find_class`` resolves only
the names in :data:`ALLOWED`: the numpy array and scalar reconstruction helpers under their
numpy 1 (``numpy.core``) and numpy 2 (``numpy._core``) module names, ``numpy.ndarray``,
``numpy.dtype``, numpy's protocol-5 ``_frombuffer``, and ``_codecs.encode`` (how Python 3
writes ``bytes`` at protocol 2), the last one narrowed to the latin-1 codec. Any other name is
refused before it is imported, so nothing it names runs. The dict is then returned with ``str``
keys and ``bytes`` text decoded (so a batch written by Python 3 with ``str`` keys reads the
same).

:func:`dump_batch` writes a dict the way the Python 2 release did (protocol 2, ``bytes`` as
Python 2 ``str`` opcodes, arrays through ``numpy.core.multiarray._reconstruct``): the
stand-ins use it, and their files need nothing beyond what the real ones need.
"""

from __future__ import annotations

import importlib
import io
import pickle
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from perloc.bench.core.errors import UserError
from perloc.datasets.audio import require_file

__all__ = ["ALLOWED", "RestrictedUnpickler", "dump_batch", "load_batch"]


def _numpy_core(submodule: str) -> Any:
    """``numpy._core.<submodule>`` (numpy 2), else ``numpy.core.<submodule>`` (numpy 1)."""
    try:
        return importlib.import_module(f"numpy._core.{submodule}")
    except ImportError:  # pragma: no cover  (numpy < 1.26)
        return importlib.import_module(f"numpy.core.{submodule}")


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 uses it to pickle ``bytes`` at protocol < 3, for the
    latin-1 codec only (no other codec is looked up)."""
    if not isinstance(text, str) or encoding.lower().replace("-", "") not in ("latin1", "l1",
                                                                             "iso88591"):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed")
    return text.encode("latin-1")


def _resolvers() -> dict[tuple[str, str], Callable[[], Any]]:
    multiarray = lambda name: lambda: getattr(_numpy_core("multiarray"), name)  # noqa: E731
    numeric = lambda name: lambda: getattr(_numpy_core("numeric"), name)  # noqa: E731
    out: dict[tuple[str, str], Callable[[], Any]] = {
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("_codecs", "encode"): lambda: _latin1_encode,
    }
    for core in ("numpy.core", "numpy._core"):
        out[(f"{core}.multiarray", "_reconstruct")] = multiarray("_reconstruct")
        out[(f"{core}.multiarray", "scalar")] = multiarray("scalar")
        out[(f"{core}.numeric", "_frombuffer")] = numeric("_frombuffer")
    return out


_RESOLVERS = _resolvers()
ALLOWED: frozenset[tuple[str, str]] = frozenset(_RESOLVERS)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the (module, name) pairs of :data:`ALLOWED`."""

    def find_class(self, module: str, name: str) -> Any:
        resolve = _RESOLVERS.get((module, name))
        if resolve is None:
            raise pickle.UnpicklingError(f"refused to load {module}.{name} (a CIFAR batch holds "
                                         "only numpy arrays, lists, numbers and strings)")
        return resolve()


def _text_keys(obj: dict, path: Path) -> dict[str, Any]:
    out = {}
    for key, value in obj.items():
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        if not isinstance(key, str):
            raise UserError(f"{path}: a key {key!r} that is not a string (not a CIFAR batch)")
        out[key] = value
    return out


def load_batch(path: Path) -> dict[str, Any]:
    """The dict pickled in ``path`` with ``str`` keys, read by :class:`RestrictedUnpickler`
    (``encoding='bytes'``, as the release is meant to be read). A missing file, a truncated or
    damaged pickle, a refused class, trailing bytes or a value other than a dict are one
    UserError naming the file."""
    path = Path(path)
    require_file(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror or exc})") from None
    stream = io.BytesIO(raw)
    try:
        obj = RestrictedUnpickler(stream, encoding="bytes").load()
    except EOFError:
        raise UserError(f"{path}: truncated pickle (ends before its STOP opcode)") from None
    except pickle.UnpicklingError as exc:
        if "truncated" in str(exc):
            raise UserError(f"{path}: truncated pickle ({exc})") from None
        raise UserError(f"{path}: not a readable CIFAR pickle ({exc})") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, struct.error,
            MemoryError, RecursionError, UnicodeDecodeError, OverflowError) as exc:
        raise UserError(f"{path}: damaged pickle ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None
    if stream.tell() != len(raw):
        raise UserError(f"{path}: {len(raw) - stream.tell()} bytes after the pickle's end")
    if not isinstance(obj, dict):
        raise UserError(f"{path}: holds a {type(obj).__name__}, not the dict of a CIFAR batch")
    return _text_keys(obj, path)


# ------------------------------------------------------------------------------------ writer


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can be extended
    """Protocol 2 as Python 2's cPickle wrote the CIFAR files: ``bytes`` as Python 2 ``str``
    (SHORT_BINSTRING / BINSTRING), arrays through ``numpy.core.multiarray._reconstruct``."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    def save_array(self, obj: np.ndarray) -> None:
        if obj.dtype.hasobject or obj.dtype.names is not None:
            raise TypeError("only plain numeric arrays are written")
        write = self.write
        write(pickle.GLOBAL + b"numpy.core.multiarray\n_reconstruct\n")
        write(pickle.GLOBAL + b"numpy\nndarray\n")
        self.save((0,))
        self.save(b"b")
        write(pickle.TUPLE3 + pickle.REDUCE)
        self.memoize(obj)
        dtype = obj.dtype
        order = b"|" if dtype.byteorder == "|" else b"<"
        write(pickle.MARK)
        self.save(1)
        self.save(tuple(obj.shape))
        write(pickle.GLOBAL + b"numpy\ndtype\n")
        self.save((dtype.str[1:].encode(), 0, 1))
        write(pickle.REDUCE)
        self.save((3, order, None, None, None, -1, -1, 0))
        write(pickle.BUILD)
        self.save(False)
        self.save(np.ascontiguousarray(obj, dtype=dtype.newbyteorder("<")).tobytes())
        write(pickle.TUPLE + pickle.BUILD)

    dispatch[bytes] = save_py2_str
    dispatch[np.ndarray] = save_array


def _to_py2(obj: Any) -> Any:
    """Text as bytes (Python 2 ``str``), recursively through dicts and lists."""
    if isinstance(obj, str):
        return obj.encode("latin-1")
    if isinstance(obj, dict):
        return {_to_py2(k): _to_py2(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_py2(v) for v in obj]
    return obj


def dump_batch(obj: dict, path: Path) -> None:
    """Write ``obj`` (text keys and values, ints, lists, numpy arrays) as the release's
    Python 2 protocol-2 pickle."""
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(_to_py2(obj))
    Path(path).write_bytes(buffer.getvalue())
