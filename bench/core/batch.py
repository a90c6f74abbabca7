"""Columnar batches: name -> array with a shared leading dimension, plus condition columns."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perloc.bench.core import device

Array = Any  # numpy.ndarray or torch.Tensor


def _length(values: Mapping[str, Array]) -> int | None:
    lengths = {len(v) for v in values.values()}
    if len(lengths) > 1:
        raise ValueError(f"batch columns disagree on the leading dimension: {sorted(lengths)}")
    return lengths.pop() if lengths else None


@dataclass
class Batch:
    """A mapping of name -> array (numpy or torch) with leading dimension B.

    ``meta`` holds condition columns (``snr``, ``t60``, ``speaker``, ``file`` ...) as numpy
    arrays of the same length; metrics slice on them.
    """

    data: dict[str, Array]
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_data, n_meta = _length(self.data), _length(self.meta)
        if n_data is not None and n_meta is not None and n_data != n_meta:
            raise ValueError(f"batch data has {n_data} rows but meta has {n_meta}")

    def __len__(self) -> int:
        n = _length(self.data)
        return n if n is not None else (_length(self.meta) or 0)

    def __getitem__(self, name: str) -> Array:
        return self.data[name]

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def take(self, index: np.ndarray) -> Batch:
        """Rows selected by an integer or boolean index."""
        return Batch(
            {k: v[index] for k, v in self.data.items()},
            {k: v[index] for k, v in self.meta.items()},
        )

    def chunks(self, size: int, limit: int | None = None) -> Iterator[Batch]:
        """Consecutive row blocks of at most ``size`` rows (the first ``limit`` rows only)."""
        stop = len(self) if limit is None else min(len(self), limit)
        for start in range(0, stop, size):
            yield self.take(np.arange(start, min(start + size, stop)))

    @staticmethod
    def concat(batches: Iterable[Batch]) -> Batch:
        """Stack batches row-wise (numpy columns only; torch columns are converted)."""
        batches = list(batches)
        if not batches:
            return Batch({}, {})
        data = {k: _stack_rows([_to_numpy(b.data[k]) for b in batches]) for k in batches[0].data}
        meta = {k: np.concatenate([b.meta[k] for b in batches]) for k in batches[0].meta}
        return Batch(data, meta)


def _stack_rows(arrays: list[np.ndarray]) -> np.ndarray:
    """Concatenate along rows; float arrays that differ in their second axis (e.g. a per-
    microphone column of batches with different microphone counts) are NaN-padded to the
    largest size first."""
    shapes = {a.shape[1:] for a in arrays}
    if len(shapes) > 1 and all(a.ndim >= 2 and np.issubdtype(a.dtype, np.floating)
                               and a.shape[2:] == arrays[0].shape[2:] for a in arrays):
        width = max(a.shape[1] for a in arrays)
        arrays = [np.pad(a.astype(np.float64), [(0, 0), (0, width - a.shape[1])]
                         + [(0, 0)] * (a.ndim - 2), constant_values=np.nan) for a in arrays]
    return np.concatenate(arrays)


def _to_numpy(value: Array) -> np.ndarray:
    if hasattr(value, "detach"):
        return device.host(value)
    return np.asarray(value)
