"""RunRecord: the JSON source of truth for one (task, method, profile, seed, selection) run."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 2
TIMING_FIELDS = ("created_at", "durations", "throughput")


@dataclass
class Score:
    value: float
    ci_low: float
    ci_high: float
    n: int = 0  # examples
    units: int = 0  # resampling units (clusters of examples) the CI resampled


@dataclass
class RunRecord:
    """Everything needed to render, compare and reproduce one run.

    ``scores`` maps metric -> Score; ``slices`` maps a slice name such as ``snr=6|t60=0.4``
    to its own metric -> Score table. ``extras`` holds what the task's reports collected
    (confusion counts, error percentiles, efficiency). Timings sit in ``durations``/
    ``throughput`` and under ``extras[...]["timing"]``, so two runs can be compared with them
    stripped (see ``comparable``).
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
    failures: dict[str, float] = field(default_factory=dict)  # table -> failed fraction (> 0)
    excluded_cells: list[str] = field(default_factory=list)  # every estimate failed: N/A
    resampling_unit: str = "example"  # what the bootstrap CIs resampled
    extras: dict[str, Any] = field(default_factory=dict)  # report name -> what it collected
    status: str = "ok"
    origin: str = "harness"  # "external": predictions scored by ``bench score``
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
        if raw.get("schema_version") == 1:
            raw = _upgrade_v1(raw)
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
        out = {k: v for k, v in self.to_dict().items() if k not in TIMING_FIELDS}
        out["extras"] = {name: {k: v for k, v in extra.items() if k != "timing"}
                         if isinstance(extra, dict) else extra
                         for name, extra in out["extras"].items()}
        return out


def _upgrade_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 record in the schema-2 layout: its report fields move into ``extras``."""
    raw = dict(raw, schema_version=2)
    raw["extras"] = legacy_extras(raw)
    return raw


def legacy_extras(raw: dict[str, Any]) -> dict[str, Any]:
    """Pop schema-1 report fields (``quantiles``, ``confusion``, ``efficiency``) off a record
    or board entry and return them as schema-2 ``extras``."""
    extras = {}
    quantiles, confusion = raw.pop("quantiles", None), raw.pop("confusion", None)
    efficiency = dict(raw.pop("efficiency", None) or {})
    if quantiles:
        extras["error_cdf"] = quantiles
    if confusion:
        extras["confusion"] = confusion
    if efficiency:
        timing = {"latency_ms": efficiency.pop("latency_ms", None),
                  "threads": efficiency.pop("latency_threads", 1),
                  "runs": efficiency.pop("latency_runs", 0)}
        extras["efficiency"] = {**efficiency, "timing": timing}
    return extras
