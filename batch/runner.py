# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a manifest's clips on Ray: resumable, failures recorded, CPU and GPU stages overlapped.

Each clip is one or two Ray tasks running ``batch.worker.run_stage`` in Ray's long-lived worker
processes (bpy, torch and the weights stay loaded between clips):

  keys-only clip   'all' on a CPU
  clip with video  'animate' on a CPU, then 'finish' (bake, video, save) on a GPU when the
                   cluster has one (num_gpus=1), else on a CPU

so the fit and animation of one clip run while another clip bakes. A task whose worker process
dies (killed, out of memory) is retried once by Ray; a clip whose stage fails (no face, bad
audio) is recorded and the others go on. A clip is done only when its folder holds the headless
command's record of a finished run (``core.run_record``) for exactly its arguments, checked
after the last stage: a re-run skips those clips and does the rest.

The results file gets one JSON line per clip and run: clip, line, status (done, failed, skipped,
interrupted), seconds (worker time), error, exit, out, worker_rss_mb and worker (the process's
resident memory after the clip, and its pid), time.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from ..core import run_record
from ..core.progress import clock
from .manifest import Clip
from .worker import HANDOFF_DIR, run_stage

EXIT_OK, EXIT_SOME_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
WORKING_FILES = (HANDOFF_DIR, ".talkface-frames-*", ".talkface-saving-*", f".{run_record.FILE_NAME}.*")


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler stopping the batch), handled like Ctrl-C."""


@dataclass
class Planned:
    clip: Clip
    args: tuple[str, ...]          # with --overwrite where replacing is safe
    skip: run_record.RunRecord | None = None
    new_folder: bool = False       # the out folder did not exist: a failed clip leaves none


def plan(clips: list[Clip]) -> list[Planned]:
    """What each clip needs. Skipped: its folder holds a finished run of exactly its arguments.
    --overwrite is added when replacing cannot lose anyone's work: the manifest says so, the
    folder holds no outputs yet (anything appearing later is this batch's), it holds TalkFace's
    finished run of other arguments (scene.blend is kept as scene.blend1), or an earlier batch
    attempt of this clip left its working folder. Otherwise the headless command refuses to
    replace the outputs and the clip fails with its message."""
    planned = []
    for clip in clips:
        record = run_record.read_complete(clip.out) if os.path.isdir(clip.out) else None
        if record is not None and record.args == run_record.output_args(clip.args):
            planned.append(Planned(clip, clip.args, skip=record))
            continue
        safe = (clip.overwrite or record is not None or not os.path.isdir(clip.out)
                or not run_record.existing_outputs(clip.out) or os.path.isdir(os.path.join(clip.out, HANDOFF_DIR)))
        planned.append(Planned(clip, clip.args + (("--overwrite",) if safe else ()),
                               new_folder=not os.path.lexists(clip.out)))
    return planned


def clean_working_files(out: str) -> None:
    """After a clip's last task ended (done, failed or cancelled): the hand-over and whatever a
    killed worker left behind (staged frames, a half-saved .blend)."""
    for pattern in WORKING_FILES:
        for path in glob.glob(os.path.join(glob.escape(out), pattern)):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            elif os.path.lexists(path):
                os.remove(path)


class Results:
    """The JSON-lines results file (appended, one line per clip and run, flushed to disk at
    once) and a log file per clip beside it."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.logs = os.path.splitext(self.path)[0] + ".logs"
        os.makedirs(os.path.dirname(self.path), exist_ok=True)

    def log(self, clip: Clip, text: str) -> None:
        if not text:
            return
        os.makedirs(self.logs, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in clip.name)
        with open(os.path.join(self.logs, f"{clip.line:04d}-{safe}.log"), "a", encoding="utf-8") as fh:
            fh.write(text)

    def add(self, clip: Clip, status: str, seconds: float | None = None, error: str | None = None,
            code: int | None = None, rss_mb: float | None = None, worker: int | None = None) -> dict:
        row = {"clip": clip.name, "line": clip.line, "status": status,
               "seconds": None if seconds is None else round(seconds, 3), "error": error, "exit": code,
               "out": clip.out, "worker_rss_mb": None if rss_mb is None else round(rss_mb, 1), "worker": worker,
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return row


@dataclass
class Summary:
    done: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: int = 0
    signal: str = ""                  # SIGINT or SIGTERM when interrupted
    rows: list = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_INTERRUPTED if self.interrupted else EXIT_SOME_FAILED if self.failed else EXIT_OK


def say(message: str) -> None:
    print(f"[batch] {message}", file=sys.stderr, flush=True)


def _start_ray(address: str | None, cpus: int | None, gpus: int | None = None):
    import logging

    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    local = {} if address else {"num_cpus": cpus or os.cpu_count() or 1,
                                **({"num_gpus": gpus} if gpus is not None else {})}
    ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
             ignore_reinit_error=True, **local)
    return ray


def run_batch(clips: list[Clip], results_path: str, address: str | None = None, cpus: int | None = None,
              report=say, gpus: int | None = None) -> Summary:
    """Run every clip not already done; one results line per clip; a progress line per clip."""
    results, summary = Results(results_path), Summary()
    planned = plan(clips)
    todo = deque(p for p in planned if p.skip is None)
    for p in planned:
        if p.skip is not None:
            summary.skipped += 1
            summary.rows.append(results.add(p.clip, "skipped", error=None))
    report(f"{len(clips)} clips: {summary.skipped} already done (skipped), {len(todo)} to run")
    if not todo:
        return summary

    ray = _start_ray(address, cpus, gpus)
    from ray.exceptions import RayError, RayTaskError

    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0)
    on_cpu = ray.remote(num_cpus=1, max_retries=1)(run_stage)
    # GPU workers keep their CUDA context and weights between clips too (Ray's default for GPU
    # tasks is one call per worker process)
    on_bake = ray.remote(num_cpus=1, num_gpus=1 if gpus else 0, max_retries=1, max_calls=0)(run_stage)
    window = max(1, int(resources.get("CPU", 1)))
    report(f"Ray: {int(resources.get('CPU', 0))} CPUs, {int(gpus)} GPUs; bakes on "
           f"{'GPU' if gpus else 'CPU'}")
    inflight: dict = {}                          # ref -> (planned, stage name)
    seconds: dict[int, float] = {}               # clip line -> worker seconds so far
    total, finished, t0 = len(todo), 0, time.perf_counter()

    def submit_first_stages():
        while todo and sum(1 for _, s in inflight.values() if s != "finish") < window:
            p = todo.popleft()
            name = "all" if p.clip.keys_only else "animate"
            inflight[on_cpu.remote(p.clip.name, name, list(p.args), p.clip.out, p.clip.blend)] = (p, name)

    def heard(p: Planned, res: dict):
        """A stage's reply: its worker time counts to the clip, its log goes to the clip's log."""
        seconds[p.clip.line] = seconds.get(p.clip.line, 0.0) + res["seconds"]
        results.log(p.clip, res["log"])

    def settle(p: Planned, status: str, error=None, code=None, res=None):
        nonlocal finished
        clean_working_files(p.clip.out)
        if status != "done" and p.new_folder and os.path.isdir(p.clip.out) and not os.listdir(p.clip.out):
            os.rmdir(p.clip.out)
        finished += 1
        setattr(summary, status, getattr(summary, status) + 1)
        summary.rows.append(results.add(p.clip, status, seconds.get(p.clip.line), error, code,
                                        res and res["rss_mb"], res and res["pid"]))
        elapsed = time.perf_counter() - t0
        eta = elapsed / finished * (total - finished)
        report(f"{summary.done}/{total} done, {summary.failed} failed, {total - finished} remaining; "
               f"{clock(elapsed)} elapsed, ETA {clock(eta)}; {p.clip.name}: {status}"
               + (f" ({error})" if error else ""))

    try:
        submit_first_stages()
        while inflight:
            (ref,), _ = ray.wait(list(inflight), num_returns=1)
            p, name = inflight.pop(ref)
            try:
                res = ray.get(ref)
            except RayTaskError as exc:            # a bug in the stage itself, not a bad clip
                settle(p, "failed", f"{type(exc.cause).__name__}: {exc.cause}")
            except RayError as exc:                # the worker died on both attempts (killed, OOM)
                settle(p, "failed", f"the worker process died on both attempts ({type(exc).__name__}); "
                                    "out of memory?")
            else:
                heard(p, res)
                if res["code"] != 0:
                    settle(p, "failed", res["error"] or f"exit status {res['code']}", res["code"], res)
                elif name == "animate":
                    inflight[on_bake.remote(p.clip.name, "finish", list(p.args), p.clip.out)] = (p, "finish")
                elif run_record.read_complete(p.clip.out) is None:
                    settle(p, "failed", "the run ended without a complete record of its outputs", None, res)
                else:
                    settle(p, "done", code=0, res=res)
            submit_first_stages()
    except KeyboardInterrupt as exc:
        summary.signal = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
        # only what is still running: force-cancelling a task whose reply is arriving can trip a
        # check inside Ray's core worker (seen once: 'Tried to complete task that was not pending')
        ready, running = ray.wait(list(inflight), num_returns=len(inflight), timeout=0) if inflight else ([], [])
        for ref in running:
            ray.cancel(ref, force=True)
        for ref in ready:                          # a clip that finished as Ctrl-C came is done
            p, name = inflight[ref]
            if name != "finish":
                continue
            try:
                res = ray.get(ref)
            except RayError:
                continue
            if res["code"] == 0 and run_record.read_complete(p.clip.out) is not None:
                heard(p, res)
                del inflight[ref]
                settle(p, "done", code=0, res=res)
        ray.shutdown()
        interrupted = [p for p, _ in inflight.values()] + list(todo)
        for p in interrupted:
            clean_working_files(p.clip.out)
            summary.rows.append(results.add(p.clip, "interrupted"))
        summary.interrupted = len(interrupted)
        report(f"interrupted: {summary.done} done, {summary.failed} failed, {summary.interrupted} not finished "
               "(nothing of theirs is marked done; run again to do them)")
        return summary
    ray.shutdown()
    report(f"finished in {clock(time.perf_counter() - t0)}: {summary.done} done, {summary.failed} failed, "
           f"{summary.skipped} skipped; results in {results.path}")
    return summary
