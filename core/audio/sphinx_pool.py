"""Helper processes that run PocketSphinx passes (``sphinx_helper``) beside this one.

A ``Pool`` starts its processes at once (each builds its decoders while this process goes on,
unless they wait for their first job's settings) and
runs batches of jobs on them; a thread per helper feeds it one job at a time. ``Batch.results``
returns each job's answer, or ``NOT_RUN`` for a job no helper could finish (the helper failed to start,
died or wrote nonsense): the caller runs those itself with the same passes, so a failing helper
costs time, never a different result.

``Kept`` keeps a pool, and this process's own decoders, for the next take with the same settings
(the 'words' mode's are always the same): starting two helpers costs about a second, as much as
recognising a 3 s line. They are let go ``KEEP_S`` after their last use,
so an idle Blender does not hold them.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
import os
import struct
import subprocess
import sys
import threading
from typing import Callable

from .sphinx_helper import Decoders

HELPERS_ENV = "TALKFACE_PHONE_HELPERS"      # how many helper processes (helper_count)
MAX_HELPERS = 2
HELPER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sphinx_helper.py")
KEEP_S = 120.0      # a kept pool and its decoders are let go this long after their last use


def helper_count() -> int:
    """Helper processes to start: one per CPU this process may use, at most MAX_HELPERS, none on
    one CPU. ``TALKFACE_PHONE_HELPERS`` sets the number (0: everything in this process, say for a
    farm already running one Blender per core)."""
    setting = os.environ.get(HELPERS_ENV, "").strip()
    if setting:
        try:
            return max(0, min(int(setting), MAX_HELPERS))
        except ValueError:
            return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:          # macOS, Windows
        cpus = os.cpu_count() or 1
    return min(cpus, MAX_HELPERS) if cpus >= 2 else 0


Job = tuple[dict, Callable[[], bytes]]      # (JSON header, the chunk's PCM when it is sent)


#: A job no helper could run (its answer may itself be None: a pass that failed there).
NOT_RUN = object()


class Batch:
    """Jobs submitted together. ``on_done(done, total)``, when given, is called from the helper
    threads as each job's answer arrives (not for jobs no helper could run), one call at a time
    and with ``done`` rising: it must be quick (a progress line)."""

    def __init__(self, pool: "Pool", jobs: list[Job], on_done: Callable[[int, int], None] | None = None):
        self.pool, self.jobs, self.on_done = pool, jobs, on_done
        self.answers: list = [NOT_RUN] * len(jobs)
        self.pending = len(jobs)
        self.answered = 0

    def finish(self, i: int, answer) -> None:
        with self.pool.cond:
            self.answers[i] = answer
            self.pending -= 1
            if answer is not NOT_RUN:
                self.answered += 1
                if self.on_done is not None:        # under the lock: the counts arrive in order
                    self.on_done(self.answered, len(self.jobs))
            self.pool.cond.notify_all()

    def _drop_queued(self) -> None:
        """Take this batch's jobs that no helper has started off the queue (holding the lock)."""
        mine = [item for item in self.pool.queue if item[0] is self]
        for item in mine:
            self.pool.queue.remove(item)
        self.pending -= len(mine)

    def results(self, cancelled: Callable[[], bool] | None = None) -> list:
        """Wait for every job; NOT_RUN where no helper could run it. ``cancelled()``, asked about
        four times a second meanwhile, stops the wait (InterruptedError): the jobs not started are
        dropped, the ones running finish in their helpers unread."""
        pool = self.pool
        with pool.cond:
            while self.pending:
                if pool.alive == 0:         # nobody left to run what is still queued
                    self._drop_queued()
                    break
                if cancelled is not None and cancelled():
                    self._drop_queued()
                    raise InterruptedError("cancelled")
                pool.cond.wait(timeout=None if cancelled is None else 0.25)
        return self.answers

    def cancel(self) -> None:
        """Run nothing more of this batch (what is running finishes)."""
        with self.pool.cond:
            self._drop_queued()
            self.pool.cond.notify_all()


