# SPDX-License-Identifier: GPL-3.0-or-later
"""What a batch worker process runs for one stage of one clip.

The worker is long-lived: bpy, torch, MediaPipe and the animator stay loaded between clips, so
a clip costs its own work, not the 4-5 s of start-up a separate headless run pays. Each stage
ends with an empty Blender file, so nothing of one clip (meshes, images, sounds, Actions) stays
in memory for the next; a fresh worker's startup scene is cleared by the headless run itself,
as for any run without a .blend.

Stages (the headless command's own functions, ``blender_talkface.headless``):
  all       fit, animate and, unless keys-only, bake, render and save: one clip in one go
  animate   fit and animate, then hand the scene over as ``<out>/.talkface-batch/animated.blend``
  finish    open the hand-over, bake, render and save into ``<out>``
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import time

HANDOFF_DIR = ".talkface-batch"            # in the clip's out folder: the batch's working files
FAULT_ENV = "TALKFACE_BATCH_FAULT"         # tests only: 'kill-once:NAME' / 'kill-always:NAME'


def handoff_path(out: str) -> str:
    return os.path.join(out, HANDOFF_DIR, "animated.blend")


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError):                       # not Linux: the peak instead
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2 ** 20 if sys.platform == "darwin" else peak / 1024


def _fault(name: str, stage: str, out: str) -> None:
    """Tests: the worker process dies (SIGKILL, as the kernel's OOM killer does) in the named
    clip's first stage, on the first attempt only ('kill-once') or on every attempt."""
    spec = os.environ.get(FAULT_ENV, "")
    kind, _, target = spec.partition(":")
    if target != name or stage == "finish":
        return
    flag = os.path.join(out, HANDOFF_DIR, f"killed-{stage}")
    if kind == "kill-once" and os.path.exists(flag):
        return
    if kind in ("kill-once", "kill-always"):
        os.makedirs(os.path.dirname(flag), exist_ok=True)
        open(flag, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)


class _Tee(io.TextIOBase):
    """The run's messages, kept for the clip's log and also passed on."""

    def __init__(self, stream):
        self.stream, self.parts = stream, []

    def write(self, text):
        self.parts.append(text)
        with contextlib.suppress(Exception):
            self.stream.write(text)
        return len(text)

    def flush(self):
        with contextlib.suppress(Exception):
            self.stream.flush()


def _empty_file() -> None:
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)


def run_stage(name: str, stage: str, args: list[str], out: str, blend: str | None = None) -> dict:
    """One stage of one clip in this process: {code, error, log, seconds, rss_mb}. ``code`` is the
    headless command's exit status; ``error`` its last message line when it is not 0."""
    from talkface.blender_talkface import headless
    from talkface.core.audio import sphinx_pool

    # Ray gives each clip one CPU and runs one per core: helper processes for the phone
    # recogniser would only crowd the other clips' cores (a setting of the user's wins)
    os.environ.setdefault(sphinx_pool.HELPERS_ENV, "0")
    _fault(name, stage, out)
    t0 = time.perf_counter()
    tee = _Tee(sys.stderr)
    try:
        with contextlib.redirect_stderr(tee):
            if stage == "finish":
                code = headless.finish_args(list(args), handoff_path(out))
            elif blend and not headless.open_shot(blend):
                code = headless.EXIT_BAD_INPUT
            else:
                code = headless.run_once(list(args), handoff_path(out) if stage == "animate" else None)
    finally:
        _empty_file()          # nothing of this clip stays in memory for the next
    text = "".join(tee.parts)
    lines = [ln for ln in text.splitlines() if ln.startswith("talkface:")]
    error = lines[-1][len("talkface:"):].strip() if code and lines else None
    if error and error.startswith("error: "):
        error = error[len("error: "):]
    return {"code": int(code), "error": error,
            "log": text, "seconds": time.perf_counter() - t0, "rss_mb": _rss_mb(), "pid": os.getpid()}
