"""An HDF5 bank of room impulse responses, keyed by everything that determines them.

Room simulation cost grows with T60 cubed (seconds per RIR at T60 1.0 s), so RIRs are
simulated once, by a process pool, and read back on every later run. One process writes the
file at a time (the others wait for it, then read what it wrote); a bank that cannot be
opened or read back is replaced and the RIRs asked for are simulated again
(``perloc.datasets.h5store``). Pool workers only return arrays.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perloc.bench.core.progress import progress_bar
from perloc.datasets import h5store
from perloc.datasets.sim.rooms import RoomSpec, compute_rir, wall_model

BANK_VERSION = 1


@dataclass(frozen=True)
class RirRequest:
    room: RoomSpec
    source: tuple[float, float, float]
    t60: float

    def key(self) -> str:
        import pyroomacoustics as pra

        absorption, max_order = wall_model(self.room.dims, self.t60)
        spec = {
            "bank": BANK_VERSION, "pra": pra.__version__, "fs": self.room.fs,
            "dims": self.room.dims, "mics": self.room.mics, "t60": round(self.t60, 6),
            "source": [round(float(v), 6) for v in self.source],
            "absorption": round(absorption, 9), "max_order": max_order,
        }
        return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def cost(self) -> float:
        """Relative simulation cost (max_order cubed) for scheduling long jobs first."""
        return float(wall_model(self.room.dims, self.t60)[1] ** 3 + 1)


@dataclass
class BankStats:
    hits: int = 0
    simulated: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        if self.simulated == 0:
            return f"RIR bank: {self.hits} hits, nothing simulated"
        return (f"RIR bank: {self.hits} hits, {self.simulated} simulated "
                f"in {self.seconds:.1f} s")


def _simulate(request: RirRequest) -> np.ndarray:
    return compute_rir(request.room, np.asarray(request.source), request.t60)


def _init_worker() -> None:
    import pyroomacoustics as pra

    pra.constants.set("num_threads", 1)


class RirBank:
    """``get_many`` returns cached RIRs and simulates (in parallel) only the missing ones."""

    def __init__(self, path: Path, workers: int | None = None) -> None:
        self.path = Path(path)
        self.workers = workers or min(2, os.cpu_count() or 1)
        self.stats = BankStats()

    def get_many(self, requests: list[RirRequest], progress: bool = False) -> list[np.ndarray]:
        keys = [r.key() for r in requests]
        found = h5store.read(self.path, "RIR bank", keys)  # sweep workers: everything cached
        missing: dict[str, RirRequest] = {}
        if found is None:
            by_key = dict(zip(keys, requests, strict=True))

            def make(keys_missing: list[str]):
                missing.update({k: by_key[k] for k in keys_missing})
                return self._fill(missing, progress)

            found = h5store.fill(self.path, "RIR bank", keys, make)
        self.stats.hits += len(keys) - len(missing)
        return [found[k] for k in keys]

    def _fill(self, missing: dict[str, RirRequest], progress: bool):
        """Simulate the missing RIRs (longest first); yields (key, rir, attrs) as they finish."""
        start = time.perf_counter()
        order = sorted(missing, key=lambda k: -missing[k].cost())
        jobs = [missing[k] for k in order]
        with progress_bar(total=len(jobs), desc="simulating RIRs", unit="rir",
                          enabled=progress) as bar:
            for key, rir in zip(order, self._run(jobs), strict=True):
                request = missing[key]
                yield key, rir, {"t60": request.t60, "source": request.source,
                                 "room": request.room.name}
                bar.update(1)
        self.stats.simulated += len(jobs)
        self.stats.seconds += time.perf_counter() - start

    def _run(self, jobs: list[RirRequest]):
        cheap = sum(j.cost() for j in jobs) < 3e6  # about two seconds of work: no pool start-up
        daemon = mp.current_process().daemon  # a sweep worker may not start a pool
        if self.workers <= 1 or len(jobs) < 2 or cheap or daemon:
            return map(_simulate, jobs)
        pool = ProcessPoolExecutor(self.workers, initializer=_init_worker)
        return _drain(pool, jobs)


def _drain(pool: ProcessPoolExecutor, jobs: list[RirRequest]):
    with pool:
        yield from pool.map(_simulate, jobs)
