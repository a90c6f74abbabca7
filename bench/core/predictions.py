"""How a task's predictions are written as CSV cells (``bench export`` / ``bench score``).

A task names its format in ``TaskSpec.prediction_format``; the default suits array targets.
A format maps the target of a batch to column names and one CSV row's cells back to one
prediction; it raises ``ValueError`` with a short reason, which the reader turns into one
error line naming the file, row and column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class PredictionFormat(Protocol):
    def columns(self, target: str, truth: np.ndarray) -> list[str]:
        """Value columns of the predictions file (after ``id``) for targets like ``truth``."""

    def parse(self, cells: list[str], classes: list[str]) -> Any:
        """One row's value cells -> one prediction; ``ValueError(reason)`` when malformed."""

    def stack(self, values: list[Any], truth: np.ndarray) -> np.ndarray:
        """Predictions of one batch, shaped like the batch's ``truth``."""


def _number(text: str, classes: list[str]) -> float:
    text = text.strip()
    if text in classes:
        return float(classes.index(text))
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number" + (" or a class name" if classes else "")
                         ) from None
    if not np.isfinite(value):
        raise ValueError(f"{text!r} is not finite")
    return value


@dataclass(frozen=True)
class ArrayColumns:
    """A scalar target is one column named like it; a target of k values per example
    (``position``) is k columns ``position_0 .. position_{k-1}``; class targets take the class
    index or name. Values must be finite."""

    def columns(self, target: str, truth: np.ndarray) -> list[str]:
        if truth.ndim == 1:
            return [target]
        return [f"{target}_{i}" for i in range(int(np.prod(truth.shape[1:])))]

    def parse(self, cells: list[str], classes: list[str]) -> list[float]:
        return [_number(c, classes) for c in cells]

    def stack(self, values: list[Any], truth: np.ndarray) -> np.ndarray:
        return np.array(values, dtype=np.float64).reshape(len(values), *truth.shape[1:])


@dataclass(frozen=True)
class ListColumn:
    """A ragged target (a list of labels per example, e.g. the events heard in a clip) is one
    column of ``separator``-separated class names or indices; an empty cell is an empty list."""

    separator: str = " "

    def columns(self, target: str, truth: np.ndarray) -> list[str]:
        return [target]

    def parse(self, cells: list[str], classes: list[str]) -> np.ndarray:
        tokens = [t for t in cells[0].split(self.separator) if t.strip()]
        values = [_number(t, classes) for t in tokens]
        if any(v != int(v) or v < 0 for v in values):
            raise ValueError(f"{cells[0]!r} holds a label that is not a class index")
        return np.array(values, dtype=np.int64)

    def stack(self, values: list[Any], truth: np.ndarray) -> np.ndarray:
        out = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            out[i] = value
        return out
