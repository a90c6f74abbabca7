"""Where runs, caches, stand-in data, the MLflow store and leaderboards live."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from perloc.bench.core.errors import UserError


@dataclass(frozen=True)
class Workspace:
    """Folders of one harness checkout.

    ``results`` (runs/, mlflow.db, checkpoints/) defaults to ./results, ``cache`` (stand-in
    corpora and RIR banks, shareable between workspaces) to the results folder, and
    ``leaderboards`` to ./leaderboards. Environment: PERLOC_RESULTS, PERLOC_CACHE,
    PERLOC_LEADERBOARDS, MLFLOW_TRACKING_URI, PERLOC_CHECKPOINTS (trained models, keyed by
    everything they depend on, so several results folders may share one).
    """

    results: Path
    cache: Path
    leaderboards: Path

    @classmethod
    def from_env(cls) -> Workspace:
        results = Path(os.environ.get("PERLOC_RESULTS", "results")).resolve()
        cache = Path(os.environ.get("PERLOC_CACHE", results)).resolve()
        boards = Path(os.environ.get("PERLOC_LEADERBOARDS", "leaderboards")).resolve()
        return cls(results, cache, boards)

    @property
    def runs(self) -> Path:
        return self.results / "runs"

    @property
    def checkpoints(self) -> Path:
        return Path(os.environ.get("PERLOC_CHECKPOINTS") or self.results / "checkpoints").resolve()

    @property
    def data(self) -> Path:
        return self.cache / "data"

    @property
    def rir_bank(self) -> Path:
        return self.cache / "caches" / "rir-bank-v1.h5"

    @property
    def tracking_uri(self) -> str:
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{self.results / 'mlflow.db'}"

    def check_writable(self) -> None:
        """Fail early, before any work, when the results folder cannot be written."""
        for folder in (self.results, self.cache):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(f"results folder {folder}: cannot create ({exc.strerror})") from None
            if not os.access(folder, os.W_OK):
                raise UserError(f"results folder {folder}: not writable")


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists: where creating ``path`` would start, and
    so whose kind (a folder or not) and permissions decide whether it can be made."""
    probe = Path(path)
    while not probe.exists():
        probe = probe.parent
    return probe
