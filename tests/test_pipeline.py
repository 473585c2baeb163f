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
images = [s for s in scene.sequence_editor.strips if s.type == "IMAGE"]
frames_dir = images[0].directory if images else None
first_frame = bpy.path.abspath(frames_dir + images[0].elements[0].filename) if images else None
jaw = [fc for bag in action.layers[0].strips[0].channelbags for fc in bag.fcurves
       if fc.data_path == 'key_blocks["jawOpen"].value'][0]
def values(pred):
    return [p.co.y for bag in action.layers[0].strips[0].channelbags for fc in bag.fcurves
            if pred(fc.data_path) for p in fc.keyframe_points]
head = [max(p.co.y for p in fc.keyframe_points) - min(p.co.y for p in fc.keyframe_points)
        for bag in action.layers[0].strips[0].channelbags for fc in bag.fcurves
        if fc.data_path in ("rotation_euler", "location") and len(fc.keyframe_points)]
n_keys = sum(len(fc.keyframe_points) for bag in action.layers[0].strips[0].channelbags for fc in bag.fcurves)
print(json.dumps({"action": action.name, "n_keys": n_keys, "objects": sorted(o.type for o in bpy.data.objects),
                  "meshes": len(bpy.data.meshes), "lights": len(bpy.data.lights),
                  "brow_max": max(map(abs, values(lambda d: "brow" in d)), default=0.0),
                  "blink_max": max(map(abs, values(lambda d: "eyeBlink" in d)), default=0.0),
                  "head_range": max(head, default=0.0), "strips": strips, "fps": scene.render.fps / scene.render.fps_base,
                  "frames": [scene.frame_start, scene.frame_end], "jaw_keys": len(jaw.keyframe_points),
                  "jaw_max": max(p.co.y for p in jaw.keyframe_points),
                  "jaw_first": jaw.keyframe_points[0].co.x, "jaw_last": jaw.keyframe_points[-1].co.x,
                  "slots": sorted(s.target_id_type for s in action.slots),
                  "head_linked": face.parent is not None and face.get("talkface_head_object") == face.parent,
                  "camera_linked": face.get("talkface_camera_object") == scene.camera,
                  "take_audio": action.get("talkface_audio"),
                  "transcript": action.get("talkface_transcript"), "lipsync": action.get("talkface_lipsync"),
                  "frames_dir": frames_dir, "first_frame_found": bool(first_frame) and __import__("os").path.isfile(first_frame),
                  "video_path": scene.render.filepath,
                  "packed": sorted([i.name for i in bpy.data.images if i.packed_file]
                                   + [x.name for x in bpy.data.sounds if x.packed_file]),
                  "unpacked_inputs": [x.filepath for x in list(bpy.data.images) + list(bpy.data.sounds)
                                      if x.filepath and not x.packed_file]}))
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
    # listening (the acoustic model's scores, the longest part of the take) counts its chunks too
    assert re.search(r"\[talkface\] animate: listening: 100.0% \(1/1 chunks", done.stderr)
    assert sorted(os.listdir(out)) == [".talkface-done.json", "frames", "scene.blend", "video.mp4"]
    frames = sorted(os.listdir(out / "frames"))
    # the folder moves to another machine or a farm: outputs are relative, the inputs packed
    moved = tmp_path / "elsewhere" / "shot"
    os.makedirs(moved.parent)
    os.rename(out, moved)
    out = moved
    info = inspect_blend(str(out / "scene.blend"))
    assert info["frames_dir"] == "//frames/" and info["video_path"] == "//video.mp4"
    assert info["first_frame_found"]
    assert info["unpacked_inputs"] == [] and len(info["packed"]) >= 2   # the photo and the speech
    # TalkFace's face, head control and camera only: not the startup file's Cube and Light
    assert info["objects"] == ["CAMERA", "EMPTY", "MESH"] and info["meshes"] == 1 and info["lights"] == 0
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
    assert "animate: listening" not in done.stderr      # it runs beside the alignment, unreported
    info = inspect_blend(str(out / "scene.blend"))
    assert info["transcript"] == "Bob made a map of the moon." and info["lipsync"] == "transcript"


