"""Generate a tiny corpus laid out exactly like downloaded HDTF data, for tests (a few seconds).

    python scripts/make_tiny_hdtf.py OUT_DIR [--talking]

writes ``OUT_DIR/annotations/TINY_{video_url,annotion_time,crop_wh,crop_ratio,resolution}.txt``
(published formats, BOM on the URL list's first line, one deliberately malformed line, one
source whose video was "not downloaded") and ``OUT_DIR/videos/NAME.mp4``: 1280x720 H.264 with
stereo AAC speech (espeak-ng), deliberately *not* at 25 frames/s: one source at a constant
30 fps, the other with jittered timestamps and a dropped-frame gap (variable frame rate).

Frames show a real face (scikit-image's astronaut) filling each clip's crop window. By default it
drifts and zooms slightly (fast: ~4 s for the corpus). With ``--talking`` (``face="talking"``) the
astronaut is fitted with the face model and warped by ``core.synthesis.FrameSynthesizer`` so her
mouth follows the speech's phonemes (``core.visemes``) and her head nods a little, which gives
tracking and training something real to learn (~10-20 s more on a CPU). The bottom strip of every crop window carries the source frame index in
``MARKER_BITS`` black/white blocks, so a test can read back which source frame landed in each
prepared frame; the audio holds a loud 1 kHz beep at ``BEEP_S`` for checking A/V alignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SUBSET = "TINY"
WIDTH, HEIGHT = 1280, 720
DURATION_S = 4.0
AUDIO_SR = 44100
MARKER_BITS = 8
BEEP_S = 2.5                  # source time of the beep in every video
BEEP_LEN_S = 0.04
TIME_BASE = Fraction(1, 90000)


@dataclass(frozen=True)
class TinySource:
    name: str
    url: str
    ranges: tuple[str, ...]                          # "mm:ss-mm:ss"
    crops: tuple[tuple[int, int, int, int], ...]     # per clip: x0, w, y0, h (file order)
    text: str
    voice: str
    frame_times: tuple[float, ...] = ()              # empty: not written ("not downloaded")


def _vfr_times(duration: float) -> tuple[float, ...]:
    """~30 fps with +-8 ms jitter and a 0.2 s hole (a dropped-frame run), strictly increasing."""
    base = np.arange(0.0, duration, 1 / 30)
    t = base + 0.008 * np.sin(np.arange(len(base)) * 1.7)
    t[0] = 0.0
    t = t[(t < 1.3) | (t > 1.5)]
    return tuple(float(x) for x in t)


SOURCES = (
    TinySource("TinyAnchor", "https://www.youtube.com/watch?v=tinyAnchor0", ("00:01-00:03",),
               ((440, 400, 120, 400),), "The quick brown fox jumps over the lazy dog.", "en-us",
               tuple(float(k) / 30 for k in range(int(DURATION_S * 30)))),
    TinySource("TinyReporter", "https://www.youtube.com/watch?v=tinyReport1", ("00:00-00:02", "00:02-00:04"),
               ((700, 360, 200, 360), (300, 400, 320, 300)),    # second window is not square
               "Good evening, here is the news about the weather.", "en+f3", _vfr_times(DURATION_S)),
    TinySource("TinyMissing", "https://www.youtube.com/watch?v=tinyMissin2", ("00:00-00:02",),
               ((100, 300, 100, 300),), "", "en-us"),
)
MALFORMED_LINE = "TinyBroken.mp4 00:01-00:7x"   # in the time list: a range that is not mm:ss


def marker_boxes(crop_xywh: tuple[int, int, int, int]) -> np.ndarray:
    """[MARKER_BITS, 4] source-pixel boxes (x0, x1, y0, y1) of the frame-index bits, bit 0 first."""
    x0, w, y0, h = crop_xywh
    bw = w // MARKER_BITS
    bh = max(8, h // 10)
    xs = x0 + bw * np.arange(MARKER_BITS)
    return np.stack([xs, xs + bw, np.full_like(xs, y0 + h - bh), np.full_like(xs, y0 + h)], axis=1)


def _face_layer(face: np.ndarray, crop: tuple[int, int, int, int], t: float,
                drift: bool = True) -> tuple[np.ndarray, slice, slice]:
    """The face image scaled into the crop window, with a slow drift and zoom at time t."""
    import cv2

    x0, w, y0, h = crop
    side = min(w, h)
    a = 1.0 if drift else 0.0
    s = side / face.shape[0] * (1.0 + a * 0.04 * np.sin(2 * np.pi * 0.7 * t))
    dx = (w - face.shape[1] * s) / 2 + a * 6 * np.sin(2 * np.pi * 0.5 * t)
    dy = (h - face.shape[0] * s) / 2 + a * 4 * np.cos(2 * np.pi * 0.4 * t)
    m = np.array([[s, 0, dx], [0, s, dy]], np.float32)
    layer = cv2.warpAffine(face, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return layer, slice(y0, y0 + h), slice(x0, x0 + w)


def _frame(background: np.ndarray, face: np.ndarray, src: TinySource, k: int, t: float,
           drift: bool = True) -> np.ndarray:
    img = background.copy()
    for crop in src.crops:
        layer, rows, cols = _face_layer(face, crop, t, drift)
        img[rows, cols] = layer
        for bit, (bx0, bx1, by0, by1) in enumerate(marker_boxes(crop)):
            img[by0:by1, bx0:bx1] = 255 if (k >> bit) & 1 else 0
    return img


def _utterance(src: TinySource):
    from talkface.training.corpus.espeak import synthesize

    return synthesize(src.text, voice=src.voice, rate=190)


def talking_faces(face: np.ndarray, src: TinySource, resolution: int = 256) -> np.ndarray:
    """[frames, r, r, 3] uint8: the face warped by the face model, mouth following the speech.

    Speech starts at t = 0 in the video, so phoneme times are frame times directly.
    """
    import tempfile

    from PIL import Image

    from talkface.core.audio.visemes import mouth_weights
    from talkface.core.face.fitting import fit_photo_file
    from talkface.core.face.model import load_face_model
    from talkface.core.video.synthesis import FaceState, FrameSynthesizer, render_batches

    model = load_face_model()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "face.png"
        Image.fromarray(face).save(path)
        fit = fit_photo_file(path, model)
    times = np.asarray(src.frame_times)
    dense = mouth_weights(_utterance(src).phonemes, 100.0, int(np.ceil(times[-1] * 100)) + 2)
    weights = dense[np.round(times * 100).astype(int)]
    pose = np.repeat(np.asarray(fit.pose, np.float32)[None], len(times), axis=0)
    pose[:, 0] += 0.04 * np.sin(2 * np.pi * 0.6 * times)          # a slow nod and turn
    pose[:, 2] += 0.05 * np.sin(2 * np.pi * 0.35 * times)
    synth = FrameSynthesizer(model, fit, face, resolution)
    state = FaceState(weights.astype(np.float32), pose)
    return np.concatenate([frames for _, frames in render_batches(synth, state, batch=16)])


def _speech(src: TinySource) -> np.ndarray:
    """[2, n] float32 stereo at AUDIO_SR: espeak speech over the whole video plus the beep."""
    from talkface.core.audio.loading import resample

    utt = _utterance(src)
    speech = resample(utt.samples, utt.sample_rate, AUDIO_SR)
    n = int(round(DURATION_S * AUDIO_SR))
    mono = np.zeros(n, np.float32)
    mono[: min(n, len(speech))] = 0.5 * speech[:n] / max(float(np.abs(speech).max()), 1e-6)
    b0, nb = int(BEEP_S * AUDIO_SR), int(BEEP_LEN_S * AUDIO_SR)
    mono[b0:b0 + nb] = 0.9 * np.sin(2 * np.pi * 1000 * np.arange(nb) / AUDIO_SR)
    return np.stack([mono, 0.8 * mono]).astype(np.float32)


def write_video(path: Path, src: TinySource, face: np.ndarray, talking: bool = False) -> None:
    """H.264 + AAC mp4 with the source's exact frame timestamps."""
    import av

    faces = talking_faces(face, src) if talking else None

    background = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    background[:] = np.linspace(40, 120, WIDTH, dtype=np.uint8)[None, :, None]
    audio = _speech(src)
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=30, options={"preset": "ultrafast", "crf": "16"})
        vs.width, vs.height, vs.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        vs.codec_context.time_base = TIME_BASE
        vs.time_base = TIME_BASE
        aus = out.add_stream("aac", rate=AUDIO_SR, layout="stereo")
        for k, t in enumerate(src.frame_times):
            img = _frame(background, face, src, k, t) if faces is None else \
                _frame(background, faces[k], src, k, t, drift=False)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = int(round(t / TIME_BASE)), TIME_BASE
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        chunk = 1024
        for start in range(0, audio.shape[1], chunk):
            block = np.ascontiguousarray(audio[:, start:start + chunk])
            if block.shape[1] < chunk:
                block = np.pad(block, ((0, 0), (0, chunk - block.shape[1])))
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = AUDIO_SR, start, Fraction(1, AUDIO_SR)
            out.mux(aus.encode(frame))
        out.mux(aus.encode(None))


