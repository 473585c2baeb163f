"""Downloaded HDTF source videos -> 512x512, 25 frames/s clips with 16 kHz mono speech.

    python -m talkface.training.hdtf.prepare --annotations DIR --videos DIR --out DIR [--workers N] [--size 512] [--fps 25]

For every annotated clip whose source video was downloaded (``VIDEOS/NAME.mp4``, or ``.mkv``,
``.webm``, ``.mov``, also inside a ``VIDEOS/SUBSET/`` folder), the clip's ``[start, end)`` is cut,
its fixed crop window cropped, the result resized to ``size x size`` and re-timed to ``fps``,
and its audio written as 16 kHz mono; outputs go to ``OUT/clips/NAME_k.mp4`` (H.264) and
``OUT/clips/NAME_k.wav`` (16-bit PCM), one JSON record per clip in ``OUT/manifest.jsonl``.

Design choices:

* **Square windows by padding.** A window that is not square (none of the published ones, but
  hand-made corpora may have them) or that leaves the real frame is grown to a square of side
  ``max(w, h)`` around the window's centre, and pixels outside the source frame are black: the
  whole annotated window stays in view and the face is never squeezed.
* **Frame picking by timestamp.** Output frame ``j`` shows the source frame on screen at
  ``start + j / fps`` (the last one whose presentation time is <= that instant), computed with
  exact rationals from the stream's timestamps, so variable-frame-rate sources and dropped
  frames come out right and A/V sync holds. ``frames = round((end - start) * fps)``.
* **Resizing with Lanczos** (FFmpeg's swscale, which widens the kernel when shrinking).
* **Audio** is decoded with a margin, mixed to mono, resampled with soxr (``core.audio``), then
  cut to exactly ``round((end - start) * 16000)`` samples at the same instants as the video.
* **Resumable.** Each clip is written under hidden ``.part`` names and renamed when complete;
  then its record (with byte sizes) is appended to the manifest. Clips that fail (unreadable
  source, no audio, source shorter than the clip, ...) are listed in ``OUT/failed.jsonl``. A clip is skipped when its
  record matches the current settings and both files still have the recorded sizes, so deleted,
  truncated or half-written outputs are redone. One run per output folder at a time.
* **Parallel over clips** with a process pool; progress goes to stderr, one line per clip.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ...core.progress import Progress
from .annotations import Annotations, Clip, load_annotations
from .jobs import run_each

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".mov")
AUDIO_MARGIN_S = 0.25          # decoded on both sides so resampling has no edge transient
SEEK_PREROLL_S = 1.0           # seek this far before the clip: the keyframe lands before it
HOLD_LIMIT_S = 0.5             # a source may end this much before the clip's end (last frame held)
MAX_AUDIO_GAP_S = 0.5          # more missing audio than this fails the clip


class ClipError(Exception):
    """This clip cannot be prepared (message says why); the run goes on with the others."""


@dataclass(frozen=True)
class PrepareConfig:
    size: int = 512
    fps: int = 25
    sample_rate: int = 16000
    crf: int = 18                   # x264 quality: visually lossless for training
    preset: str = "medium"
    gop: int = 25                   # a keyframe every second: trainers seek to random frames
    threads: int = 0                # codec threads per clip; 0 = FFmpeg's choice

    def key(self) -> dict:
        """Settings that change the outputs: a record made with others is stale."""
        return {"size": self.size, "fps": self.fps, "sample_rate": self.sample_rate, "crf": self.crf}


@dataclass
class PrepareReport:
    done: list[str] = field(default_factory=list)         # prepared in this run
    skipped: list[str] = field(default_factory=list)      # already complete
    failed: dict[str, str] = field(default_factory=dict)  # name -> reason
    missing_sources: dict[str, list[str]] = field(default_factory=dict)  # source -> its clips


def square_window(crop: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(x0, x1, y0, y1) grown to a square of side max(w, h) around the window's centre."""
    x0, x1, y0, y1 = crop
    side = max(x1 - x0, y1 - y0)
    sx0 = x0 - (side - (x1 - x0)) // 2
    sy0 = y0 - (side - (y1 - y0)) // 2
    return sx0, sx0 + side, sy0, sy0 + side


