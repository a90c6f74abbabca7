"""TaskSpec and Profile: what a benchmark task evaluates, on which data, with which metrics."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perloc.bench.core.cards import MetricCard
from perloc.bench.core.errors import UserError
from perloc.bench.core.predictions import ArrayColumns

PROFILE_NAMES = ("smoke", "default", "paper")


@dataclass(frozen=True)
class Profile:
    """One of smoke/default/paper: data size, condition grid and bootstrap size."""

    name: str
    description: str
    grid: dict[str, tuple]
    dataset: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 256
    bootstrap: int = 1000
    needs_real_data: bool = False
    torch_threads: int | None = None
    train: dict[str, Any] = field(default_factory=dict)  # epochs, steps_per_epoch, batch_size, lr, data
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # profile's method sizes
    seeds: tuple[int, ...] = (0,)  # what `bench run` runs when neither --seed nor --seeds is given
    methods: tuple[str, ...] = ()  # what `bench run` runs without -m (empty: the task's defaults)


@dataclass(frozen=True)
class Reported:
    """A number published in a paper, shown beside ours and labelled as reported."""

    source: str
    method: str
    condition: str
    scores: dict[str, float]
    note: str = ""


@dataclass(frozen=True)
class DataRequest:
    """What the runner asks a task's dataset factory for."""

    profile: Profile
    seed: int
    grid: dict[str, tuple]
    data_root: Path | None
    cache_dir: Path
    progress: bool = False

    def real_root(self, needs: str) -> Path | None:
        """``--data-root``, else ``$PERLOC_DATA``, else None (use the stand-in); a profile that
        needs real data without either is a UserError saying what it ``needs``."""
        root = self.data_root or (Path(os.environ["PERLOC_DATA"])
                                  if os.environ.get("PERLOC_DATA") else None)
        if root is None and self.profile.needs_real_data:
            raise UserError(f"--data-root: the {self.profile.name} profile needs {needs}; pass "
                            "--data-root PATH or set PERLOC_DATA")
        return root  # the adapter checks it is a folder (datasets.audio.dataset_folder)


@dataclass(frozen=True)
class TaskSpec:
    """A benchmark task: dataset factory, condition grid, metrics, profiles, tolerances."""

    name: str
    description: str
    dataset: str
    metrics: tuple[MetricCard, ...]
    primary: str
    default_methods: tuple[str, ...]
    profiles: dict[str, Profile]
    tolerances: dict[str, float]
    make_dataset: Callable[[DataRequest], Any]
    target: str
    make_training: Callable[[DataRequest], Any] | None = None
    slice_by: tuple[str, ...] = ()
    reported: tuple[Reported, ...] = ()
    headline: tuple[str, ...] = ()  # metrics shown per condition in leaderboards
    headline_slice: str = ""  # the cell that ranks methods (e.g. "setup=1_a|mics=11"); "" = all
    family: str = ""  # methods whose card names this task family run here too (e.g. "ssl")
    reports: tuple[Any, ...] = ()  # perloc.bench.report.base.Report plug-ins
    resampling_unit: str = "example"  # or the meta column whose values are the bootstrap units
    resampling_note: str = ""  # why that unit (shown on the leaderboard)
    interval: str = "bootstrap"  # CIs over the units: "bootstrap" (percentile) or "jackknife"
    example_unit: str = "example"  # what one test example is: window, frame, clip ...
    shortcuts: tuple[str, ...] = ()  # conditions that get their own flag (--snr LO:HI)
    inputs: tuple[str, ...] = ()  # batch columns ``bench export`` writes for outside models
    prediction_format: Any = ArrayColumns()  # how ``bench score`` reads predictions (CSV)
    training_conditions: tuple[str, ...] = ()  # conditions whose value selects the training data
    file_scorer: Any = None  # FileScorer: ``bench score TASK --ref REF --pred PRED`` on official files

    def runs(self, card) -> bool:
        """Whether a method (by its card) belongs to this task or its family."""
        return card.task in (self.name, self.family or self.name)

    def check_method(self, card, flag: str = "method") -> None:
        if not self.runs(card):
            raise UserError(f"{flag} {card.name}: a {card.task} method, not for {self.name}")

    @property
    def headline_metrics(self) -> tuple[str, ...]:
        return self.headline or (self.primary,)

    def metric(self, name: str) -> MetricCard:
        for card in self.metrics:
            if card.name == name:
                return card
        raise KeyError(name)

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise UserError(f"--profile: unknown profile {name!r} for task {self.name} "
                            f"(known: {', '.join(self.profiles)})")
        return self.profiles[name]

    def select_grid(self, profile: Profile, where: dict[str, tuple]) -> dict[str, tuple]:
        """Grid values of ``profile`` inside the selections of ``where`` (see :func:`selects`)."""
        grid = {}
        for column, values in profile.grid.items():
            kept = tuple(v for v in values if column not in where or selects(where[column], v))
            if not kept:
                raise UserError(f"--{column.replace('_', '-')}: {_show(where[column])} selects "
                                f"none of {list(values)}")
            grid[column] = kept
        unknown = set(where) - set(profile.grid)
        if unknown:
            raise UserError(f"task {self.name} has no condition {sorted(unknown)[0]!r} "
                            f"(conditions: {', '.join(profile.grid) or 'none'})")
        return grid


def selects(selection: tuple, value: Any) -> bool:
    """A numeric selection is an inclusive range (LO, HI); a categorical one lists its values."""
    if selection and all(isinstance(v, str) for v in selection):
        return str(value) in selection
    if isinstance(value, str):
        return False
    lo, hi = selection
    return lo <= value <= hi


def _show(selection: tuple) -> str:
    if selection and all(isinstance(v, str) for v in selection):
        return ",".join(selection)
    return f"{selection[0]}:{selection[1]}"
