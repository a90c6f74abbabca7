"""RunRecord: the JSON source of truth for one (task, method, profile, seed, selection) run."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1
TIMING_FIELDS = ("created_at", "durations", "throughput", "efficiency")


@dataclass
class Score:
    value: float
    ci_low: float
    ci_high: float
    n: int = 0


@dataclass
class RunRecord:
    """Everything needed to render, compare and reproduce one run.

    ``scores`` maps metric -> Score; ``slices`` maps a slice name such as ``snr=6|t60=0.4``
    to its own metric -> Score table. Timings sit in ``durations``/``throughput`` so two
    runs can be compared with them stripped (see ``comparable``).
    """

    task: str
    method: str
    profile: str
    seed: int
    dataset: dict[str, Any]
    params: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)
    where: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    git_sha: str = "unknown"
    packages: dict[str, str] = field(default_factory=dict)
    device: dict[str, Any] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    throughput: dict[str, float] = field(default_factory=dict)
    n_examples: int = 0
    failed_examples: int = 0  # estimates a method reported as failed (scored by the metric's rule)
    scores: dict[str, Score] = field(default_factory=dict)
    slices: dict[str, dict[str, Score]] = field(default_factory=dict)
    series: dict[str, list[float]] = field(default_factory=dict)
    quantiles: dict[str, list[float]] = field(default_factory=dict)  # cell -> 0..100th percentile
    confusion: dict[str, Any] = field(default_factory=dict)  # classes, counts[true][predicted]
    efficiency: dict[str, Any] = field(default_factory=dict)  # params, macs, latency_ms, threads
    status: str = "ok"
    reason: str = ""
    traceback: str = ""  # of a failed cell
    created_at: str = ""
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunRecord:
        if raw.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"unsupported record schema_version {raw.get('schema_version')!r}")
        raw = dict(raw)
        raw["scores"] = {k: Score(**v) for k, v in raw.get("scores", {}).items()}
        raw["slices"] = {
            s: {k: Score(**v) for k, v in table.items()} for s, table in raw.get("slices", {}).items()
        }
        return cls(**raw)

    def comparable(self) -> dict[str, Any]:
        """The record without wall-clock fields: equal for two runs with the same seed."""
        return {k: v for k, v in self.to_dict().items() if k not in TIMING_FIELDS}
