"""Per-frame face tracking of prepared HDTF clips -> training records for both modules.

    python -m talkface.training.hdtf.track --clips PREPARED_DIR --out RECORDS_DIR [--workers N] [--heldout-fraction 0.1]

``PREPARED_DIR`` is what ``training.hdtf.prepare`` wrote (``manifest.jsonl``, ``clips/NAME.mp4`` +
``NAME.wav``). For each clip:

1. **Landmarks on every frame** (``core.landmarks``, MediaPipe): the full detector on the first
   frame and whenever the face is lost; in between only the mesh, on a crop around the previous
   frame's face (~20x cheaper, and what the detector's own second pass does).
2. **Identity shared per clip**: full fits (``core.fitting.fit_landmarks``) of a few frames spread
   over the clip; the median identity and focal length are then held fixed.
3. **Expression and pose per frame**: the same fit with identity and focal fixed (a model whose
   neutral shape is the person's), so only the 52 weights and 6 pose numbers move.
4. **Missing frames** (no face found) are linearly interpolated from their neighbours and
   flagged in ``found``; a clip where fewer than ``min_found`` of the frames show a face fails.
5. **Temporal smoothing**: a small Gaussian over time (``smooth_frames`` video frames).
6. **Audio features** (``core.features``, log-mel, at the animator's 50 fps) and the animator's
   targets resampled from the video's 25 fps to 50 (linear).

Records layout: ``training.hdtf.records``. Parallel over clips (process pool), resumable (a clip whose
shard matches the settings and the prepared files is skipped), progress lines on stderr, failed
clips listed with their reason in ``RECORDS/failed.jsonl``; one run per output folder at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ...core.errors import InputError
from ...core.progress import Progress
from .jobs import run_each
from .records import FORMAT, INDEX, heldout_sources

FEATURE_FPS = 50.0          # core.animator.NETWORK_FPS (not imported: workers need no torch)
TRACK_VERSION = 1


class TrackError(InputError):
    """This clip cannot be tracked (the message says why); the run goes on with the others."""


@dataclass(frozen=True)
class TrackConfig:
    identity_frames: int = 8        # frames fitted in full for the clip's identity and focal length
    smooth_frames: float = 0.75     # Gaussian sigma over time, video frames (keeps 2-frame closures)
    min_found: float = 0.5          # a clip with a face in fewer frames than this share fails
    feature_kind: str = "logmel"
    feature_fps: float = FEATURE_FPS

    def key(self) -> dict:
        """Settings that change the records: a shard made with others is redone."""
        return {**asdict(self), "version": TRACK_VERSION}


@dataclass
class TrackReport:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------ pure pieces

def interpolate_missing(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Rows where ``found`` is False replaced by linear interpolation in time (ends held)."""
    values = np.asarray(values, np.float64)
    found = np.asarray(found, bool)
    if found.all():
        return values.copy()
    if not found.any():
        raise ValueError("no frame to interpolate from")
    t = np.arange(len(values))
    flat = values.reshape(len(values), -1)
    out = np.stack([np.interp(t, t[found], col[found]) for col in flat.T], axis=1)
    return out.reshape(values.shape)


