"""Many clips: the batch command on Ray against separate headless runs, worker memory over many
clips, and a batch with failures then its re-run.

    .venv/bin/python bench/batch.py [--clips 20] [--seconds 3] [--memory-clips 100] [--cpus 2]
        [--skip-separate] [--skip-memory] [--keep DIR]

1. throughput: the same clips (half keys-only, half warp-only 256 px video; --seconds of the
   sample speech each, the sample portrait) as --clips separate headless runs one after another,
   and as one batch on Ray's local cluster (--cpus), side by side; wall time from the command's
   start to its end (start-up of Python, bpy, torch and Ray included)
2. memory: --memory-clips keys-only clips in one batch; each worker's resident memory after each
   of its clips (results file), its growth per clip (least squares over all but its first 5, and
   over the second half: the first ~20 clips warm caches up, then it is flat)
3. failures: --clips clips of which one has a photo without a face and one a corrupt audio file;
   the batch, then the same manifest again (only the 2 failed clips run again)

Goals (issue 16): batch >= 2x the separate runs' throughput; memory flat (no growth per clip
beyond noise); 18 done + 2 failed, and a re-run that does only the 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORTRAIT = os.path.join(ROOT, "samples", "portrait.png")
SPEECH = os.path.join(ROOT, "samples", "speech.wav")
HEADLESS = os.path.join(ROOT, "blender_talkface", "headless.py")
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}


def clip_options(i: int) -> tuple[str, dict]:
    return (f"k{i:03d}", {"keys_only": "1"}) if i % 2 == 0 else (f"w{i:03d}", {"mode": "warp", "resolution": "256"})


def write_manifest(path: str, clips: list[dict]) -> None:
    with open(path, "w") as fh:
        for clip in clips:
            fh.write(json.dumps(clip) + "\n")


def batch(manifest: str, cpus: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "talkface.batch", manifest, "--cpus", str(cpus)],
                          capture_output=True, text=True, env=ENV)
    return time.perf_counter() - t0, done.returncode


def results(manifest: str) -> list[dict]:
    with open(os.path.splitext(manifest)[0] + ".results.jsonl") as fh:
        return [json.loads(line) for line in fh]


def throughput(work: str, audio: str, n: int, cpus: int, separate: bool) -> list[tuple]:
    clips = []
    for i in range(n):
        name, options = clip_options(i)
        clips.append({"name": name, "photo": PORTRAIT, "audio": audio, "out": os.path.join(work, "batch", name),
                      **options})
    rows = []
    if separate:
        t0, failed = time.perf_counter(), 0
        for clip in clips:
            args = ["--photo", clip["photo"], "--audio", clip["audio"], "--out",
                    os.path.join(work, "separate", clip["name"])]
            args += ["--keys-only"] if "keys_only" in clip else ["--mode", "warp", "--resolution", "256"]
            failed += subprocess.run([sys.executable, HEADLESS, "--", *args], capture_output=True).returncode != 0
        wall = time.perf_counter() - t0
        rows.append((f"{n} separate headless runs", wall, n - failed))
    manifest = os.path.join(work, "throughput.jsonl")
    write_manifest(manifest, clips)
    wall, code = batch(manifest, cpus)
    rows.append((f"batch on Ray ({cpus} CPUs)", wall, sum(r["status"] == "done" for r in results(manifest))))
    return rows


def memory(work: str, audio: str, n: int, cpus: int) -> tuple[float, dict]:
    manifest = os.path.join(work, "memory.jsonl")
    write_manifest(manifest, [{"name": f"m{i:03d}", "photo": PORTRAIT, "audio": audio, "keys_only": True,
                               "out": os.path.join(work, "memory", f"m{i:03d}")} for i in range(n)])
    wall, _ = batch(manifest, cpus)
    by_worker: dict[int, list[float]] = {}
    for row in results(manifest):
        if row["worker"] is not None:
            by_worker.setdefault(row["worker"], []).append(row["worker_rss_mb"])
    return wall, by_worker


def failures(work: str, audio: str, n: int, cpus: int) -> list[tuple]:
    from PIL import Image

    noface = os.path.join(work, "noface.png")
    Image.fromarray((np.random.default_rng(0).random((256, 256, 3)) * 255).astype(np.uint8)).save(noface)
    corrupt = os.path.join(work, "corrupt.wav")
    with open(corrupt, "wb") as dst:          # a WAV header cut off, then junk (a broken download)
        dst.write(b"RIFF\x24\x80\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    clips = []
    for i in range(n):
        name, options = clip_options(i)
        clip = {"name": name, "photo": PORTRAIT, "audio": audio, "out": os.path.join(work, "failures", name), **options}
        if i == 3:
            clip["photo"] = noface
        if i == 8:
            clip["audio"] = corrupt
        clips.append(clip)
    manifest = os.path.join(work, "failures.jsonl")
    write_manifest(manifest, clips)
    out = []
    for run in ("first run", "re-run"):
        wall, _ = batch(manifest, cpus)
        rows = results(manifest)[-n:]
        counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "skipped")}
        reasons = sorted({f"{r['clip']}: {r['error']}" for r in rows if r["status"] == "failed"})
        out.append((run, wall, counts, reasons))
    return out


def _slope(values) -> float:
    """Least-squares growth per clip (MB); the first clips warm caches up (features, MediaPipe,
    Python's and Blender's allocators), so the second half says whether memory keeps growing."""
    return float(np.polyfit(np.arange(len(values)), values, 1)[0]) if len(values) > 2 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--memory-clips", type=int, default=100)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--skip-separate", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--keep", help="work in this folder and keep it")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="talkface-batch-bench-")
    os.makedirs(work, exist_ok=True)
    samples, sr = sf.read(SPEECH)
    audio = os.path.join(work, "line.wav")
    sf.write(audio, samples[: int(args.seconds * sr)], sr)
    try:
        rows = throughput(work, audio, args.clips, args.cpus, not args.skip_separate)
        print(f"\nthroughput: {args.clips} clips of {args.seconds:g} s (half keys-only, half warp 256 px video)")
        print(f"{'way':34s} {'wall s':>8s} {'clips/min':>10s} {'done':>5s} {'speed-up':>9s}")
        base = rows[0][1] if len(rows) == 2 else None
        for way, wall, done in rows:
            speed = f"{base / wall:8.2f}x" if base else "        -"
            print(f"{way:34s} {wall:8.1f} {60 * args.clips / wall:10.1f} {done:5d} {speed}")

        if not args.skip_memory:
            wall, by_worker = memory(work, audio, args.memory_clips, args.cpus)
            print(f"\nmemory: {args.memory_clips} keys-only clips in {wall:.0f} s; resident MB of each worker after its clips")
            print(f"{'worker':>8s} {'clips':>6s} {'after 1st':>10s} {'after 10th':>11s} {'last':>7s} "
                  f"{'MB/clip 6..':>12s} {'MB/clip 2nd half':>17s}")
            for pid, rss in sorted(by_worker.items()):
                tenth = f"{rss[9]:11.0f}" if len(rss) >= 10 else f"{'-':>11s}"
                print(f"{pid:8d} {len(rss):6d} {rss[0]:10.0f} {tenth} {rss[-1]:7.0f} {_slope(rss[5:]):12.3f} "
                      f"{_slope(rss[len(rss) // 2:]):17.3f}")

        print(f"\nfailures: {args.clips} clips, one photo without a face, one corrupt audio file")
        print(f"{'run':10s} {'wall s':>7s} {'done':>5s} {'failed':>7s} {'skipped':>8s}  reasons")
        for run, wall, counts, reasons in failures(work, audio, args.clips, args.cpus):
            print(f"{run:10s} {wall:7.1f} {counts['done']:5d} {counts['failed']:7d} {counts['skipped']:8d}  "
                  + " | ".join(r[:90] for r in reasons))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
