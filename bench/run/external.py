"""External predictions: ``bench export`` writes the test examples, ``bench score`` scores a
predictions file made elsewhere, so a model trained in any framework gets a leaderboard row
(origin ``external``) scored by the same metrics, slices, CIs and reports.

Example ids are positions in the test split's order for a (task, profile, seed, selection)
and a dataset version: ``000000``, ``000001``, ... The export folder holds

* ``ids.csv``: ``id`` and the condition columns of every test example;
* ``inputs.npz``: the task's input columns stacked over the test split (where it declares
  them), row i belonging to id i;
* ``predictions-template.csv``: the predictions file's header and ids;
* ``manifest.json``: task, profile, seed, selection, dataset version, prediction columns.

Predictions file: CSV with a header, one row per id, every id exactly once. A scalar target
(``tau``) is one column named like it; a vector target of k values (``position``) is k
columns ``position_0 .. position_{k-1}``; a classification target takes the class index or the
class name. Values must be finite numbers.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.errors import UserError
from perloc.bench.core.task import TaskSpec
from perloc.bench.store.record_files import write_atomic

ID_WIDTH = 6


@dataclass(frozen=True)
class _NoParams:
    pass


def _ids(start: int, n: int) -> np.ndarray:
    return np.array([f"{i:0{ID_WIDTH}d}" for i in range(start, start + n)], dtype=object)


def prediction_columns(task: TaskSpec, batch: Batch) -> list[str]:
    """The predictions file's value columns for the task's target in ``batch``."""
    target = np.asarray(batch[task.target])
    if target.ndim == 1:
        return [task.target]
    width = int(np.prod(target.shape[1:]))
    return [f"{task.target}_{i}" for i in range(width)]


def export(task: TaskSpec, dataset, profile: str, seed: int, where: dict, out: Path) -> dict:
    """Write the export folder (see the module docstring); returns the manifest."""
    spec = task.profile(profile)
    meta, inputs, columns, n = [], {}, None, 0
    for batch in dataset.batches("test", spec.batch_size):
        columns = columns or prediction_columns(task, batch)
        ids = _ids(n, len(batch))
        meta += [{"id": i, **{k: _plain(v[j]) for k, v in batch.meta.items()}}
                 for j, i in enumerate(ids)]
        for name in task.inputs:
            inputs.setdefault(name, []).append(np.asarray(batch[name]))
        n += len(batch)
    manifest = {"task": task.name, "profile": profile, "seed": seed,
                "where": {k: list(v) for k, v in where.items()}, "n_examples": n,
                "dataset": {"name": dataset.describe().get("name"), "version": dataset.version},
                "prediction_columns": columns, "classes": list(getattr(dataset, "classes", [])),
                "inputs": list(task.inputs)}
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "ids.csv", list(meta[0]) if meta else ["id"], meta)
    _write_csv(out / "predictions-template.csv", ["id", *columns],
               [{"id": row["id"]} for row in meta])
    if inputs:
        np.savez(out / "inputs.npz", **{k: np.concatenate(v) for k, v in inputs.items()})
    write_atomic(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


class ExternalPredictions:
    """A predictions file as a method: ``predict`` hands back the file's rows of a batch."""

    def __init__(self, name: str, task: TaskSpec, path: Path, dataset) -> None:
        self.card = MethodCard(name, task.name, "external", _NoParams,
                               reference=f"external predictions {path.name}",
                               capabilities=frozenset())
        self.path, self.task, self.dataset = path, task, dataset
        self.digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self.classes = list(getattr(dataset, "classes", []))
        self._rows: dict[str, list[float]] | None = None
        self._next = 0

    def _load(self, columns: list[str], n: int) -> dict[str, list[float]]:
        rows = read_predictions(self.path, columns, self.classes)
        expected = set(_ids(0, n))
        missing, extra = sorted(expected - set(rows)), sorted(set(rows) - expected)
        if missing:
            raise UserError(f"{self.path}: no prediction for id {missing[0]} "
                            f"({len(missing)} of {n} ids missing)")
        if extra:
            raise UserError(f"{self.path}: unknown id {extra[0]!r} (the test split has ids "
                            f"{_ids(0, 1)[0]}..{_ids(n - 1, 1)[0]})")
        return rows

    def check(self, batch_size: int) -> None:
        """Read and validate the whole file against the test split, before any scoring."""
        first = next(iter(self.dataset.batches("test", batch_size)))
        self.columns = prediction_columns(self.task, first)
        n = sum(len(b) for b in self.dataset.batches("test", batch_size))
        self._rows = self._load(self.columns, n)
        self._shape = np.asarray(first[self.task.target]).shape[1:]

    def predict(self, batch: Batch) -> Batch:
        ids = _ids(self._next, len(batch))
        self._next += len(batch)
        values = np.array([self._rows[i] for i in ids], dtype=np.float64)
        return Batch({self.task.target: values.reshape(len(batch), *self._shape)},
                     dict(batch.meta))


def read_predictions(path: Path, columns: list[str], classes: list[str]
                     ) -> dict[str, list[float]]:
    """id -> values of ``columns``; any malformed row is one UserError naming file and row."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"--pred {path}: cannot read ({exc.strerror})") from None
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            absent = [c for c in ["id", *columns] if c not in header]
            if absent:
                raise UserError(f"{path}: header has no column {absent[0]!r} "
                                f"(expected: id, {', '.join(columns)})")
            rows: dict[str, list[float]] = {}
            for number, row in enumerate(reader, start=2):
                key = (row.get("id") or "").strip()
                if key in rows:
                    raise UserError(f"{path}: row {number}: id {key!r} appears twice")
                rows[key] = [_number(path, number, c, row.get(c), classes) for c in columns]
        except UnicodeDecodeError:
            raise UserError(f"{path}: not UTF-8 text") from None
        except csv.Error as exc:
            raise UserError(f"{path}: malformed CSV ({exc})") from None
    return rows


def _number(path: Path, row: int, column: str, text: str | None, classes: list[str]) -> float:
    text = (text or "").strip()
    if text in classes:
        return float(classes.index(text))
    try:
        value = float(text)
    except ValueError:
        raise UserError(f"{path}: row {row}: column {column}: {text!r} is not a number"
                        + (" or a class name" if classes else "")) from None
    if not np.isfinite(value):
        raise UserError(f"{path}: row {row}: column {column}: {text!r} is not finite")
    return value
