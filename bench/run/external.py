"""External predictions: ``bench export`` writes the test examples, ``bench score`` scores a
predictions file made elsewhere, so a model trained in any framework gets a leaderboard row
(origin ``external``) scored by the same metrics, slices, CIs and reports.

Example ids are ``<tag>-<position>``: the position in the test split's order, prefixed by a
tag of what fixes that order (task, profile, seed, selection, dataset version), e.g.
``3fa9c1-000000``; a file written for another export then fails on its first row instead of
being scored against the wrong examples. The export folder holds

* ``ids.csv``: ``id`` and the condition columns of every test example;
* ``inputs.npz``: the task's input columns stacked over the test split (where it declares
  them), row i belonging to id i;
* ``predictions-template.csv``: the predictions file's header and ids;
* ``manifest.json``: task, profile, seed, selection, dataset version, prediction columns.

Predictions file: CSV with a header ``id`` plus the value columns, one row per id, every id
exactly once; the task's ``prediction_format`` (``perloc.bench.core.predictions``) says how
its target is written (array columns by default, a list column for ragged targets).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard
from perloc.bench.core.errors import UserError
from perloc.bench.core.record import RunRecord
from perloc.bench.core.task import TaskSpec
from perloc.bench.run.evaluate import run_key, score_model

ID_WIDTH = 6


@dataclass(frozen=True)
class _NoParams:
    pass


def split_tag(task: str, profile: str, seed: int, where: dict, version: str) -> str:
    """Six hex digits naming one test split's order (the ids' prefix)."""
    blob = json.dumps([task, profile, seed, {k: list(v) for k, v in where.items()}, version],
                      sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:6]


def _ids(tag: str, start: int, n: int) -> np.ndarray:
    return np.array([f"{tag}-{i:0{ID_WIDTH}d}" for i in range(start, start + n)], dtype=object)


def prediction_columns(task: TaskSpec, batch: Batch) -> list[str]:
    """The predictions file's value columns for the task's target in ``batch``."""
    return task.prediction_format.columns(task.target, np.asarray(batch[task.target]))


def export(task: TaskSpec, dataset, profile: str, seed: int, where: dict, out: Path) -> dict:
    """Write the export folder (see the module docstring) whole or not at all; the manifest."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out: {out} exists and is not an empty folder")
    tag = split_tag(task.name, profile, seed, where, dataset.version)
    meta, inputs, columns, n = [], {}, None, 0
    for batch in dataset.batches("test", task.profile(profile).batch_size):
        columns = columns or prediction_columns(task, batch)
        scalar = {k: v for k, v in batch.meta.items() if np.asarray(v).ndim == 1}
        meta += [{"id": i, **{k: _plain(v[j]) for k, v in scalar.items()}}
                 for j, i in enumerate(_ids(tag, n, len(batch)))]
        for name in task.inputs:
            inputs.setdefault(name, []).append(np.asarray(batch[name]))
        n += len(batch)
    manifest = {"task": task.name, "profile": profile, "seed": seed,
                "where": {k: list(v) for k, v in where.items()}, "n_examples": n,
                "dataset": {"name": dataset.describe().get("name"), "version": dataset.version},
                "id_tag": tag, "prediction_columns": columns,
                "prediction_format": " ".join(task.prediction_format.__doc__.split()),
                "classes": list(getattr(dataset, "classes", [])), "inputs": list(task.inputs)}
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _write_csv(partial / "ids.csv", list(meta[0]) if meta else ["id"], meta)
    _write_csv(partial / "predictions-template.csv", ["id", *columns],
               [{"id": row["id"]} for row in meta])
    if inputs:
        np.savez(partial / "inputs.npz", **{k: np.concatenate(v) for k, v in inputs.items()})
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if out.exists():
        out.rmdir()
    partial.rename(out)
    return manifest


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def _write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


