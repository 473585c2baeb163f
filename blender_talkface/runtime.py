# SPDX-License-Identifier: GPL-3.0-or-later
"""Glue shared by the operators: user-facing error reports.

Operators never show a traceback: a ``TalkFaceError`` becomes its own sentence, a missing
Python package becomes an install hint, anything else becomes one line with the traceback on
the console for bug reports.
"""

from __future__ import annotations

import contextlib
import threading
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
            f"Blender's Python (reinstall the TalkFace extension; PyTorch: TalkFace's preferences)",
        )
        return {"CANCELLED"}
    except Exception as exc:  # noqa: BLE001 - last line of defence for the user
        traceback.print_exc()
        operator.report({"ERROR"}, f"{stage} failed unexpectedly: {type(exc).__name__}: {exc}")
        return {"CANCELLED"}
    return {"FINISHED"} if result is None else result


@contextlib.contextmanager
def status_progress(context):
    """A ``ProgressCallback`` shown as the window manager's progress (the status bar and the
    cursor), ended however the stage ends. In background mode it costs nothing."""
    wm = context.window_manager
    started = False

    def update(done: int, total: int) -> None:
        nonlocal started
        if not started:
            wm.progress_begin(0, total)
            started = True
        wm.progress_update(done)

    try:
        yield update
    finally:
        if started:
            wm.progress_end()


def poll_reasons(cls, *problems) -> bool:
    """An operator's ``poll``: the first problem that applies (a string, or a callable returning one
    or None) greys the button out with that reason (``poll_message_set``); none: available."""
    for problem in problems:
        message = problem() if callable(problem) else problem
        if message:
            cls.poll_message_set(message)
            return False
    return True


def begin_modal(operator, context, total: int, interval: float, status: str) -> set[str]:
    """Start a modal operator: the window manager's progress to ``total``, ``status`` in the
    status bar (what runs, and that Esc stops it), a timer every ``interval`` seconds
    (``operator._timer``, for ``end_modal``) and the operator's handler."""
    wm = context.window_manager
    wm.progress_begin(0, total)
    if context.workspace is not None:
        context.workspace.status_text_set(f"{status} (Esc to stop)")
    operator._timer = wm.event_timer_add(interval, window=context.window)
    wm.modal_handler_add(operator)
    return {"RUNNING_MODAL"}


def end_modal(operator, context) -> None:
    """Stop a modal operator's timer, the window manager's progress and the status text (started
    by ``begin_modal``)."""
    wm = context.window_manager
    if context.workspace is not None:
        context.workspace.status_text_set(None)
    if operator._timer is not None:
        wm.event_timer_remove(operator._timer)
        operator._timer = None
    wm.progress_end()


class Background:
    """``fn(cancelled, progress)`` on a worker thread, for a modal operator's timer to watch: the
    thread must not touch Blender's data (a pure stage such as ``pipeline.hear_take``).

    ``done`` once it has returned or raised; ``progress``: the last ``(done, total)`` it reported
    (read from the main thread); ``result()`` waits, then returns its value or raises its error;
    ``cancel()`` makes its ``cancelled()`` True (it stops where it next asks). Jobs still running
    are in ``Background.running`` (cancelled when Blender loads another file or the add-on goes).
    """

    running: set = set()

    def __init__(self, fn):
        self._cancel = threading.Event()
        self.progress: tuple = (0, 1)
        self._result = self._error = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name="TalkFace", daemon=True)
        Background.running.add(self)
        self._thread.start()

    def _run(self, fn) -> None:
        try:
            self._result = fn(self._cancel.is_set, self._report)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread by result()
            self._error = exc
        finally:
            Background.running.discard(self)

    def _report(self, done, total) -> None:
        self.progress = (done, total)

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result

    @classmethod
    def cancel_all(cls) -> None:
        for job in list(cls.running):
            job.cancel()
