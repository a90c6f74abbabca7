"""An HDF5 bank of room impulse responses, keyed by everything that determines them.

Room simulation cost grows with T60 cubed (seconds per RIR at T60 1.0 s), so RIRs are
simulated once, by a process pool, and read back on every later run. Only the driver
process writes the file; workers return arrays.
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

import h5py
import numpy as np
from tqdm import tqdm

from perloc.datasets.h5store import open_store, read_store
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

    def _open(self) -> h5py.File:
        return open_store(self.path, "RIR bank")

    def get_many(self, requests: list[RirRequest], progress: bool = False) -> list[np.ndarray]:
        keys = [r.key() for r in requests]
        reader = read_store(self.path)
        if reader is not None:  # the common case in sweep workers: everything is cached
            with reader as bank:
                if all(k in bank for k in keys):
                    found = {k: bank[k][()] for k in set(keys)}
                    self.stats.hits += len(keys)
                    return [found[k] for k in keys]
        with self._open() as bank:
            found = {k: bank[k][()] for k in set(keys) if k in bank}
            missing = {k: r for k, r in zip(keys, requests, strict=True) if k not in found}
            self.stats.hits += len(keys) - len(missing)
            if missing:
                found.update(self._fill(bank, missing, progress))
        return [found[k] for k in keys]

    def _fill(self, bank: h5py.File, missing: dict[str, RirRequest], progress: bool
              ) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        order = sorted(missing, key=lambda k: -missing[k].cost())
        jobs = [missing[k] for k in order]
        bar = tqdm(total=len(jobs), desc="simulating RIRs", unit="rir", disable=not progress)
        out = {}
        for key, rir in zip(order, self._run(jobs), strict=True):
            dataset = bank.create_dataset(key, data=rir, compression="gzip", compression_opts=1)
            dataset.attrs["t60"] = missing[key].t60
            dataset.attrs["source"] = missing[key].source
            dataset.attrs["room"] = missing[key].room.name
            out[key] = rir
            bar.update(1)
        bar.close()
        bank.flush()
        self.stats.simulated += len(jobs)
        self.stats.seconds += time.perf_counter() - start
        return out

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
