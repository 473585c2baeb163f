"""HDTF tooling: the annotation parser on the real published lists and on malformed lines, and
clip preparation end to end on a tiny HDTF-format corpus (made by scripts/make_tiny_hdtf.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# The published annotation files live in shared/ beside the checkout (CI and developers alike).
import av  # (pinned in requirements.txt: a missing install must fail, not skip)
import numpy as np
import pytest
import soundfile as sf

from talkface.scripts import make_tiny_hdtf as tiny
from talkface.training.hdtf import annotations
from talkface.training.hdtf.annotations import load_annotations
from talkface.training.hdtf.prepare import PrepareConfig, cut_window, prepare, square_window

ROOT = Path(__file__).resolve().parent.parent
REAL = next((p for p in (ROOT.parent / "shared" / "hdtf", Path("/work/shared/hdtf")) if p.is_dir()),
            ROOT.parent / "shared" / "hdtf")

# ---------------------------------------------------------------- parser on the published lists

@pytest.fixture(scope="module")
def real():
    if not REAL.is_dir():
        pytest.skip("HDTF annotation files not present")
    return load_annotations(REAL)


def test_real_counts_are_plausible(real):
    assert sorted(real.subsets) == ["RD", "WDA", "WRA"]
    by_subset = {s: [v for v in real.videos.values() if v.subset == s] for s in real.subsets}
    assert 50 <= len(by_subset["RD"]) <= 60 and 170 <= len(by_subset["WDA"]) <= 190
    assert 120 <= len(by_subset["WRA"]) <= 140
    hours = sum(c.duration_s for c in real.clips) / 3600
    assert 400 <= len(real.clips) <= 440 and 15.0 <= hours <= 17.5      # the paper: ~15.8 h, 362 videos
    assert all(v.url and v.url.startswith("https://www.youtube.com/") for v in real.videos.values())


def test_real_fields_are_decoded(real):
    c = real.clip("Radio11_1")                       # "Radio11.mp4 00:30-01:00 01:30-02:30"
    assert (c.source, c.index, c.start_s, c.end_s) == ("Radio11", 1, 90.0, 150.0)
    assert c.crop == (557, 557 + 478, 0, 478) and c.crop_ratio == 1.2 and c.subset == "RD"
    assert "CarolynMaloney2" in real.videos         # first line of a list with a UTF-8 BOM
    assert real.videos["CarolynMaloney2"].url.endswith("RApGxN-O9Qc")
    assert real.videos["AdamKinzinger2"].resolution == 720
    assert len(real.videos["AdamKinzinger2"].clips) == 3
    # The published windows are square and x0 + w fits the frame (x0, w, y0, h, not x0 x1 y0 y1).
    assert all(c.crop_size[0] == c.crop_size[1] for c in real.clips)
    fits = [c.crop[1] <= real.videos[c.source].frame_size[0] for c in real.clips if real.videos[c.source].resolution]
    assert np.mean(fits) > 0.99


def test_real_problems_name_file_and_line(real):
    assert real.problems, "the published lists have known inconsistencies"
    for p in real.problems:
        lines = (REAL / p.file).read_text(encoding="utf-8-sig").splitlines()
        assert 1 <= p.line_no <= len(lines)
        assert lines[p.line_no - 1].strip() == p.text      # the reported line is the offending one
    found = {(p.file, p.line_no, p.reason) for p in real.problems}
    assert ("RD_annotion_time.txt", 7, "clip 'Radio15_0' has no crop window") in found
    assert ("WRA_resolution.txt", 76, "resolution 0 is not positive") in found
    assert any(f == "WRA_annotion_time.txt" and "overlaps" in r for f, _, r in found)        # MittRomney
    assert any(f == "WDA_crop_wh.txt" and "leaves the 1280x720 frame" in r for f, _, r in found)
    assert any("'Radio24' has no time ranges" in r for _, _, r in found)
    assert "KevinMcCarthy1" in real.videos and real.videos["KevinMcCarthy1"].resolution is None


def test_check_cli_prints_counts_and_problems(real, capsys):
    assert annotations.main(["check", str(REAL)]) == 0
    out = capsys.readouterr().out
    assert "421 usable clips" in out and "RD_annotion_time.txt:7:" in out
    assert annotations.main(["check", str(REAL), "--strict"]) == 1


# ---------------------------------------------------------------- parser on malformed lines

GOOD = {
    "video_url": ["\ufeffAlice https://www.youtube.com/watch?v=aaaaaaaaaaa"],
    "annotion_time": ["Alice.mp4 00:01-00:03 00:04-00:06"],      # Alice_1 has no crop yet
    "crop_wh": ["Alice_0.mp4 100 300 50 300"],
    "crop_ratio": ["Alice_0.mp4 1.2"],
    "resolution": ["Alice.mp4 720"],
}

BAD = [   # (file kind, appended line, words of the reason)
    ("annotion_time", "Bob.mp4 01:75-02:00", "is not mm:ss-mm:ss"),
    ("annotion_time", "Bob.mp4 02:00-01:00", "ends before it starts"),
    ("annotion_time", "Bob.mp4 00:05-00:09 00:07-00:12", "overlaps"),
    ("annotion_time", "Bob.mp4", "no time range"),
    ("annotion_time", "Bob 00:01-00:02", "does not end in .mp4"),
    ("annotion_time", "Alice.mp4 00:04-00:05", "duplicate name 'Alice'"),
    ("crop_wh", "Alice_3.mp4 1 2 3 4", "has only 2 time range"),
    ("crop_wh", "Ghost_0.mp4 1 2 3 4", "no time ranges for source 'Ghost'"),
    ("crop_wh", "Alice_1.mp4 10 x 0 20", "non-integer"),
    ("crop_wh", "Alice_1.mp4 1 2 3", "expected 5 fields"),
    ("crop_wh", "Alice.mp4 1 2 3 4", "is not a clip name"),
    ("crop_ratio", "Alice_1.mp4 wide", "not a number"),
    ("resolution", "Bob.mp4 -720", "not positive"),
    ("resolution", "Bob.mp4 seven", "non-integer"),
    ("video_url", "Bob www.youtube", "malformed URL"),
    ("video_url", "Al!ce https://www.youtube.com/watch?v=bbbbbbbbbbb", "malformed name"),
]


def _write(folder: Path, files: dict[str, list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, rows in files.items():
        (folder / f"X_{kind}.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.mark.parametrize("kind,line,reason", BAD, ids=[b[1] for b in BAD])
def test_malformed_line_is_a_problem(tmp_path, kind, line, reason):
    files = {k: list(v) for k, v in GOOD.items()}
    files[kind].append(line)
    _write(tmp_path, files)
    ann = load_annotations(tmp_path)
    hits = [p for p in ann.problems if reason in p.reason]
    assert hits, [str(p) for p in ann.problems]
    assert (hits[0].file, hits[0].line_no, hits[0].text) == (f"X_{kind}.txt", len(files[kind]), line)
    assert "Alice_0" in [c.name for c in ann.clips]          # the good clip survives


def test_inconsistent_files(tmp_path):
    files = {k: list(v) for k, v in GOOD.items()}
    files["annotion_time"] += ["Bob.mp4 00:01-00:02 00:04-00:06", "Carol.mp4 00:01-00:02"]
    files["crop_wh"] += ["Bob_0.mp4 1200 300 0 300", "Bob_1.mp4 10 300 0 300"]   # Bob_0 leaves 1280x720
    files["crop_ratio"] += ["Bob_0.mp4 1.0"]                                      # none for Bob_1
    files["resolution"] += ["Bob.mp4 720"]
    files["video_url"] += ["Dave https://www.youtube.com/watch?v=ddddddddddd"]
    _write(tmp_path, files)
    (tmp_path / "X_crop_ratio.txt").write_bytes((tmp_path / "X_crop_ratio.txt").read_bytes() + b"Al\xffce_0.mp4 1\n")
    ann = load_annotations(tmp_path)
    got = {(p.file, p.line_no): p.reason for p in ann.problems}
    assert "leaves the 1280x720 frame" in got[("X_crop_wh.txt", 2)]
    assert got[("X_crop_wh.txt", 3)] == "no crop ratio for this clip"
    assert got[("X_crop_ratio.txt", 3)] == "not valid UTF-8"
    assert got[("X_video_url.txt", 2)] == "'Dave' has no time ranges"
    carol = {p.reason for p in ann.problems if (p.file, p.line_no) == ("X_annotion_time.txt", 3)}
    assert carol == {"'Carol' has no URL", "'Carol' has no resolution", "clip 'Carol_0' has no crop window"}
    assert {c.name for c in ann.clips} == {"Alice_0", "Bob_0", "Bob_1"}
    assert ann.clip("Bob_1").crop_ratio is None

    (tmp_path / "X_crop_ratio.txt").unlink()
    ann = load_annotations(tmp_path)
    assert any(p.file == "X_crop_ratio.txt" and p.line_no == 0 and p.reason == "file missing" for p in ann.problems)
    assert load_annotations(tmp_path / "nowhere").problems[0].reason == "not a folder"


# ---------------------------------------------------------------- geometry

def test_square_window_pads_around_the_centre():
    assert square_window((10, 50, 0, 40)) == (10, 50, 0, 40)
    assert square_window((300, 700, 320, 620)) == (300, 700, 270, 670)        # 400x300 -> 400x400
    img = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    cut = cut_window(img, (-2, 4, 3, 9))                                      # leaves left and bottom
    assert cut.shape == (6, 6, 3)
    assert np.array_equal(cut[:3, 2:], img[3:6, 0:4]) and not cut[:, :2].any() and not cut[3:].any()


# ---------------------------------------------------------------- preparation end to end

FAST = PrepareConfig(preset="veryfast")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_hdtf")
    ann_dir, videos = tiny.make_tiny_hdtf(root)
    out = root / "prepared"
    report = prepare(load_annotations(ann_dir), videos, out, workers=2, cfg=FAST, stream=sys.stdout)
    return ann_dir, videos, out, report


def _marker_indices(path: Path, rec: dict) -> np.ndarray:
    """Source frame index written in each prepared frame's marker blocks."""
    src = tiny.source(rec["source"])
    crop = src.crops[int(rec["name"].rsplit("_", 1)[1])]
    wx0, wx1, wy0, _ = rec["window"]
    boxes = (tiny.marker_boxes(crop) - [wx0, wx0, wy0, wy0]) * rec["size"] / (wx1 - wx0)
    inner = boxes + (boxes[:, [1, 0, 3, 2]] - boxes) * 0.3       # the middle of each block
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            grey = f.to_ndarray(format="gray")
            bits = [grey[int(y0):int(y1), int(x0):int(x1)].mean() > 128 for x0, x1, y0, y1 in inner]
            out.append(sum(int(b) << i for i, b in enumerate(bits)))
    return np.array(out)