def write_annotations(folder: Path) -> None:
    """The five per-subset lists in the published formats."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [s.name for s in SOURCES]
    lines = {
        "video_url": [f"{s.name} {s.url}" for s in SOURCES] + ["TinyBroken https://www.youtube.com/watch?v=tinyBroken3"],
        "annotion_time": [f"{s.name}.mp4 " + " ".join(s.ranges) for s in SOURCES] + [MALFORMED_LINE],
        "crop_wh": [f"{s.name}_{k}.mp4 {x0} {w} {y0} {h}" for s in SOURCES for k, (x0, w, y0, h) in enumerate(s.crops)],
        "crop_ratio": [f"{s.name}_{k}.mp4 1.2" for s in SOURCES for k in range(len(s.crops))],
        "resolution": [f"{n}.mp4 {HEIGHT}" for n in names] + ["TinyBroken.mp4 720"],
    }
    for kind, rows in lines.items():
        text = "\n".join(rows) + "\n"
        data = ("\ufeff" + text if kind == "video_url" else text).encode("utf-8")
        (folder / f"{SUBSET}_{kind}.txt").write_bytes(data)


def make_tiny_hdtf(out_dir: str | Path, face: str = "drift") -> tuple[Path, Path]:
    """Write the corpus (``face``: "drift" or "talking"); return (annotation folder, video folder)."""
    if face not in ("drift", "talking"):
        raise ValueError(f"face must be 'drift' or 'talking', not {face!r}")
    from skimage.data import astronaut

    out_dir = Path(out_dir)
    ann, videos = out_dir / "annotations", out_dir / "videos"
    write_annotations(ann)
    videos.mkdir(parents=True, exist_ok=True)
    image = np.ascontiguousarray(astronaut())
    for src in SOURCES:
        if src.frame_times:
            write_video(videos / f"{src.name}.mp4", src, image, talking=face == "talking")
    return ann, videos


def source(name: str) -> TinySource:
    return next(s for s in SOURCES if s.name == name)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--talking", action="store_true", help="warp the face with the face model (slower)")
    args = parser.parse_args()
    a, v = make_tiny_hdtf(args.out_dir, face="talking" if args.talking else "drift")
    print(f"annotations: {a}\nvideos:      {v}")
