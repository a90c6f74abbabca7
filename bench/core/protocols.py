"""The interfaces a dataset adapter and a method implement."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from perloc.bench.core.batch import Batch
from perloc.bench.core.cards import MethodCard


@dataclass(frozen=True)
class Provenance:
    """Where a dataset's files came from: ``real`` recordings or a ``synthetic`` stand-in."""

    kind: str  # "real" | "synthetic"
    root: str
    files: int
    generator: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("real", "synthetic"):
            raise ValueError(f"provenance must be real or synthetic, not {self.kind!r}")


@runtime_checkable
class DatasetAdapter(Protocol):
    """Reads one real on-disk format (stand-ins are written in that same format)."""

    name: str

    @property
    def version(self) -> str: ...

    @property
    def provenance(self) -> Provenance: ...

    def splits(self) -> dict[str, Any]: ...

    def batches(
        self, split: str, batch_size: int, *, where: dict | None = None, limit: int | None = None
    ) -> Iterator[Batch]: ...


@runtime_checkable
class Method(Protocol):
    """A method predicts on whole batches; learned methods add fit/state_dict/load_state_dict."""

    card: MethodCard

    def predict(self, batch: Batch) -> Batch: ...


RECIPE_KEYS = ("epochs", "steps_per_epoch", "batch_size", "lr")  # the common FitContext fields


@dataclass
class FitContext:
    """What the runner hands a learned method's ``fit``: budget, seed, checkpoint, callbacks.

    ``checkpoint`` is written after every epoch (atomically) and read back to resume an
    interrupted run; ``log(name, value, step)`` receives training curves; ``say`` prints
    one-line progress messages; ``options`` holds the profile recipe's method-specific
    keys (e.g. ``warmup_epochs``, ``precision``) beyond the four common ones.
    """

    checkpoint: Any  # pathlib.Path
    seed: int
    epochs: int
    steps_per_epoch: int
    batch_size: int
    lr: float
    progress: bool = False
    log: Any = None  # Callable[[str, float, int], None] | None
    say: Any = None  # Callable[[str], None] | None
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ScorerOption:
    """A ``--name VALUE`` flag of a task's file scorer (``choices``: the values it accepts)."""

    name: str
    kind: type
    default: Any
    help: str
    choices: tuple = ()


@runtime_checkable
class FileScorer(Protocol):
    """Scores a folder of predictions against a folder of references in a task's official file
    formats, without the harness's dataset (``bench score TASK --ref DIR --pred DIR``).

    ``score`` reads and checks every file before it computes (bad input: one UserError naming
    the file and line) and returns a JSON-ready dict of scores plus the lines to print."""

    options: tuple[ScorerOption, ...]

    def score(self, ref: Any, pred: Any, options: dict[str, Any]) -> tuple[dict, list[str]]: ...
