# SPDX-License-Identifier: GPL-3.0-or-later
"""Glue shared by the operators: user-facing error reports and progress lines.

Operators never show a traceback: a ``TalkFaceError`` becomes its own sentence, a missing
Python package becomes an install hint, anything else becomes one line with the traceback on
the console for bug reports.
"""

from __future__ import annotations

import sys
import time
import traceback

from ..core.errors import TalkFaceError


def run_reported(operator, stage: str, fn) -> set[str]:
    """Run ``fn()``; turn every failure into ``operator.report`` and ``{'CANCELLED'}``."""
    try:
        result = fn()
    except TalkFaceError as exc:
        operator.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    except ModuleNotFoundError as exc:
        operator.report(
            {"ERROR"},
            f"{stage} needs the Python package '{exc.name}', which is not installed in "
            f"Blender's Python (see the README, 'Installing in Blender')",
        )
        return {"CANCELLED"}
    except Exception as exc:  # noqa: BLE001 - last line of defence for the user
        traceback.print_exc()
        operator.report({"ERROR"}, f"{stage} failed unexpectedly: {type(exc).__name__}: {exc}")
        return {"CANCELLED"}
    return {"FINISHED"} if result is None else result


class Progress:
    """Progress lines on stderr: stage, percent, items per second and ETA."""

    def __init__(self, stage: str, total: int, unit: str = "frames", stream=None):
        self.stage, self.total, self.unit = stage, max(int(total), 1), unit
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.last_print = 0.0

    def update(self, done: int, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last_print < 1.0 and done < self.total:
            return
        self.last_print = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        eta_text = f"{eta:.0f}s" if eta != float("inf") else "?"
        print(
            f"[talkface] {self.stage}: {100.0 * done / self.total:5.1f}% "
            f"({done}/{self.total} {self.unit}, {rate:.2f} {self.unit}/s, ETA {eta_text})",
            file=self.stream, flush=True,
        )
