"""Export Take: per-frame ARKit weights and head rotation as a Live Link Face CSV and as JSON,
from the panel and headless; read back and compared with the F-curves."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import PORTRAIT, ROOT, SPEECH

from talkface.core.animation import HEAD_CHANNELS, Animation
from talkface.core.face.model import ARKIT_NAMES
from talkface.core.take_files import (
    LIVE_LINK_HEADER,
    read_json,
    read_live_link_csv,
    timecode,
    write_json,
    write_live_link_csv,
)

PKG = "bl_ext.user_default.talkface"


def random_take(n=37, fps=25.0):
    rng = np.random.default_rng(0)
    channels = tuple(ARKIT_NAMES) + HEAD_CHANNELS
    return Animation(fps, channels, rng.uniform(0, 1, (n, len(channels))).astype(np.float32))


def test_live_link_csv_layout_and_round_trip(tmp_path):
    anim = random_take()
    path = write_live_link_csv(anim, tmp_path / "take.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert tuple(lines[0].split(",")) == LIVE_LINK_HEADER and len(LIVE_LINK_HEADER) == 63
    assert lines[1].startswith("00:00:00:00.000,61,") and lines[26].startswith("00:00:01:00.000,61,")
    back = read_live_link_csv(path, anim.fps)
    for name in ARKIT_NAMES + ("head_rx", "head_ry", "head_rz"):
        np.testing.assert_allclose(back.channel(name), anim.channel(name), atol=1e-5)
    header = lines[0].split(",")
    assert header.index("HeadYaw") - 2 == 52                      # rotations after the 52 shapes


def test_json_round_trip(tmp_path):
    anim = random_take()
    back, start = read_json(write_json(anim, tmp_path / "take.json", start_frame=40))
    assert start == 40 and back.channels == anim.channels and back.fps == anim.fps
    np.testing.assert_allclose(back.values, anim.values, atol=1e-6)
    about = {"lipsync": "word recogniser", "transcript": "", "heard": "bob made a map"}
    path = write_json(anim, tmp_path / "made.json", about=about)
    assert json.loads(path.read_text())["take"] == about
    assert "take" not in json.loads((tmp_path / "take.json").read_text())
    assert read_json(path)[0].channels == anim.channels


def test_timecode_at_fractional_rates():
    assert timecode(0, 25) == "00:00:00:00.000" and timecode(3601 * 25 + 7, 25) == "01:00:01:07.000"
    assert timecode(30, 29.97).startswith("00:00:01:00.")


def _curves_at(blender, face, frames):
    kf = importlib.import_module(f"{PKG}.blender_talkface.keyframes")
    shapes = kf.shape_key_curves(face.data.shape_keys)
    head = kf.head_curves(face.parent)
    return ({n: np.array([fc.evaluate(f) for f in frames]) for n, fc in shapes.items()},
            {n: np.array([fc.evaluate(f) for f in frames]) for n, fc in head.items()})


def test_export_from_blender_matches_the_edited_curves(scene, blender, tmp_path):
    assert blender.ops.talkface.fit_face(filepath=PORTRAIT) == {"FINISHED"}
    face = blender.context.active_object
    assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
    kf = importlib.import_module(f"{PKG}.blender_talkface.keyframes")
    jaw = kf.shape_key_curves(face.data.shape_keys)["jawOpen"]
    jaw.keyframe_points[3].co.y = 0.9                  # the animator's hand edit
    jaw.update()
    edited = [tuple(p.co) for p in jaw.keyframe_points]
    for kind in ("CSV", "JSON"):
        path = str(tmp_path / f"take.{kind.lower()}")
        assert blender.ops.talkface.export_take(filepath=path, file_format=kind) == {"FINISHED"}
        assert not os.path.exists(path + ".partial")
    assert [tuple(p.co) for p in jaw.keyframe_points] == edited     # exporting changes nothing

    anim, start = read_json(tmp_path / "take.json")
    about = json.loads((tmp_path / "take.json").read_text())["take"]
    # how it was made: the default listening, with the words it heard
    assert about["lipsync"] == "word recogniser" and about["transcript"] == "" and about["heard_by"] == "Whisper"
    assert "my name is emma" in about["heard"].lower()
    frames = start + np.arange(anim.n_frames)
    shapes, head = _curves_at(blender, face, frames)
    for name, values in shapes.items():
        np.testing.assert_allclose(anim.channel(name), values, atol=1e-5)
    rest = np.asarray(importlib.import_module(f"{PKG}.blender_talkface.face_object").load_fit(face).pose)
    for name, values in head.items():
        np.testing.assert_allclose(anim.channel(name), values - rest[HEAD_CHANNELS.index(name)], atol=1e-5)
    csv_take = read_live_link_csv(tmp_path / "take.csv", anim.fps)
    assert csv_take.n_frames == anim.n_frames
    np.testing.assert_allclose(csv_take.channel("jawOpen"), shapes["jawOpen"], atol=1e-5)
    edited_frame = int(round(jaw.keyframe_points[3].co.x))
    assert abs(csv_take.channel("jawOpen")[edited_frame - start] - 0.9) < 1e-5   # the hand edit is in the file
    np.testing.assert_allclose(csv_take.channel("head_rz"), anim.channel("head_rz"), atol=1e-5)


def test_export_refused_without_a_take(scene, blender, tmp_path):
    assert blender.ops.talkface.fit_face(filepath=PORTRAIT) == {"FINISHED"}
    with pytest.raises(RuntimeError, match="Animate the face first"):
        blender.ops.talkface.export_take(filepath=str(tmp_path / "t.csv"))
    assert not os.listdir(tmp_path)


def test_headless_export(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "blender_talkface", "headless.py"), "--", "--photo", PORTRAIT,
         "--audio", SPEECH, "--out", str(out), "--keys-only", "--export-csv", "take.csv",
         "--export-json", str(tmp_path / "elsewhere" / "take.json")],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    anim, start = read_json(tmp_path / "elsewhere" / "take.json")
    csv_take = read_live_link_csv(out / "take.csv", anim.fps)
    assert start == 1 and csv_take.n_frames == anim.n_frames > 150          # 7.35 s at 25 fps
    np.testing.assert_allclose(csv_take.channel("jawOpen"), anim.channel("jawOpen"), atol=1e-5)
    assert anim.channel("jawOpen").max() > 0.1


def test_headless_export_to_a_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    (tmp_path / "dir").mkdir()
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "blender_talkface", "headless.py"), "--", "--photo", PORTRAIT,
         "--audio", SPEECH, "--out", str(out), "--export-csv", str(tmp_path / "dir")],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "names a folder" in done.stderr and not out.exists()