def smooth_time(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian over axis 0 (edges held), sigma in frames; 0 leaves the values alone."""
    if sigma <= 0 or len(values) < 2:
        return np.asarray(values, np.float64).copy()
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(np.asarray(values, np.float64), sigma, axis=0, mode="nearest")


def resample_frames(values: np.ndarray, fps_in: float, n_out: int, fps_out: float) -> np.ndarray:
    """Linear resampling of [T, C] at ``fps_in`` to ``n_out`` frames at ``fps_out`` (frame k at
    time k / fps); times past the last input frame hold it."""
    values = np.asarray(values, np.float64)
    pos = np.arange(n_out) * (fps_in / fps_out)
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, len(values) - 1)
    i1 = np.minimum(i0 + 1, len(values) - 1)
    frac = np.clip(pos - i0, 0.0, 1.0)[:, None]
    return values[i0] * (1.0 - frac) + values[i1] * frac


def fixed_identity_model(model, identity: np.ndarray):
    """The face model with this person's shape as its neutral and no identity modes: fitting it
    moves only expression and pose."""
    neutral = model.neutral_vertices(identity).astype(np.float32)
    empty = np.zeros((0,) + model.neutral.shape, np.float32)
    return replace(model, neutral=neutral, identity_basis=empty, identity_names=())


# ------------------------------------------------------------------------------ one clip

def _video_frames(path: Path):
    """RGB uint8 frames of a prepared clip, one at a time (a long clip never sits in memory)."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise TrackError(f"{path.name} has no video stream")
            for frame in c.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
    except av.FFmpegError as exc:
        raise TrackError(f"cannot read {path.name}: {exc}") from exc


def _landmarks(rgb_u8: np.ndarray, prev: np.ndarray | None, name: str) -> np.ndarray | None:
    """[468, 3] pixels of the face, or None. With ``prev`` (the last frame's points) only the mesh
    runs, on a crop around them; the full detector runs when there is none or the mesh loses it."""
    from ...core.face.image_io import Photo
    from ...core.face.landmarks import (
        MIN_FACE_PX,
        N_POINTS,
        FaceTooSmallError,
        NoFaceError,
        detect_landmarks,
        mesh_on_crop,
    )

    rgb = rgb_u8.astype(np.float32) / 255.0
    if prev is not None:
        (x0, y0), (x1, y1) = prev[:, :2].min(0), prev[:, :2].max(0)
        pts = mesh_on_crop(rgb, (x0 + x1) / 2, (y0 + y1) / 2, 1.5 * max(x1 - x0, y1 - y0))
        if pts is not None and np.ptp(pts[:N_POINTS, 0]) >= MIN_FACE_PX:
            return pts[:N_POINTS]
    h, w = rgb.shape[:2]
    try:
        return detect_landmarks(Photo(rgb, name, "", (w, h))).points
    except (NoFaceError, FaceTooSmallError):
        return None


@dataclass(frozen=True)
class ClipTrack:
    """The tracked face of one clip at video rate."""

    weights: np.ndarray     # [T, 52] smoothed
    pose: np.ndarray        # [T, 6] smoothed, absolute
    found: np.ndarray       # [T] bool
    error_iod: np.ndarray   # [T] NaN where not found
    landmarks: np.ndarray   # [T, 468, 3] raw, NaN where not found
    identity: np.ndarray    # [S]
    camera: np.ndarray      # [5] focal, cx, cy, width, height
    identity_spread: float  # mean std of the per-frame identity estimates (how consistent)


def fit_track(landmarks: np.ndarray, found: np.ndarray, size: tuple[int, int], model,
              cfg: TrackConfig = TrackConfig()) -> ClipTrack:
    """Landmarks [T, 468, 3] of a clip -> identity (shared), expression and pose (per frame)."""
    from ...core.face.fitting import fit_landmarks

    idx = np.flatnonzero(found)
    picks = idx[np.unique(np.linspace(0, len(idx) - 1, min(cfg.identity_frames, len(idx))).round().astype(int))]
    full = [fit_landmarks(landmarks[k, :, :2], model, size, depth=landmarks[k, :, 2]) for k in picks]
    ids = np.stack([f.identity for f in full])
    identity = np.median(ids, axis=0)
    focal = float(np.median([f.focal for f in full]))
    fixed = fixed_identity_model(model, identity)
    T = len(found)
    weights = np.zeros((T, model.expression_basis.shape[0]))
    pose = np.zeros((T, 6))
    error = np.full(T, np.nan, np.float32)
    for k in idx:
        f = fit_landmarks(landmarks[k, :, :2], fixed, size, depth=landmarks[k, :, 2], focal=focal)
        weights[k], pose[k], error[k] = f.expression, f.pose, f.error_iod
    pose[idx, :3] = np.unwrap(pose[idx, :3], axis=0)
    weights = np.clip(smooth_time(interpolate_missing(weights, found), cfg.smooth_frames), 0.0, 1.0)
    pose = smooth_time(interpolate_missing(pose, found), cfg.smooth_frames)
    w, h = size
    return ClipTrack(weights.astype(np.float32), pose.astype(np.float32), found.copy(), error,
                     landmarks.astype(np.float16), identity.astype(np.float32),
                     np.array([focal, w / 2.0, h / 2.0, w, h], np.float64),
                     float(ids.std(axis=0).mean()) if len(ids) > 1 else 0.0)


def animator_targets(track: ClipTrack, video_fps: float, n_out: int, fps_out: float) -> tuple[np.ndarray, np.ndarray]:
    """[n_out, 58] ARKit weights + head offsets from the clip's median pose, at ``fps_out``;
    returns (targets, reference pose)."""
    ref = np.median(track.pose[track.found], axis=0)
    states = np.concatenate([track.weights, track.pose - ref], axis=1)
    return resample_frames(states, video_fps, n_out, fps_out).astype(np.float32), ref


def track_clip(rec: dict, prepared: Path, out: Path, cfg: TrackConfig = TrackConfig()) -> dict:
    """Track one prepared clip and write its shard; returns its index entry. Raises TrackError."""
    from ...core.audio.features import FeatureConfig, compute_features
    from ...core.audio.loading import AudioError, load_audio
    from ...core.face.model import load_face_model

    t0 = time.perf_counter()
    name = rec["name"]
    video, audio_path = prepared / rec["video"], prepared / rec["audio"]
    if not video.is_file():
        raise TrackError(f"the prepared video {video} is missing")
    if not audio_path.is_file():
        raise TrackError(f"the prepared audio {audio_path} is missing (re-run training.hdtf.prepare)")
    try:
        audio = load_audio(audio_path)
    except AudioError as exc:
        raise TrackError(str(exc)) from exc

    points, prev, size = [], None, None
    for rgb in _video_frames(video):
        size = (rgb.shape[1], rgb.shape[0])
        pts = _landmarks(rgb, prev, name)
        points.append(pts)
        prev = pts
    if not points:
        raise TrackError(f"{video.name} has no frames")
    found = np.array([p is not None for p in points])
    if found.mean() < cfg.min_found:
        raise TrackError(f"a face was found in {int(found.sum())} of {len(found)} frames "
                         f"(fewer than {cfg.min_found:.0%}): not a usable talking-face clip")
    lms = np.stack([p if p is not None else np.full((468, 3), np.nan) for p in points])
    track = fit_track(lms, found, size, load_face_model(), cfg)

    fps = float(rec.get("fps", 25))
    feats = compute_features(audio, FeatureConfig(kind=cfg.feature_kind, fps=cfg.feature_fps))
    targets, ref_pose = animator_targets(track, fps, len(feats.values), cfg.feature_fps)

    shard = out / "shards" / name
    tmp = out / "shards" / f".{name}.part{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    arrays = {"features": feats.values.astype(np.float32), "targets": targets, "weights": track.weights,
              "pose": track.pose, "found": track.found, "error_iod": track.error_iod,
              "landmarks": track.landmarks, "identity": track.identity, "camera": track.camera}
    for key, value in arrays.items():
        np.save(tmp / f"{key}.npy", np.ascontiguousarray(value), allow_pickle=False)
    meta = {
        "name": name, "source": rec["source"], "subset": rec.get("subset", ""), "shard": f"shards/{name}",
        "video": str(video.resolve()), "audio": str(audio_path.resolve()),
        "video_bytes": video.stat().st_size, "audio_bytes": audio_path.stat().st_size,
        "frames": len(found), "video_fps": fps, "feature_frames": len(feats.values),
        "found_fraction": round(float(found.mean()), 4),
        "error_iod_median": round(float(np.nanmedian(track.error_iod)), 5),
        "identity_spread": round(track.identity_spread, 4), "ref_pose": [float(v) for v in ref_pose],
        "image_size": list(size), "config": cfg.key(), "seconds": round(time.perf_counter() - t0, 2),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    shutil.rmtree(shard, ignore_errors=True)
    os.replace(tmp, shard)
    return meta


# ------------------------------------------------------------------------------ the run

def read_prepared(prepared: Path) -> list[dict]:
    """The prepared clips' records (``training.hdtf.prepare``'s manifest)."""
    from .prepare import read_manifest

    if not (prepared / "manifest.jsonl").is_file():
        raise InputError(f"{prepared} is not a prepared HDTF folder (no manifest.jsonl): "
                         "run python -m talkface.training.hdtf.prepare first")
    return [r for _, r in sorted(read_manifest(prepared).items())]


def _shard_meta(out: Path, name: str) -> dict | None:
    try:
        return json.loads((out / "shards" / name / "meta.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def is_tracked(meta: dict | None, rec: dict, out: Path, cfg: TrackConfig) -> bool:
    """The shard was made with these settings from these exact prepared files."""
    if meta is None or meta.get("config") != cfg.key():
        return False
    if meta.get("video_bytes") != rec.get("video_bytes") or meta.get("audio_bytes") != rec.get("audio_bytes"):
        return False
    from .records import ARRAYS

    return all((out / meta["shard"] / f"{k}.npy").is_file() for k in ARRAYS)


def write_index(out: Path, names: list[str], cfg: TrackConfig, heldout_fraction: float) -> dict:
    """index.json over the complete shards of ``names``, with the speaker-level split."""
    from ...core.animation import HEAD_CHANNELS
    from ...core.audio.features import FeatureConfig
    from ...core.face.model import ARKIT_NAMES

    metas = [m for m in (_shard_meta(out, n) for n in sorted(names)) if m and m.get("config") == cfg.key()]
    held = heldout_sources([m["source"] for m in metas], heldout_fraction)
    for m in metas:
        m["split"] = "heldout" if m["source"] in held else "train"
    index = {
        "format": FORMAT, "video_fps": metas[0]["video_fps"] if metas else 25.0,
        "feature_fps": cfg.feature_fps, "feature_kind": cfg.feature_kind,
        "feature_names": list(FeatureConfig(kind=cfg.feature_kind, fps=cfg.feature_fps).names),
        "channels": list(ARKIT_NAMES) + list(HEAD_CHANNELS), "config": cfg.key(),
        "heldout_fraction": heldout_fraction, "heldout_sources": sorted(held),
        "frames": sum(m["frames"] for m in metas), "clips": metas,
    }
    tmp = out / f".{INDEX}.part"
    tmp.write_text(json.dumps(index, indent=1), encoding="utf-8")
    os.replace(tmp, out / INDEX)
    return index


def track(prepared: str | Path, out: str | Path, workers: int = 1, cfg: TrackConfig = TrackConfig(),
          heldout_fraction: float = 0.1, stream=None) -> TrackReport:
    """Track every prepared clip not tracked yet; rewrite the index. Progress lines to ``stream``."""

    prepared, out = Path(prepared), Path(out)
    records = read_prepared(prepared)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    report = TrackReport()
    todo = []
    for rec in records:
        if is_tracked(_shard_meta(out, rec["name"]), rec, out, cfg):
            report.skipped.append(rec["name"])
        else:
            todo.append(rec)
    progress = Progress("track", len(todo), unit="clips", stream=stream)
    progress.line(f"{len(records)} prepared clips: {len(report.skipped)} already tracked, {len(todo)} to track")

    def finish(rec: dict, meta: dict | None, error: str | None) -> None:
        if error is None:
            report.done.append(rec["name"])
            progress.item(rec["name"], f"ok, {meta['frames']} frames, face in {meta['found_fraction']:.0%}, "
                                       f"fit {100 * meta['error_iod_median']:.1f}% IOD, {meta['seconds']:.1f} s")
        else:
            report.failed[rec["name"]] = error
            progress.item(rec["name"], f"FAILED: {error}")

    def reason(exc: Exception) -> str:
        return str(exc) if isinstance(exc, TrackError) else f"unexpected {type(exc).__name__}: {exc}"

    run_each(track_clip, ((rec, (rec, prepared, out, cfg)) for rec in todo), finish, reason, workers,
             spawn=True)
    index = write_index(out, [r["name"] for r in records], cfg, heldout_fraction)
    failed_log = out / "failed.jsonl"
    failed_log.unlink(missing_ok=True)
    if report.failed:
        failed_log.write_text("".join(json.dumps({"name": n, "reason": r}) + "\n" for n, r in report.failed.items()))
        progress.line(f"{len(report.failed)} clip(s) failed:")
        for name, why in report.failed.items():
            progress.line(f"  {name}: {why}")
    progress.line(f"index: {len(index['clips'])} clips, {index['frames']} frames, held-out speakers: "
                  f"{', '.join(index['heldout_sources']) or 'none'}")
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m talkface.training.hdtf.track", description=__doc__.split("\n")[0])
    ap.add_argument("--clips", required=True, help="folder written by training.hdtf.prepare")
    ap.add_argument("--out", required=True, help="records folder (index.json, shards/)")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1) // 2))
    ap.add_argument("--heldout-fraction", type=float, default=0.1, help="share of speakers held out for evaluation")
    ap.add_argument("--identity-frames", type=int, default=TrackConfig.identity_frames)
    ap.add_argument("--smooth", type=float, default=TrackConfig.smooth_frames, help="temporal Gaussian sigma, frames")
    ap.add_argument("--min-found", type=float, default=TrackConfig.min_found)
    args = ap.parse_args(argv)
    cfg = TrackConfig(identity_frames=args.identity_frames, smooth_frames=args.smooth, min_found=args.min_found)
    try:
        report = track(args.clips, args.out, args.workers, cfg, args.heldout_fraction)
    except InputError as exc:
        print(f"hdtf_track: error: {exc}", file=sys.stderr)
        return 2
    print(f"tracked {len(report.done)}, already done {len(report.skipped)}, failed {len(report.failed)}",
          file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