class Pool:
    """``count`` helper processes whose decoders are built from ``settings`` (name -> Decoder
    keyword arguments, JSON-able): as they start, or with ``lazy`` on their first job (whose
    header may bring a transform: ``sphinx_helper``)."""

    def __init__(self, settings: dict, count: int, lazy: bool = False):
        self.cond = threading.Condition()
        self.queue: collections.deque = collections.deque()
        self.alive, self.closed = 0, False
        self._threads: list[threading.Thread] = []
        self.processes: list[subprocess.Popen] = []
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        for _ in range(count):
            try:
                # no console window flashing up per helper when Blender runs with a UI on Windows
                proc = subprocess.Popen([sys.executable, HELPER_SCRIPT, json.dumps(settings)] + ["--lazy"] * lazy,
                                        env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL,
                                        creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
            except OSError:
                break
            self.alive += 1
            self.processes.append(proc)
            thread = threading.Thread(target=self._run, args=(proc,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, jobs: list[Job], on_done: Callable[[int, int], None] | None = None) -> Batch:
        batch = Batch(self, jobs, on_done)
        with self.cond:
            self.queue.extend((batch, i) for i in range(len(jobs)))
            self.cond.notify_all()
        return batch

    def _run(self, proc: subprocess.Popen) -> None:
        item = None
        try:
            while True:
                with self.cond:
                    while not self.queue and not self.closed:
                        self.cond.wait()
                    if not self.queue:
                        break
                    item = self.queue.popleft()
                batch, i = item
                header, pcm = json.dumps(batch.jobs[i][0]).encode(), batch.jobs[i][1]()
                proc.stdin.write(struct.pack("<qq", len(header), len(pcm)) + header + pcm)
                proc.stdin.flush()
                line = proc.stdout.readline()
                if not line:
                    break
                batch.finish(i, json.loads(line))
                item = None
            proc.stdin.write(struct.pack("<qq", 0, 0))
            proc.stdin.flush()
        except (OSError, ValueError):       # the helper died or wrote nonsense
            pass
        if item is not None:
            item[0].finish(item[1], NOT_RUN)    # the caller runs it
        with self.cond:
            self.alive -= 1
            self.cond.notify_all()
        try:
            proc.stdin.close()
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - a stuck helper must not outlive its pool
            proc.kill()
        proc.stdout.close()

    def close(self) -> None:
        """End the helpers once the queue is empty (callers have their results by then)."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
        for thread in self._threads:
            thread.join()
        self._threads = []


class Kept:
    """One pool (``count`` helpers; None for none) and this process's ``sphinx_helper.Decoders``,
    both for ``settings``, kept between uses: ``use`` hands out the kept ones while the settings and
    the count are unchanged and every helper is alive, else it starts new ones (closing the old).
    ``KEEP_S`` after the last use ends, a timer lets both go. A use that comes while another is
    under way (another thread) gets its own, closed when it ends. ``lazy``: the helpers build their
    decoders on their first job (``Pool``), unless a use says otherwise."""

    def __init__(self, lazy: bool = False):
        self.lazy = lazy
        self.lock = threading.Lock()
        self.key = self.pool = self.decoders = self.timer = None
        self.busy = False

    @contextlib.contextmanager
    def use(self, settings: dict, count: int, lazy: bool | None = None):
        """``lazy``: for helpers this use starts (None: the ``Kept``'s own): False where its jobs bring
        no transform, so the helpers build their decoders while this process does other work."""
        lazy = self.lazy if lazy is None else lazy
        key = (json.dumps(settings, sort_keys=True), count)
        with self.lock:
            mine = not self.busy
            if mine:
                self.busy = True
                if self.timer is not None:
                    self.timer.cancel()
                    self.timer = None
                healthy = self.pool is None or (self.pool.alive == count
                                                 and all(p.poll() is None for p in self.pool.processes))
                if key != self.key or not healthy:
                    self._let_go()
                    self.key = key
                    self.pool = Pool(settings, count, lazy) if count else None
                    self.decoders = Decoders(settings)
                pool, decoders = self.pool, self.decoders
        if not mine:
            pool, decoders = (Pool(settings, count, lazy) if count else None), Decoders(settings)
        try:
            yield pool, decoders
        finally:
            if not mine:
                if pool is not None:
                    pool.close()
            else:
                with self.lock:
                    self.busy = False
                    self.timer = threading.Timer(KEEP_S, self.let_go)
                    self.timer.daemon = True
                    self.timer.start()

    def let_go(self) -> None:
        """End the kept helpers and drop the kept decoders (unless a use is under way)."""
        with self.lock:
            if not self.busy:
                self._let_go()

    def _let_go(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        pool, self.key, self.pool, self.decoders, self.timer = self.pool, None, None, None, None
        if pool is not None:
            pool.close()


#: the 'words' mode's pool and decoders (``core.audio.recognition``); PocketSphinx's word search jobs
#: bring the take's transform, so nothing is built before them (Whisper's align jobs bring none: that
#: use builds as the helpers start)
RECOGNITION = Kept(lazy=True)
atexit.register(RECOGNITION.let_go)
