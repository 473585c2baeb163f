"""Tracked HDTF training records: the on-disk layout ``core.hdtf_track`` writes and the trainers read.

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
                                    "run python -m core.hdtf_track --clips PREPARED --out RECORDS")
        self.index = json.loads(path.read_text(encoding="utf-8"))
        if self.index.get("format") != FORMAT:
            raise ValueError(f"{path} is not a TalkFace records index ({FORMAT})")

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.index["channels"])

    def clips(self, split: str | None = None) -> list[RecordClip]:
        return [RecordClip(self.root, m) for m in self.index["clips"] if split is None or m["split"] == split]


# ------------------------------------------------------------------ lip metrics on tracked clips

def lag_ms(pred: np.ndarray, ref: np.ndarray, fps: float, max_lag: int = 10) -> float:
    """A/V lag at the cross-correlation peak (+ = prediction late), sub-frame by a parabola;
    the same estimate as bench/lipsync.py."""
    a, b = pred - pred.mean(), ref - ref.mean()
    lags = np.arange(-max_lag, max_lag + 1)
    cc = np.array([np.dot(a[max(0, k):len(a) + min(0, k)], b[max(0, -k):len(b) - max(0, k)]) for k in lags])
    i = int(np.argmax(cc))
    shift = float(lags[i])
    if 0 < i < len(cc) - 1:
        denom = cc[i - 1] - 2 * cc[i] + cc[i + 1]
        if denom != 0:
            shift += 0.5 * (cc[i - 1] - cc[i + 1]) / denom
    return 1000.0 * shift / fps


def _gap_mm(model, weights_52: np.ndarray) -> np.ndarray:
    from .face_model import inner_lip_gap

    out = [inner_lip_gap(model, model.vertices(None, weights_52[s:s + 2000], None)) * 1000.0
           for s in range(0, len(weights_52), 2000)]
    return np.concatenate(out) if out else np.zeros(0)


def closure_events(gap_mm: np.ndarray, closed_mm: float = 1.0) -> list[tuple[int, int]]:
    """[start, end) frame runs where the reference lips are closed (gap <= closed_mm)."""
    closed = np.r_[False, gap_mm <= closed_mm, False]
    edges = np.flatnonzero(np.diff(closed.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def lip_metrics(pairs, fps: float, model=None) -> dict:
    """bench/lipsync.py's metrics where the reference is tracked video, not phonemes.

    ``pairs``: iterable of (predicted weights [F, 52], reference weights [F, 52]). ``closure_runs`` is the
    share of the reference's closed-lip runs (tracked gap <= 1 mm, standing in for /p b m/,
    which HDTF does not annotate) during which the predicted gap also closes to <= 1 mm;
    r the correlation of the gap curves; lag their cross-correlation peak."""
    if model is None:
        from .face_model import load_face_model

        model = load_face_model()
    closed = total = 0
    preds, refs, lags = [], [], []
    for pred_w, ref_w in pairs:
        pg, rg = _gap_mm(model, np.asarray(pred_w)), _gap_mm(model, np.asarray(ref_w))
        for a, b in closure_events(rg):
            total += 1
            closed += bool(pg[max(a - 1, 0):b + 1].min() <= 1.0)
        preds.append(pg)
        refs.append(rg)
        if rg.std() > 0.1 and pg.std() > 0.1:
            lags.append(lag_ms(pg, rg, fps))
    p = np.concatenate(preds) if preds else np.zeros(0)
    r = np.concatenate(refs) if refs else np.zeros(0)
    ok = len(p) > 1 and p.std() > 0 and r.std() > 0
    return {"closure_runs": closed / total if total else float("nan"), "n_closure_runs": total,
            "gap_r": float(np.corrcoef(p, r)[0, 1]) if ok else float("nan"),
            "lag_ms": float(np.median(lags)) if lags else float("nan")}
