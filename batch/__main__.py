# SPDX-License-Identifier: GPL-3.0-or-later
"""python -m talkface.batch MANIFEST [--results FILE] [--address ray://HOST:PORT] [--cpus N] [--gpus N]
                                     [--dry-run] [--flamenco-job FILE] [--flamenco-submit URL]

Runs every clip of MANIFEST (CSV or JSON lines, see ``batch.manifest``) on Ray: the local
embedded cluster by default (no server to start), an existing cluster with --address or
RAY_ADDRESS. Clips already done are skipped; a failing clip is recorded and the others go on.

Exit status: 0 every clip done (or already done); 1 some clips failed (see the results file);
2 the manifest or the command line is wrong (one line, nothing ran); 130 / 143 interrupted
(SIGINT / SIGTERM: unfinished clips are left unmarked and their working files removed).
"""

from __future__ import annotations

import argparse
import os
import sys

from .manifest import ManifestError, read_manifest
from .runner import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, plan, run_batch, say


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ManifestError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m talkface.batch", description="Run a manifest of TalkFace clips.")
    p.add_argument("manifest", help="CSV (with a header) or JSON-lines file: photo, audio, out, options")
    p.add_argument("--results", help="JSON-lines results file (default: MANIFEST's name + .results.jsonl)")
    p.add_argument("--address", help="an existing Ray cluster (ray://HOST:PORT or auto); default: "
                                     "RAY_ADDRESS, else a local cluster on this machine")
    p.add_argument("--cpus", type=int, help="CPUs of the local cluster (default: all)")
    p.add_argument("--gpus", type=int, help="GPUs of the local cluster (default: those Ray finds)")
    p.add_argument("--dry-run", action="store_true", help="say what would run and what is done; run nothing")
    p.add_argument("--flamenco-job", metavar="FILE",
                   help="write a Flamenco job (type 'talkface', one task per clip not yet done) instead of running")
    p.add_argument("--flamenco-submit", metavar="URL",
                   help="submit that job to the Flamenco Manager at URL (e.g. http://manager:8080)")
    p.add_argument("--job-name", help="the Flamenco job's name (default: the manifest's name)")
    return p


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    import signal

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        ns = build_parser().parse_args(argv)
        clips = read_manifest(ns.manifest)
        if ns.cpus is not None and ns.cpus < 1:
            raise ManifestError(f"--cpus must be at least 1, got {ns.cpus}")
        if ns.gpus is not None and ns.gpus < 0:
            raise ManifestError(f"--gpus must be 0 or more, got {ns.gpus}")
    except ManifestError as exc:
        print(f"talkface-batch: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    if ns.flamenco_job or ns.flamenco_submit:
        from .flamenco import job_for, submit, write_job

        job = job_for(plan(clips), ns.job_name or os.path.splitext(os.path.basename(ns.manifest))[0])
        if ns.flamenco_job:
            write_job(job, ns.flamenco_job)
            say(f"wrote {ns.flamenco_job}: {job['settings']['clip_count']} clips")
        if ns.flamenco_submit:
            try:
                say(f"submitted: {submit(job, ns.flamenco_submit)}")
            except OSError as exc:
                print(f"talkface-batch: error: submitting to {ns.flamenco_submit} failed: {exc}", file=sys.stderr)
                return 1
        return 0
    if ns.dry_run:
        from ..core.run_record import existing_outputs

        for p in plan(clips):
            replacing = os.path.isdir(p.clip.out) and existing_outputs(p.clip.out)
            state = ("done, skipped" if p.skip else "to run" if not replacing else
                     "to run, replacing its outputs" if "--overwrite" in p.args else
                     "will fail: its folder holds another run's outputs (set overwrite)")
            print(f"line {p.clip.line} {p.clip.name}: {state}")
        return 0
    results = ns.results or os.path.splitext(os.path.abspath(ns.manifest))[0] + ".results.jsonl"
    try:
        summary = run_batch(clips, results, ns.address, ns.cpus, gpus=ns.gpus)
    except Terminated:
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_TERMINATED if summary.interrupted and summary.signal == "SIGTERM" else summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