def cut_window(rgb: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """The window's pixels; parts outside the image are black."""
    x0, x1, y0, y1 = window
    h, w = rgb.shape[:2]
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        return rgb[y0:y1, x0:x1]
    out = np.zeros((y1 - y0, x1 - x0, rgb.shape[2]), rgb.dtype)
    ix0, ix1, iy0, iy1 = max(x0, 0), min(x1, w), max(y0, 0), min(y1, h)
    if ix0 < ix1 and iy0 < iy1:
        out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = rgb[iy0:iy1, ix0:ix1]
    return out


def frame_count(clip: Clip, fps: int) -> int:
    return int(round((clip.end_s - clip.start_s) * fps))


def find_source(videos: Path, clip: Clip) -> Path | None:
    """The downloaded file for a clip's source, named as in the URL list."""
    for folder in (videos, videos / clip.subset):
        for ext in VIDEO_EXTENSIONS:
            path = folder / f"{clip.source}{ext}"
            if path.is_file():
                return path
    return None


def _paths(out: Path, name: str) -> dict[str, Path]:
    clips = out / "clips"
    return {"video": clips / f"{name}.mp4", "audio": clips / f"{name}.wav",
            "video_part": clips / f".{name}.mp4.part", "audio_part": clips / f".{name}.wav.part"}


class _SeekMissed(Exception):
    """The demuxer's seek landed after the clip's start: decode from the file's beginning."""


class _VideoSink:
    """Crops, resizes and encodes picked source frames as a constant-rate H.264 stream."""

    def __init__(self, container, window, cfg: PrepareConfig):
        import av

        self.av, self.window, self.cfg = av, window, cfg
        self.stream = container.add_stream("libx264", rate=cfg.fps,
                                           options={"crf": str(cfg.crf), "preset": cfg.preset,
                                                    "g": str(cfg.gop)})
        self.stream.width = self.stream.height = cfg.size
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = Fraction(1, cfg.fps)
        if cfg.threads:
            self.stream.codec_context.thread_count = cfg.threads
        self.container = container
        self.count = 0
        self.padded = False
        self._last_src = None
        self._last_out = None

    def emit(self, src_frame) -> None:
        if src_frame is not self._last_src:          # a held frame is converted once
            rgb = src_frame.to_ndarray(format="rgb24")
            x0, x1, y0, y1 = self.window
            h, w = rgb.shape[:2]
            if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
                raise ClipError(f"the crop window {self.window} lies outside the {w}x{h} source frame")
            self.padded |= x0 < 0 or y0 < 0 or x1 > w or y1 > h
            crop = np.ascontiguousarray(cut_window(rgb, self.window))
            self._last_out = self.av.VideoFrame.from_ndarray(crop, format="rgb24").reformat(
                width=self.cfg.size, height=self.cfg.size, format="yuv420p", interpolation="LANCZOS")
            self._last_src = src_frame
        frame = self._last_out
        frame.pts, frame.time_base = self.count, Fraction(1, self.cfg.fps)
        self.container.mux(self.stream.encode(frame))
        self.count += 1

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))


def _decode_clip(path: Path, clip: Clip, cfg: PrepareConfig, window, video_out, use_seek: bool):
    """One demux pass: picked frames go to a _VideoSink, audio comes back as mono at source rate.

    Returns (video sink, mono audio float32 covering [start - margin, end + margin), its rate,
    seconds of the clip that had no decoded audio, source frame size, source average fps).
    """
    import av

    start, end = Fraction(clip.start_s).limit_denominator(1000), Fraction(clip.end_s).limit_denominator(1000)
    n_frames = frame_count(clip, cfg.fps)
    out_times = [start + Fraction(j, cfg.fps) for j in range(n_frames)]
    with av.open(str(path)) as src:
        if not src.streams.video:
            raise ClipError("the source has no video stream")
        if not src.streams.audio:
            raise ClipError("the source has no audio stream")
        vs, aus = src.streams.video[0], src.streams.audio[0]
        vs.thread_type = "AUTO"
        starts = [s.start_time * s.time_base for s in (vs, aus) if s.start_time is not None]
        origin = min(starts) if starts else Fraction(0)
        seeked = use_seek and start > SEEK_PREROLL_S
        if seeked:
            src.seek(int((start - SEEK_PREROLL_S + origin) * 1_000_000), backward=True)

        sr = aus.codec_context.sample_rate or aus.rate
        a0 = start - Fraction(AUDIO_MARGIN_S)
        n_audio = int(round((end - start + 2 * Fraction(AUDIO_MARGIN_S)) * sr))
        audio = np.zeros(n_audio, np.float32)
        covered = np.zeros(n_audio, bool)
        to_float = av.AudioResampler(format="fltp")
        sink = _VideoSink(video_out, window, cfg)
        j, cur, cur_t, audio_done = 0, None, None, False
        size, first_video = None, True

        for packet in src.demux(vs, aus):
            is_video = packet.stream.type == "video"
            if (is_video and j >= n_frames) or (not is_video and audio_done):
                if j >= n_frames and audio_done:
                    break
                continue                             # that stream is finished: skip decoding
            for frame in packet.decode():
                if frame.pts is None:
                    continue
                t = frame.pts * frame.time_base - origin
                if is_video:
                    if first_video and seeked and n_frames and t > out_times[0]:
                        raise _SeekMissed()
                    first_video = False
                    size = (frame.width, frame.height)
                    held = cur if cur is not None else frame   # before the first frame: show it
                    while j < n_frames and out_times[j] < t:
                        sink.emit(held)
                        j += 1
                    cur, cur_t = frame, t
                elif not audio_done:
                    first = int(round((t - a0) * sr))
                    if first >= n_audio:
                        audio_done = True
                        continue
                    for f in to_float.resample(frame):
                        x = f.to_ndarray().mean(axis=0, dtype=np.float32)
                        lo, hi = max(first, 0), min(first + len(x), n_audio)
                        if lo < hi:
                            audio[lo:hi] = x[lo - first:hi - first]
                            covered[lo:hi] = True
                        first += len(x)

        if cur is None:
            raise ClipError("no video frames decoded in the clip's time range")
        if j < n_frames:
            if out_times[-1] - cur_t > HOLD_LIMIT_S:
                raise ClipError(f"the source ends at {float(cur_t):.2f} s, before the clip's end at {clip.end_s:.2f} s")
            while j < n_frames:
                sink.emit(cur)
                j += 1
        sink.close()
        margin = int(round(AUDIO_MARGIN_S * sr))
        gap = float((~covered[margin:n_audio - margin]).sum()) / sr
        fps_src = float(vs.average_rate) if vs.average_rate else 0.0
        return sink, audio, sr, gap, size, fps_src