def test_keys_only_with_a_trusted_transcript_uses_what_the_check_refuses(tmp_path, speech):
    """--trust-transcript: a text the aligner's check refuses (here one for other audio) is used as
    given; the log says what the check found, and the take records a trusted transcript. Without it
    the same text is refused (exit 2) with how to trust it."""
    text = "The weather will be cool and windy."
    refused = run("--photo", PORTRAIT, "--audio", speech, "--out", str(tmp_path / "no"), "--keys-only",
                  "--transcript", text)
    assert refused.returncode == 2 and "does not match the audio" in refused.stderr
    assert "--trust-transcript" in refused.stderr and not (tmp_path / "no" / "scene.blend").exists()
    out = tmp_path / "out"
    done = run("--photo", PORTRAIT, "--audio", speech, "--out", str(out), "--keys-only", "--transcript", text,
               "--trust-transcript", "--export-json", "take.json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "lips timed by the trusted transcript" in done.stderr
    assert "animate: warning: Trust Text: the aligner's check would have refused this text" in done.stderr
    take = json.loads((out / "take.json").read_text())["take"]
    assert take["lipsync"] == "trusted transcript" and take["text_check"].startswith("The transcript does not match")
    info = inspect_blend(str(out / "scene.blend"))
    assert info["transcript"] == text and info["lipsync"] == "trusted transcript"


def test_keys_only_listening_for_words(tmp_path, speech):
    """--listen words: the lips are timed by the recognised words (and the phone loop); with
    --phone-mouth-heard their phones give --phone-mouth of the mouth, as the take records."""
    out = tmp_path / "out"
    done = run("--photo", PORTRAIT, "--audio", speech, "--out", str(out), "--keys-only", "--listen", "words",
               "--export-json", "take.json", "--phone-mouth", "0.7", "--phone-mouth-heard")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "lips timed by the word recogniser (Whisper)" in done.stderr
    assert "animate: words: 100.0% (1/1 chunks" in done.stderr
    assert done.stderr.index("animate: listening: 100.0% (1/1 chunks") < done.stderr.index("animate: words:")
    # the words heard are in the log and in the exported take, for a pipeline to correct and reuse
    take = json.loads((out / "take.json").read_text())["take"]
    assert take["lipsync"] == "word recogniser" and take["transcript"] == "" and take["phone_mouth"] == 0.7
    assert take["heard"] and f"animate: Heard: '{take['heard']}'" in done.stderr and take["heard_by"] == "Whisper"
    info = inspect_blend(str(out / "scene.blend"))
    assert info["lipsync"] == "word recogniser" and info["transcript"] == "" and info["jaw_max"] > 0.1


def test_take_options_reach_the_keys(tmp_path, speech):
    """--mouth/--brows/--head/--blinks 0 still the parts, --start-frame moves the take,
    --no-reduce-keys keys every frame."""
    out = tmp_path / "out"
    done = run("--photo", PORTRAIT, "--audio", speech, "--out", str(out), "--keys-only", "--style", "Calm",
               "--mouth", "0", "--brows", "0", "--head", "0", "--blinks", "0", "--start-frame", "20",
               "--no-reduce-keys", "--seed", "3", "--smoothing", "0.02")
    assert done.returncode == 0, done.stderr[-3000:]
    info = inspect_blend(str(out / "scene.blend"))
    assert info["jaw_max"] == 0.0 and info["jaw_first"] == 20.0
    assert info["brow_max"] == 0.0 and info["blink_max"] == 0.0 and info["head_range"] < 1e-6
    assert info["jaw_keys"] == info["jaw_last"] - info["jaw_first"] + 1   # a key on every frame
    # the scene ends with the sound; the curve may run one network frame past it
    assert info["frames"][0] == 1 and info["frames"][1] >= info["jaw_last"] - 1


def test_intensities_and_tolerance_change_the_take(tmp_path, speech):
    """The defaults move brows, blink and head; a coarse --tolerance keeps fewer keys."""
    infos = {}
    for name, flags in (("default", ()), ("coarse", ("--tolerance", "0.2"))):
        out = tmp_path / name
        done = run("--photo", PORTRAIT, "--audio", speech, "--out", str(out), "--keys-only", "--blinks", "2",
                   *flags)
        assert done.returncode == 0, done.stderr[-3000:]
        infos[name] = inspect_blend(str(out / "scene.blend"))
    default = infos["default"]
    assert default["brow_max"] > 0.0 and default["head_range"] > 1e-4
    assert infos["coarse"]["n_keys"] < default["n_keys"]


def test_a_trusted_take_reports_what_the_check_said_and_the_pieces():
    """The take's report (headless log, operator report) for a trusted text: the refusal the check
    would have made, and, for a text too long to search whole, how many pieces it was aligned in."""
    from talkface.blender_talkface.pipeline import trust_notes
    from talkface.core.audio.alignment import Alignment

    plain = Alignment(words=[], phones=[], score=0.0)
    assert trust_notes(None) == () and trust_notes(plain) == ()
    spared = Alignment(words=[], phones=[], score=0.0, trusted=True, check="The transcript does not match ...")
    assert trust_notes(spared) == ("Trust Text: the aligner's check would have refused this text, and the lips "
                                   "follow it as given (The transcript does not match ...)",)
    cut = Alignment(words=[], phones=[], score=0.0, trusted=True, pieces=4)
    assert trust_notes(cut) == ("Trust Text: too long to search whole, the text was aligned in 4 pieces cut where "
                                "the words Whisper heard pin it",)
