"""Progress reporting shared by the headless command, the bake and the offline tools.

A stage reports through a ``ProgressCallback``: ``callback(done, total)``. ``Progress`` is the one
printer behind it: throttled lines on stderr with percent, rate and ETA, for a count of frames
(the bake) or of named items (clips in the HDTF tools, which also print each item's status).
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

ProgressCallback = Callable[[int, int], None]
"""``callback(done, total)``: ``done`` of ``total`` units are finished."""


def clock(seconds: float) -> str:
    """``h:mm:ss`` (``--:--:--`` when unknown)."""
    if seconds != seconds or seconds == float("inf"):
        return "--:--:--"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Progress lines: ``[talkface] bake: 42.0% (21/50 frames, 3.10 frames/s, ETA 0:00:09)``.

    Call it as a ``ProgressCallback``; lines come at most once per ``interval`` seconds, plus the
    last one. ``item(name, status)`` counts one named item and always prints its line.
    """

    def __init__(self, stage: str, total: int, unit: str = "frames", stream: TextIO | None = None,
                 interval: float = 1.0):
        self.stage, self.total, self.unit, self.interval = stage, max(int(total), 0), unit, interval
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self.done = 0
        self._last = float("-inf")

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self.total = max(int(total), 0)
        self.done = done
        now = time.perf_counter()
        if done < self.total and now - self._last < self.interval:
            return
        self._last = now
        self.line(f"{self.stage}: {self._status()}")

    def item(self, name: str, status: str) -> None:
        self.done += 1
        self._last = time.perf_counter()
        self.line(f"{self.stage}: {name}: {status} ({self._status()})")

    def line(self, text: str) -> None:
        print(f"[talkface] {text}", file=self.stream, flush=True)

    def _status(self) -> str:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        percent = 100.0 * self.done / self.total if self.total else 100.0
        return (f"{percent:5.1f}% ({self.done}/{self.total} {self.unit}, {rate:.2f} {self.unit}/s, "
                f"ETA {clock(eta)})")
