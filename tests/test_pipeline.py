"""The headless command end to end: photo + speech -> scene.blend, frames, video.mp4."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import PORTRAIT, ROOT

SCRIPT = os.path.join(ROOT, "blender_talkface", "headless.py")


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """Two seconds of real synthetic speech from espeak-ng."""
    import soundfile as sf

    from talkface.training.corpus.espeak import synthesize

    utt = synthesize("Bob made a map of the moon.", voice="en-us")
    path = tmp_path_factory.mktemp("audio") / "bob.wav"
    sf.write(path, utt.samples, utt.sample_rate)
    return str(path)


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, "--", *args], capture_output=True, text=True, timeout=900)


INSPECT = r"""
import bpy, json, sys
scene = bpy.context.scene
face = [o for o in scene.objects if "talkface_fit" in o][0]
keys = face.data.shape_keys
action = keys.animation_data.action
strips = [(s.type, s.frame_final_duration) for s in scene.sequence_editor.strips]
jaw = [fc for bag in action.layers[0].strips[0].channelbags for fc in bag.fcurves
       if fc.data_path == 'key_blocks["jawOpen"].value'][0]
print(json.dumps({"action": action.name, "strips": strips, "fps": scene.render.fps / scene.render.fps_base,
                  "frames": [scene.frame_start, scene.frame_end], "jaw_keys": len(jaw.keyframe_points),
                  "jaw_max": max(p.co.y for p in jaw.keyframe_points),
                  "jaw_first": jaw.keyframe_points[0].co.x, "jaw_last": jaw.keyframe_points[-1].co.x,
                  "slots": sorted(s.target_id_type for s in action.slots),
                  "head_linked": face.parent is not None and face.get("talkface_head_object") == face.parent,
                  "camera_linked": face.get("talkface_camera_object") == scene.camera,
                  "take_audio": action.get("talkface_audio"),
                  "transcript": action.get("talkface_transcript"), "lipsync": action.get("talkface_lipsync")}))
"""


def inspect_blend(path):
    code = f"import bpy; bpy.ops.wm.open_mainfile(filepath={path!r})\n" + INSPECT
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_full_pipeline(tmp_path, speech):
    out = tmp_path / "out"
    done = run("--photo", PORTRAIT, "--audio", speech, "--out", str(out), "--resolution", "128",
               "--fps", "25")
    assert done.returncode == 0, done.stderr[-3000:]
    # core.progress.Progress, throttled to about a line a second (h:mm:ss ETA)
    bake_lines = re.findall(r"\[talkface\] bake: +[\d.]+% \(\d+/\d+ frames, .* ETA \d+:\d\d:\d\d\)", done.stderr)
    assert bake_lines and bake_lines[-1].startswith("[talkface] bake: 100.0%")
    assert sorted(os.listdir(out)) == ["frames", "scene.blend", "video.mp4"]
    frames = sorted(os.listdir(out / "frames"))
    info = inspect_blend(str(out / "scene.blend"))
    n = info["frames"][1] - info["frames"][0] + 1
    assert len(frames) == n and 40 <= n <= 70  # about two seconds at 25 fps
    assert ("IMAGE", n) in [tuple(s) for s in info["strips"]]
    assert any(t == "SOUND" for t, _ in info["strips"])
    assert info["slots"] == ["KEY", "OBJECT"]
    assert info["head_linked"] and info["camera_linked"]  # pointers survive the saved file
    assert info["take_audio"] == speech
    assert info["jaw_max"] > 0.1  # the mouth moves with the speech
    video = (out / "video.mp4").read_bytes()
    assert b"avc1" in video and b"mp4a" in video


def test_keys_only_at_ntsc_rate(tmp_path, speech):
    out = tmp_path / "out"
    done = run("--photo", PORTRAIT, "--audio", speech, "--out", str(out), "--fps", "29.97", "--keys-only")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (out / "frames").exists() and not (out / "video.mp4").exists()
    info = inspect_blend(str(out / "scene.blend"))
    assert abs(info["fps"] - 29.97) < 1e-3
    assert 0 < info["jaw_keys"] < info["frames"][1] - info["frames"][0] + 1  # reduced keys


def test_keys_only_with_a_transcript_times_the_lips_by_it(tmp_path, speech):
    out = tmp_path / "out"
    text = tmp_path / "line.txt"
    text.write_text("Bob made a map of the moon.\n", encoding="utf-8")
    done = run("--photo", PORTRAIT, "--audio", speech, "--out", str(out), "--keys-only", "--transcript", str(text))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "lips timed by the transcript" in done.stderr
    info = inspect_blend(str(out / "scene.blend"))
    assert info["transcript"] == "Bob made a map of the moon." and info["lipsync"] == "transcript"


def test_take_options_reach_the_keys(tmp_path, speech):
    """--mouth 0 keeps the jaw shut, --start-frame moves the take, --no-reduce-keys keys every frame."""
    out = tmp_path / "out"
    done = run("--photo", PORTRAIT, "--audio", speech, "--out", str(out), "--keys-only", "--style", "Calm",
               "--mouth", "0", "--start-frame", "20", "--no-reduce-keys", "--seed", "3", "--smoothing", "0.02")
    assert done.returncode == 0, done.stderr[-3000:]
    info = inspect_blend(str(out / "scene.blend"))
    assert info["jaw_max"] == 0.0 and info["jaw_first"] == 20.0
    assert info["jaw_keys"] == info["jaw_last"] - info["jaw_first"] + 1   # a key on every frame
    # the scene ends with the sound; the curve may run one network frame past it
    assert info["frames"][0] == 1 and info["frames"][1] >= info["jaw_last"] - 1
