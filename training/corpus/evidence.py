"""Add phone evidence to every shard of a speech corpus.

    python -m talkface.training.corpus.evidence CORPUS [--kind phone_posteriors] [--workers 2]

Two kinds, each computed from an acoustic model trained on real speech (PocketSphinx en-us):
``phone_evidence`` [frames, classes], the phone loop's decisions as class shares
(``core.audio.phone_loop``), and ``phone_posteriors`` [frames, phones], the model's own per-frame phone
posteriors (``core.audio.senones``). Either runs on each utterance's stored (degraded) audio,
exactly as it will run on a user's recording, and is saved in the shard beside the spectral
features. Resumable: shards that already hold it are skipped; each shard is rewritten atomically
(through symlinks: a corpus made of another's shards updates those).
"""

from __future__ import annotations

import argparse
import glob
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ...core.audio import phone_loop, senones
from ...core.audio.loading import from_array
from .build import load_shard

#: kind -> (audio, n_frames, fps) -> [n_frames, columns]
KINDS = {"phone_evidence": phone_loop.evidence_for, "phone_posteriors": senones.phone_posteriors}


def shard_evidence(arrays: dict[str, np.ndarray], fps: float, path: str = "",
                   kind: str = "phone_evidence") -> np.ndarray:
    """[frames, columns] for every utterance of a loaded shard, from its stored audio."""
    if "audio" not in arrays:
        raise ValueError(f"{path} keeps no audio (written with keep_audio=False): regenerate it")
    audio, a_off, f_off = arrays["audio"], arrays["audio_offsets"], arrays["frame_offsets"]
    rows = []
    for i in range(len(f_off) - 1):
        samples = audio[a_off[i]:a_off[i + 1]].astype(np.float32) / 32767.0
        rows.append(KINDS[kind](from_array(samples, 16000), int(f_off[i + 1] - f_off[i]), fps))
    return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)


def add_to_shard(path: str, fps: float, force: bool = False, kind: str = "phone_evidence") -> tuple[str, float]:
    t0 = time.perf_counter()
    path = os.path.realpath(path)
    arrays = load_shard(path)
    if kind in arrays and not force:
        return path, 0.0
    evidence = shard_evidence(arrays, fps, path, kind)
    if len(evidence) != len(arrays["targets"]):
        raise ValueError(f"{path}: {len(evidence)} evidence frames for {len(arrays['targets'])} targets")
    arrays[kind] = evidence.astype(np.float16)
    tmp = path[:-len(".npz")] + ".evidence.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path, time.perf_counter() - t0


def add_evidence(corpus: str, workers: int = 2, force: bool = False, log=print, kind: str = "phone_evidence") -> int:
    with open(os.path.join(corpus, "manifest.json"), encoding="utf-8") as fh:
        fps = float(json.load(fh)["fps"])
    shards = sorted(glob.glob(os.path.join(corpus, "train", "*.npz")) +
                    glob.glob(os.path.join(corpus, "heldout", "*.npz")))
    shards = [s for s in shards if not s.endswith(".tmp.npz")]
    done = 0
    jobs = (shards, [fps] * len(shards), [force] * len(shards), [kind] * len(shards))
    # one worker: in this process; more: spawned, never forked (a fork of a process whose torch
    # thread pool is running deadlocks the child, and the posteriors use torch)
    pool = (ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            if workers > 1 else None)
    try:
        for path, seconds in (pool.map(add_to_shard, *jobs) if pool else map(add_to_shard, *jobs)):
            done += 1
            log(f"[{done}/{len(shards)}] {path}"
                + (f" in {seconds:.0f}s" if seconds else " (already had it)"))
    finally:
        if pool:
            pool.shutdown()
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m talkface.training.corpus.evidence",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("corpus")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="recompute shards that already hold evidence")
    ap.add_argument("--kind", choices=sorted(KINDS), default="phone_evidence")
    args = ap.parse_args(argv)
    add_evidence(args.corpus, args.workers, args.force, kind=args.kind)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
