"""Tracked HDTF training records: the on-disk layout ``training.hdtf.track`` writes and the trainers read.

::

    RECORDS/index.json              format, rates, channel and feature names, split, one entry per clip
    RECORDS/shards/NAME/meta.json   the clip's entry (also what a resumed run checks)
    RECORDS/shards/NAME/*.npy       its arrays, plain .npy so np.load(mmap_mode="r") maps them

One shard per clip: clips are tracked in parallel and independently, so a shard is written
(under a temporary name, then renamed) by the worker that tracked it, and an interrupted run
loses at most the clips in flight. Arrays (F = frames at the animator's 50 fps, T = video frames):

* ``features`` [F, D] float32 speech features (``index["feature_kind"]``, ``core.features``)
* ``targets``  [F, 58] float32 the animator's targets: 52 ARKit weights, then head pose offsets
  from the clip's median pose (``core.animation.HEAD_CHANNELS``), resampled from video rate
* ``weights``  [T, 52] float32, ``pose`` [T, 6] float32 (absolute), the smoothed face states
* ``found``    [T] bool, False where no face was detected (those frames are interpolated)
* ``error_iod`` [T] float32 fit error per frame in eye distances (NaN where not found)
* ``landmarks`` [T, 468, 3] float16 raw MediaPipe points in pixels (NaN where not found), so a
  new face model can be re-fitted without running the detector again
* ``identity`` [S] float32 and ``camera`` [5] float64 (focal, cx, cy, width, height)

No pickle anywhere: JSON and ``.npy`` only.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "talkface-hdtf-records-1"
INDEX = "index.json"
ARRAYS = ("features", "targets", "weights", "pose", "found", "error_iod", "landmarks", "identity", "camera")


def is_records(folder: str | os.PathLike) -> bool:
    return (Path(folder) / INDEX).is_file()


def heldout_sources(sources, fraction: float) -> set[str]:
    """Whole speakers (source videos) held out, chosen by a hash of the name so adding clips
    later does not move anyone; a corpus of two or more sources always holds out at least one."""
    sources = sorted(set(sources))
    if fraction <= 0 or len(sources) < 2:
        return set()
    score = {s: int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "little") / 2.0 ** 64 for s in sources}
    out = {s for s in sources if score[s] < fraction}
    if not out:
        out = {min(sources, key=score.get)}
    if len(out) == len(sources):
        out.discard(max(out, key=score.get))
    return out


@dataclass(frozen=True)
class RecordClip:
    """One tracked clip: its index entry and its arrays, memory-mapped on first use."""

    root: Path
    meta: dict

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def source(self) -> str:
        return self.meta["source"]

    @property
    def split(self) -> str:
        return self.meta.get("split", "train")

    @property
    def video(self) -> Path:
        return Path(self.meta["video"])

    def array(self, key: str, mmap: bool = True) -> np.ndarray:
        if key not in ARRAYS:
            raise KeyError(key)
        return np.load(self.root / self.meta["shard"] / f"{key}.npy", mmap_mode="r" if mmap else None,
                       allow_pickle=False)


class Records:
    """A records folder: ``Records(path).clips("train")`` -> [RecordClip]."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        path = self.root / INDEX
        if not path.is_file():
            raise FileNotFoundError(f"{root} holds no tracked records ({INDEX} missing): "
                                    "run python -m talkface.training.hdtf.track --clips PREPARED --out RECORDS")
        self.index = json.loads(path.read_text(encoding="utf-8"))
        if self.index.get("format") != FORMAT:
            raise ValueError(f"{path} is not a TalkFace records index ({FORMAT})")

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.index["channels"])

    def clips(self, split: str | None = None) -> list[RecordClip]:
        return [RecordClip(self.root, m) for m in self.index["clips"] if split is None or m["split"] == split]