def prepare_clip(clip: Clip, source: Path, out: Path, cfg: PrepareConfig = PrepareConfig()) -> dict:
    """Write one clip's mp4 + wav atomically; return its manifest record. Raises ClipError."""
    import av
    import soundfile as sf

    from ...core.audio.loading import resample

    t0 = time.perf_counter()
    paths = _paths(out, clip.name)
    paths["video"].parent.mkdir(parents=True, exist_ok=True)
    window = square_window(clip.crop)
    try:
        for use_seek in (True, False):
            try:
                with av.open(str(paths["video_part"]), "w", format="mp4") as video_out:
                    sink, audio, sr, gap, size, fps_src = _decode_clip(source, clip, cfg, window, video_out, use_seek)
                break
            except _SeekMissed:
                continue
        if gap > MAX_AUDIO_GAP_S:
            raise ClipError(f"{gap:.2f} s of the clip has no audio in the source")
        n_out = int(round(clip.duration_s * cfg.sample_rate))
        wav = resample(audio, sr, cfg.sample_rate)
        lo = int(round(AUDIO_MARGIN_S * cfg.sample_rate))
        wav = wav[lo:lo + n_out]
        wav = np.pad(wav, (0, n_out - len(wav)))
        sf.write(str(paths["audio_part"]), np.clip(wav, -1.0, 1.0), cfg.sample_rate, format="WAV", subtype="PCM_16")
        os.replace(paths["video_part"], paths["video"])
        os.replace(paths["audio_part"], paths["audio"])
    except ClipError:
        _remove(paths["video_part"], paths["audio_part"])
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        _remove(paths["video_part"], paths["audio_part"])
        raise ClipError(f"cannot read {source.name}: {type(exc).__name__}: {exc}") from exc
    except BaseException:
        _remove(paths["video_part"], paths["audio_part"])
        raise

    return {
        "name": clip.name, "subset": clip.subset, "source": clip.source, "source_file": str(source),
        "start_s": clip.start_s, "end_s": clip.end_s, "crop": list(clip.crop), "window": list(window),
        **cfg.key(), "frames": sink.count, "duration_s": sink.count / cfg.fps,
        "audio_samples": n_out, "video": f"clips/{clip.name}.mp4", "audio": f"clips/{clip.name}.wav",
        "video_bytes": paths["video"].stat().st_size, "audio_bytes": paths["audio"].stat().st_size,
        "source_size": list(size) if size else None, "source_fps": round(fps_src, 3),
        "padded": sink.padded, "audio_gap_s": round(gap, 3), "seconds": round(time.perf_counter() - t0, 2),
    }


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ClipError) else f"unexpected {type(exc).__name__}: {exc}"


def _remove(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def read_manifest(out: Path) -> dict[str, dict]:
    """name -> latest record; a torn last line (interrupted write) is ignored."""
    records: dict[str, dict] = {}
    path = Path(out) / "manifest.jsonl"
    if not path.exists():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict) and "name" in rec:
            records[rec["name"]] = rec
    return records


def is_complete(rec: dict | None, clip: Clip, out: Path, cfg: PrepareConfig) -> bool:
    """The record matches this clip and these settings, and both files have the recorded sizes."""
    if rec is None or any(rec.get(k) != v for k, v in cfg.key().items()):
        return False
    if rec.get("start_s") != clip.start_s or rec.get("end_s") != clip.end_s or rec.get("crop") != list(clip.crop):
        return False
    for kind in ("video", "audio"):
        path = out / rec[kind]
        if not path.is_file() or path.stat().st_size != rec.get(f"{kind}_bytes"):
            return False
    return True