def test_prepare_outputs(corpus):
    ann_dir, videos, out, report = corpus
    assert sorted(report.done) == ["TinyAnchor_0", "TinyReporter_0", "TinyReporter_1"]
    assert not report.failed and report.missing_sources == {"TinyMissing": ["TinyMissing_0"]}
    records = {r["name"]: r for r in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}
    assert sorted(records) == sorted(report.done)
    for name, rec in records.items():
        duration = rec["end_s"] - rec["start_s"]
        video = out / "clips" / f"{name}.mp4"
        with av.open(str(video)) as c:
            vs = c.streams.video[0]
            assert (vs.width, vs.height, vs.average_rate) == (512, 512, 25)
            times = [f.time for f in c.decode(video=0)]
        assert len(times) == rec["frames"] == round(duration * 25)
        assert abs(times[-1] + 1 / 25 - duration) <= 1 / 25 + 1e-6
        # Each output frame shows the source frame on screen at start + j/25 (VFR and a gap in TinyReporter).
        src_t = np.array(tiny.source(rec["source"]).frame_times)
        want = np.searchsorted(src_t, rec["start_s"] + np.arange(rec["frames"]) / 25 + 1e-9, side="right") - 1
        assert np.array_equal(_marker_indices(video, rec), want), name

        wav, sr = sf.read(str(out / "clips" / f"{name}.wav"), always_2d=True)
        assert sr == 16000 and wav.shape == (round(duration * 16000), 1)
        assert np.abs(wav).max() > 0.1                                   # speech, not silence
        if rec["start_s"] <= tiny.BEEP_S < rec["end_s"]:                 # A/V alignment of the audio cut
            onset = np.argmax(np.abs(wav[:, 0]) > 0.6) / sr
            assert abs(onset - (tiny.BEEP_S - rec["start_s"])) < 0.005
    assert records["TinyReporter_1"]["window"] == [300, 700, 270, 670]   # non-square window padded


