"""Progress of long steps: a tqdm bar on a terminal, a plain line every 30 s in logs.

Every long loop (stand-in data, RIR simulation, training epochs, evaluation, the sweep
driver's wait for its cells) reports through :func:`progress_bar`. ``enabled`` is the caller's
"report progress": the ``bench`` commands pass True, sweep workers False (they stay quiet).
When stderr is a terminal the bar is tqdm's. Anywhere else (a CI log, a file) tqdm's
carriage-return bars are no use, so :class:`ProgressLines` prints one plain line, e.g.
``simulating RIRs: 120/480 rir (25%), 31 s``, every ``INTERVAL`` seconds while the step runs:
from a timer thread, so a step stuck in one long iteration still shows up, and a last
``done`` line when a step that printed lines ends. Steps shorter than the interval print
nothing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tqdm import tqdm

INTERVAL = 30.0  # seconds between lines when stderr is not a terminal


def on_terminal() -> bool:
    """True when stderr is a terminal (bars), False for logs and pipes (lines)."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress_bar(iterable: Iterable | None = None, *, desc: str, total: int | None = None,
                 unit: str = "it", enabled: bool = True, leave: bool = True,
                 terminal_bar: bool = True):
    """A tqdm-like progress object (iterate it, or ``update``/``set_postfix``/``close`` it, or
    use it as a context manager): tqdm on a terminal, :class:`ProgressLines` elsewhere,
    silent when not ``enabled``. ``terminal_bar=False``: nothing on a terminal (for a loop
    that prints its own lines there, which a bar would garble), lines elsewhere."""
    if enabled and not on_terminal():
        return ProgressLines(iterable, desc=desc, total=total, unit=unit)
    show = enabled and terminal_bar
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, disable=not show)


class ProgressLines:
    """Plain progress lines on stderr: one every ``interval`` seconds (a timer thread), and a
    last one on ``close`` when any was printed. ``clock`` and ``thread=False`` are for tests
    (call :meth:`tick` to see whether a line is due)."""

    def __init__(self, iterable: Iterable | None = None, *, desc: str, total: int | None = None,
                 unit: str = "it", interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic, thread: bool = True) -> None:
        self.iterable, self.desc, self.unit = iterable, desc, unit
        self.total = total if total is not None or iterable is None else _length(iterable)
        self.interval = INTERVAL if interval is None else interval
        self.clock = clock
        self.n, self.postfix, self.lines = 0, "", 0
        self.started = self.last = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True) if thread else None
        if self._thread is not None:
            self._thread.start()

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self.iterable:
                yield item
                self.n += 1
        finally:
            self.close()

    def __enter__(self) -> ProgressLines:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def tick(self) -> bool:
        """Print a line if ``interval`` seconds have passed since the last one."""
        now = self.clock()
        if now - self.last < self.interval:
            return False
        self._say(self._line(now))
        self.last, self.lines = now, self.lines + 1
        return True

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self.lines:
            self._say(f"{self.desc}: done, {self._count()} in {self.clock() - self.started:.0f} s")

    def _beat(self) -> None:
        while not self._stop.wait(max(0.0, self.last + self.interval - self.clock())):
            self.tick()

    def _count(self) -> str:
        return f"{self.n}/{self.total} {self.unit}" if self.total else f"{self.n} {self.unit}"

    def _line(self, now: float) -> str:
        share = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        extra = f", {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {self._count()}{share}, {now - self.started:.0f} s{extra}"

    @staticmethod
    def _say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)


def _length(iterable: Iterable) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None