def _append(out: Path, rec: dict) -> None:
    with open(out / "manifest.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _compact(out: Path) -> None:
    """Rewrite the manifest with one record per clip whose files are still complete."""
    keep = []
    for name, rec in sorted(read_manifest(out).items()):
        if all((out / rec[k]).is_file() and (out / rec[k]).stat().st_size == rec.get(f"{k}_bytes")
               for k in ("video", "audio")):
            keep.append(rec)
    tmp = out / ".manifest.jsonl.part"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
    os.replace(tmp, out / "manifest.jsonl")


def prepare(annotations: Annotations, videos: str | Path, out: str | Path, workers: int = 1,
            cfg: PrepareConfig = PrepareConfig(), stream=None) -> PrepareReport:
    """Prepare every clip whose source was downloaded; resumable, parallel over clips.

    Progress lines go to ``stream`` (stderr by default).
    """
    videos, out = Path(videos), Path(out)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    report = PrepareReport()
    manifest = read_manifest(out)
    todo: list[tuple[Clip, Path]] = []
    for clip in sorted(annotations.clips, key=lambda c: c.name):
        source = find_source(videos, clip)
        if source is None:
            report.missing_sources.setdefault(clip.source, []).append(clip.name)
        elif is_complete(manifest.get(clip.name), clip, out, cfg):
            report.skipped.append(clip.name)
        else:
            todo.append((clip, source))

    progress = Progress("prepare", len(todo), unit="clips", stream=stream)
    n_missing = sum(len(v) for v in report.missing_sources.values())
    progress.line(f"{len(todo) + len(report.skipped) + n_missing} clips: {len(report.skipped)} already prepared, "
                  f"{len(todo)} to prepare, {n_missing} without a downloaded source "
                  f"({len(report.missing_sources)} videos missing from {videos})")

    def finish(clip: Clip, result: dict | None, error: str | None) -> None:
        if error is None:
            _append(out, result)
            report.done.append(clip.name)
            progress.item(clip.name, f"ok, {result['frames']} frames in {result['seconds']:.1f} s")
        else:
            report.failed[clip.name] = error
            progress.item(clip.name, f"FAILED: {error}")

    if workers > 1 and len(todo) > 1 and not cfg.threads:
        cfg = PrepareConfig(**{**asdict(cfg), "threads": max(1, (os.cpu_count() or 1) // workers)})
    run_each(prepare_clip, ((clip, (clip, source, out, cfg)) for clip, source in todo), finish, _reason,
             workers)
    _compact(out)
    failed_log = out / "failed.jsonl"           # this run's failures, for unattended runs
    _remove(failed_log)
    if report.failed:
        failed_log.write_text("".join(json.dumps({"name": n, "reason": r}) + "\n" for n, r in report.failed.items()))
    if report.failed:
        progress.line(f"{len(report.failed)} clip(s) failed:")
        for name, why in report.failed.items():
            progress.line(f"  {name}: {why}")
    if report.missing_sources:
        progress.line("missing source videos: " + ", ".join(sorted(report.missing_sources)))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m talkface.training.hdtf.prepare", description=__doc__.split("\n")[0])
    parser.add_argument("--annotations", required=True, help="folder with the HDTF *_video_url.txt etc.")
    parser.add_argument("--videos", required=True, help="folder with the downloaded NAME.mp4 source videos")
    parser.add_argument("--out", required=True, help="output folder (clips/ and manifest.jsonl)")
    parser.add_argument("--workers", type=int, default=max(1, min(4, (os.cpu_count() or 1) // 2)))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--crf", type=int, default=18, help="x264 quality (lower is better, 18 ~ visually lossless)")
    parser.add_argument("--preset", default="medium", help="x264 speed preset")
    args = parser.parse_args(argv)
    if args.size < 16 or args.size % 2 or args.fps < 1:
        parser.error("--size must be an even number >= 16 and --fps >= 1")
    ann = load_annotations(args.annotations)
    if ann.problems:
        print(f"{len(ann.problems)} annotation problem(s) (see python -m talkface.training.hdtf.annotations check); usable clips: "
              f"{len(ann.clips)}", file=sys.stderr)
    cfg = PrepareConfig(size=args.size, fps=args.fps, crf=args.crf, preset=args.preset)
    report = prepare(ann, args.videos, args.out, args.workers, cfg)
    print(f"prepared {len(report.done)}, already done {len(report.skipped)}, failed {len(report.failed)}, "
          f"missing sources {len(report.missing_sources)}", file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