def test_prepare_skips_then_resumes(corpus, capsys):
    from talkface.training.hdtf import prepare as prepare_module

    ann_dir, videos, out, _ = corpus
    clips = out / "clips"
    before = {p.name: p.stat().st_mtime_ns for p in clips.iterdir()}
    args = ["--annotations", str(ann_dir), "--videos", str(videos), "--out", str(out), "--workers", "2"]
    assert prepare_module.main(args) == 0                            # second run: nothing to do
    assert "3 already prepared, 0 to prepare" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in clips.iterdir()} == before

    # Interruptions: a deleted output, a clip killed mid-write (only .part files), a truncated file,
    # and a torn manifest line.
    (clips / "TinyAnchor_0.wav").unlink()
    for ext in ("mp4", "wav"):
        (clips / f"TinyReporter_0.{ext}").unlink()
        (clips / f".TinyReporter_0.{ext}.part").write_bytes(b"half-written")
    with open(clips / "TinyReporter_1.mp4", "r+b") as f:
        f.truncate(1000)
    with open(out / "manifest.jsonl", "a") as f:
        f.write('{"name": "TinyAnch')
    report = prepare(load_annotations(ann_dir), videos, out, workers=2, cfg=FAST, stream=sys.stdout)
    assert sorted(report.done) == ["TinyAnchor_0", "TinyReporter_0", "TinyReporter_1"] and not report.failed
    assert not list(clips.glob(".*.part"))
    lines = (out / "manifest.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["name"] for line in lines) == sorted(report.done)   # compacted
    with av.open(str(clips / "TinyReporter_1.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 50
    report = prepare(load_annotations(ann_dir), videos, out, workers=1, cfg=FAST, stream=sys.stdout)
    assert len(report.skipped) == 3 and not report.done

    (clips / "TinyAnchor_0.mp4").unlink()                          # a changed setting makes records stale
    report = prepare(load_annotations(ann_dir), videos, out, workers=1,
                     cfg=PrepareConfig(size=128, preset="veryfast"), stream=sys.stdout)
    assert len(report.done) == 3
    with av.open(str(clips / "TinyAnchor_0.mp4")) as c:
        assert c.streams.video[0].width == 128


def test_talking_faces_move_the_mouth_only():
    """The --talking corpus mode: the face model opens the mouth with the speech; the scene stays."""
    from skimage.data import astronaut

    from talkface.core.audio.visemes import lip_gap, mouth_weights

    src = tiny.source("TinyAnchor")
    gap = lip_gap(mouth_weights(tiny._utterance(src).phonemes, 100.0))
    t_open = float(np.argmax(gap)) / 100
    frames = tiny.talking_faces(astronaut(), tiny.TinySource(**{**src.__dict__, "frame_times": (0.0, t_open)}))
    assert frames.shape == (2, 256, 256, 3) and frames.dtype == np.uint8
    diff = np.abs(frames[1].astype(float) - frames[0].astype(float)).mean(axis=2)
    assert diff[60:100, 90:140].mean() > 8          # lower face: the mouth opened (and the head nodded)
    assert diff[:40, :40].mean() < 1                # the flag in the corner did not move


def _small_video(path: Path, seconds: float, audio: bool) -> None:
    """128x72 at 10 fps, optionally with a 440 Hz mono AAC track of the same length."""
    from fractions import Fraction

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 128, 72, "yuv420p"
        aus = out.add_stream("aac", rate=16000, layout="mono") if audio else None
        for k in range(int(seconds * 10)):
            frame = av.VideoFrame.from_ndarray(np.full((72, 128, 3), 9 * k, np.uint8), format="rgb24")
            frame.pts = k
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if aus is not None:
            for k in range(int(seconds * 16000) // 1024):
                x = np.sin(2 * np.pi * 440 * (np.arange(1024) + 1024 * k) / 16000).astype(np.float32)[None]
                frame = av.AudioFrame.from_ndarray(x, format="fltp", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 16000, 1024 * k, Fraction(1, 16000)
                out.mux(aus.encode(frame))
            out.mux(aus.encode(None))


def test_prepare_reports_bad_sources(tmp_path):
    """Unreadable files, silent videos and sources shorter than the clip fail alone, with a reason."""
    names = ["Junk", "Mute", "Short"]
    _write(tmp_path / "ann", {
        "video_url": [f"{n} https://y.com/{n}" for n in names],
        "annotion_time": [f"{n}.mp4 00:00-00:03" for n in names],
        "crop_wh": [f"{n}_0.mp4 0 64 0 64" for n in names],
        "crop_ratio": [f"{n}_0.mp4 1" for n in names],
        "resolution": [f"{n}.mp4 72" for n in names],
    })
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "Junk.mp4").write_bytes(np.random.default_rng(0).bytes(20000))
    _small_video(videos / "Mute.mp4", 3.0, audio=False)
    _small_video(videos / "Short.mp4", 1.5, audio=True)
    out = tmp_path / "out"
    report = prepare(load_annotations(tmp_path / "ann"), videos, out, workers=1, cfg=FAST, stream=sys.stdout)
    assert not report.done and sorted(report.failed) == ["Junk_0", "Mute_0", "Short_0"]
    assert "cannot read Junk.mp4" in report.failed["Junk_0"]
    assert report.failed["Mute_0"] == "the source has no audio stream"
    assert "before the clip's end at 3.00 s" in report.failed["Short_0"]
    assert sorted(json.loads(x)["name"] for x in (out / "failed.jsonl").read_text().splitlines()) == sorted(report.failed)
    assert not any((out / "clips").iterdir())                      # no half-written files left behind
