"""One job per clip, in this process or a process pool: a day-long dataset run (preparation,
tracking) must report a bad clip and go on, never stop on it."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable


def run_each(fn: Callable, jobs: Iterable[tuple[Any, tuple]], finish: Callable,
             reason: Callable[[Exception], str], workers: int = 1, spawn: bool = False) -> None:
    """``fn(*args)`` for every ``(key, args)``; then ``finish(key, result, None)``, or
    ``finish(key, None, reason(exc))`` when it raised. ``spawn`` starts fresh worker processes
    (a forked child of a process that ran MediaPipe or torch can hang on their threads)."""
    jobs = list(jobs)
    if workers <= 1 or len(jobs) <= 1:
        for key, args in jobs:
            try:
                result = fn(*args)
            except Exception as exc:  # noqa: BLE001 - reported per clip, the run goes on
                finish(key, None, reason(exc))
            else:
                finish(key, result, None)
        return
    context = None
    if spawn:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = {pool.submit(fn, *args): key for key, args in jobs}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                key = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001
                    finish(key, None, reason(exc))
                else:
                    finish(key, result, None)