class ExternalPredictions:
    """A predictions file as a method: ``predict`` hands back the file's rows of a batch.

    Built by :meth:`load`, which reads and validates the whole file against the test split
    before anything is scored or written."""

    def __init__(self, name: str, task: TaskSpec, path: Path, dataset, tag: str) -> None:
        self.card = MethodCard(name, task.name, "external", _NoParams,
                               reference=f"external predictions {path.name}",
                               capabilities=frozenset())
        self.path, self.task, self.dataset, self.tag = path, task, dataset, tag
        self.digest = hashlib.sha256(path.read_bytes()).hexdigest()
        self.classes = list(getattr(dataset, "classes", []))
        self._rows: dict[str, object] = {}
        self._next = 0

    def load(self, batch_size: int) -> ExternalPredictions:
        """Read the file; every test id must appear once, and no other id."""
        batches = iter(self.dataset.batches("test", batch_size))
        first = next(batches)
        n = len(first) + sum(len(b) for b in batches)
        self._rows = read_predictions(self.path, prediction_columns(self.task, first),
                                      self.task, self.classes)
        expected = set(_ids(self.tag, 0, n))
        missing, extra = sorted(expected - set(self._rows)), sorted(set(self._rows) - expected)
        if extra:
            raise UserError(f"{self.path}: unknown id {extra[0]!r} (this test split's ids are "
                            f"{_ids(self.tag, 0, 1)[0]}..{_ids(self.tag, n - 1, 1)[0]}; was the "
                            "file made for another export?)")
        if missing:
            raise UserError(f"{self.path}: no prediction for id {missing[0]} "
                            f"({len(missing)} of {n} ids missing)")
        return self

    def predict(self, batch: Batch) -> Batch:
        ids = _ids(self.tag, self._next, len(batch))
        self._next += len(batch)
        values = self.task.prediction_format.stack([self._rows[i] for i in ids],
                                                   np.asarray(batch[self.task.target]))
        return Batch({self.task.target: values}, dict(batch.meta))


def read_predictions(path: Path, columns: list[str], task: TaskSpec, classes: list[str]
                     ) -> dict[str, object]:
    """id -> one parsed prediction; any malformed row is one UserError naming file and row."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise UserError(f"--pred {path}: cannot read ({exc.strerror})") from None
    with handle:
        try:
            return _rows(csv.DictReader(handle), path, columns, task.prediction_format, classes)
        except UnicodeDecodeError:
            raise UserError(f"{path}: not UTF-8 text") from None
        except csv.Error as exc:
            raise UserError(f"{path}: malformed CSV ({exc})") from None


def _rows(reader: csv.DictReader, path: Path, columns: list[str], fmt, classes: list[str]
          ) -> dict[str, object]:
    header = reader.fieldnames or []
    absent = [c for c in ["id", *columns] if c not in header]
    if absent:
        raise UserError(f"{path}: header has no column {absent[0]!r} "
                        f"(expected: id, {', '.join(columns)})")
    rows: dict[str, object] = {}
    for number, row in enumerate(reader, start=2):
        key = (row.get("id") or "").strip()
        if key in rows:
            raise UserError(f"{path}: row {number}: id {key!r} appears twice")
        if None in row:
            raise UserError(f"{path}: row {number}: more cells than header columns")
        try:
            rows[key] = fmt.parse([row.get(c) or "" for c in columns], classes)
        except ValueError as exc:
            raise UserError(f"{path}: row {number}: {', '.join(columns)}: {exc}") from None
    return rows


def score_predictions(task: TaskSpec, path: Path, name: str, profile: str, seed: int,
                      where: dict, dataset) -> RunRecord:
    """Read, validate and score a predictions file: a record with origin ``external`` whose
    key covers the file's content."""
    tag = split_tag(task.name, profile, seed, where, dataset.version)
    model = ExternalPredictions(name, task, path, dataset, tag)
    model.load(task.profile(profile).batch_size)
    lists = {k: list(v) for k, v in where.items()}
    key = run_key(task.name, name, {}, profile, seed, lists, dataset.version, {}, model.digest)
    record = score_model(model, task, profile, seed, where, dataset=dataset, key=key,
                         params={"predictions": path.name, "sha256": model.digest[:16]})
    record.durations, record.throughput = {}, {}  # reading a file says nothing about speed
    return record
