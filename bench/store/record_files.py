"""The JSON record store: one file per run under results/runs/<task>/<profile>/."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from perloc.bench.core.record import RunRecord


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary sibling and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_path(runs: Path, record: RunRecord) -> Path:
    return runs / record.task / record.profile / f"{record.method}__seed{record.seed}__{record.key}.json"


def save(runs: Path, record: RunRecord) -> Path:
    path = record_path(runs, record)
    write_atomic(path, record.to_json() + "\n")
    return path


def load_all(runs: Path, task: str, profile: str | None = None) -> list[RunRecord]:
    """Records of ``task`` (optionally one profile), oldest first."""
    folder = runs / task
    pattern = f"{profile}/*.json" if profile else "*/*.json"
    records = [RunRecord.from_dict(json.loads(p.read_text())) for p in folder.glob(pattern)]
    return sorted(records, key=lambda r: r.created_at)
