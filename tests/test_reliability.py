"""Never lose a user's work, never report success on a broken result (issue 15).

Each test runs the headless command as a pipeline would and checks the exit status, the one line
it prints, that files which existed before are byte-identical, and that nothing looking complete
is left by a failed run. A full disk is simulated by a write hook (TALKFACE_TEST_FAULT) that cuts
the saved file short, as a full disk does (mounting a small tmpfs needs privileges CI lacks).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import PORTRAIT, ROOT, SPEECH

from talkface.core import run_record

SCRIPT = os.path.join(ROOT, "blender_talkface", "headless.py")


def run(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, SCRIPT, "--", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def leftovers(folder) -> list[str]:
    """TalkFace's hidden working files left in ``folder`` (the finished run's record is not one)."""
    return [n for n in os.listdir(folder) if n.startswith(".talkface-") and n != run_record.FILE_NAME]


def digest(folder) -> dict:
    """Every file under ``folder`` with its sha256 (the 'byte-identical' check)."""
    out = {}
    for base, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def one_line(done, status, fragment):
    assert done.returncode == status, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("talkface:")]
    assert len(lines) == 1 and fragment in lines[0], done.stderr[-3000:]
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def previous_run(tmp_path_factory):
    """A folder holding a complete earlier keys-only run, and the user's own backup beside it."""
    out = tmp_path_factory.mktemp("shot") / "out"
    done = run("--photo", PORTRAIT, "--audio", SPEECH, "--out", str(out), "--keys-only")
    assert done.returncode == 0, done.stderr[-3000:]
    (out / "scene.blend1").write_bytes(b"the user's older backup")
    return out


@pytest.fixture
def shot(previous_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(previous_run, out)
    return out


def test_rerun_into_a_folder_with_outputs_needs_consent(shot):
    before = digest(shot)
    done = run("--photo", PORTRAIT, "--audio", SPEECH, "--out", str(shot), "--keys-only")
    one_line(done, 2, "--overwrite")
    assert digest(shot) == before


def test_overwrite_keeps_the_previous_scene_and_every_backup(shot):
    before = digest(shot)
    done = run("--photo", PORTRAIT, "--audio", SPEECH, "--out", str(shot), "--keys-only", "--overwrite")
    assert done.returncode == 0, done.stderr[-3000:]
    after = digest(shot)
    assert after["scene.blend1"] == before["scene.blend"]          # the previous scene, kept
    assert after["scene.blend2"] == before["scene.blend1"]         # the older backup, shifted, not deleted
    assert leftovers(shot) == [] and run_record.read_complete(str(shot)) is not None


def test_keys_only_overwrite_removes_another_runs_frames_and_video(shot):
    (shot / "frames").mkdir()
    (shot / "frames" / "frame_000001.png").write_bytes(b"old")
    (shot / "video.mp4").write_bytes(b"old")
    done = run("--photo", PORTRAIT, "--audio", SPEECH, "--out", str(shot), "--keys-only", "--overwrite")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (shot / "frames").exists() and not (shot / "video.mp4").exists()


def test_full_disk_while_saving_leaves_the_previous_outputs(shot):
    before = digest(shot)
    done = run("--photo", PORTRAIT, "--audio", SPEECH, "--out", str(shot), "--keys-only", "--overwrite",
               env={"TALKFACE_TEST_FAULT": "truncate-save"})
    one_line(done, 1, "Saving scene.blend failed: the written file is incomplete (disk full?)")
    assert digest(shot) == before


@pytest.fixture(scope="module")
def short_speech(tmp_path_factory) -> str:
    """The sample line's first 2 s: a run that renders a video in about a third of the whole line's
    time (these tests are about what a failed or killed run leaves, not about the line)."""
    import soundfile as sf

    samples, sr = sf.read(SPEECH)
    path = tmp_path_factory.mktemp("speech") / "short.wav"
    sf.write(path, samples[: 2 * sr], sr)
    return str(path)


def test_full_disk_while_rendering_the_video(tmp_path, short_speech):
    out = tmp_path / "out"
    done = run("--photo", PORTRAIT, "--audio", short_speech, "--out", str(out), "--resolution", "64",
               env={"TALKFACE_TEST_FAULT": "truncate-video"})
    one_line(done, 1, "Rendering video.mp4 failed")
    assert not (out / "video.mp4").exists() and not (out / "scene.blend").exists()
    assert leftovers(out) == [] and run_record.read_complete(str(out)) is None


WITH_WEIGHTS = r"""
import shutil, sys
from pathlib import Path
import talkface.core.weights as weights
folder, damage = Path(sys.argv[1]), sys.argv[2]
shutil.copytree(weights.DEFAULT_DIR, folder)
target = folder / damage
data = bytearray(target.read_bytes())
if damage == "provenance.json":
    data = data[: len(data) // 2]            # cut short: not JSON any more
else:
    data[len(data) // 2] ^= 0xFF             # one flipped byte
target.write_bytes(bytes(data))
weights.DEFAULT_DIR = folder
from talkface.blender_talkface import headless
sys.exit(headless.main(["headless", "--", *sys.argv[3:]]))
"""


@pytest.mark.parametrize("damaged, mode", [("animator.safetensors", "warp"), ("face_model.npz", "warp"),
                                           ("generator.safetensors", "auto"), ("provenance.json", "warp")])
def test_damaged_file_stops_the_run_before_any_work(shot, tmp_path, damaged, mode):
    before = digest(shot)
    done = subprocess.run([sys.executable, "-c", WITH_WEIGHTS, str(tmp_path / "weights"), damaged, "--photo",
                           PORTRAIT, "--audio", SPEECH, "--out", str(shot), "--overwrite", "--mode", mode],
                          capture_output=True, text=True, timeout=600)
    one_line(done, 3, "damaged")
    assert damaged in done.stderr and "restore it or reinstall" in done.stderr
    assert "fit:" not in done.stderr and digest(shot) == before


def test_frames_too_small_refused_before_work(tmp_path):
    out = tmp_path / "out"
    done = run("--photo", PORTRAIT, "--audio", SPEECH, "--out", str(out), "--resolution", "8")
    one_line(done, 2, "each side must be at least 16 px")
    assert not out.exists()


def test_non_finite_samples_become_silence_with_a_warning(tmp_path):
    import soundfile as sf

    t = np.arange(32000) / 16000.0
    x = (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    x[1000:1010] = np.nan
    x[5000] = np.inf
    sf.write(tmp_path / "nan.wav", x, 16000, subtype="FLOAT")
    done = run("--photo", PORTRAIT, "--audio", str(tmp_path / "nan.wav"), "--out", str(tmp_path / "out"),
               "--keys-only")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "11 samples of 'nan.wav' were not numbers (NaN/Inf) and were set to silence" in done.stderr


def test_stereo_that_cancels_uses_the_louder_channel(tmp_path):
    import soundfile as sf

    from talkface.core.audio.loading import load_audio

    speech = load_audio(SPEECH)
    stereo = np.stack([speech.samples, -0.9 * speech.samples], 1)
    sf.write(tmp_path / "inverted.wav", stereo, 16000, subtype="FLOAT")
    audio = load_audio(tmp_path / "inverted.wav")
    assert any("cancel when mixed" in n and "channel 1" in n for n in audio.notes)
    assert np.allclose(audio.samples, speech.samples, atol=1e-4)
    plain = np.stack([speech.samples, 0.9 * speech.samples], 1)
    sf.write(tmp_path / "plain.wav", plain, 16000, subtype="FLOAT")
    assert load_audio(tmp_path / "plain.wav").notes == ()


def test_sigterm_during_the_bake_keeps_earlier_outputs(shot):
    before = digest(shot)
    proc = subprocess.Popen([sys.executable, SCRIPT, "--", "--photo", PORTRAIT, "--audio", SPEECH, "--out",
                             str(shot), "--overwrite", "--resolution", "256", "--mode", "warp"],
                            stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.time() + 300
    while time.time() < deadline:
        line = proc.stderr.readline()
        seen += line
        if "bake:" in line or not line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 143, seen + rest
    assert "talkface: interrupted (SIGTERM): nothing was saved" in rest
    assert digest(shot) == before
    frames = shot / "frames"
    assert not frames.exists() or not [n for n in os.listdir(frames) if n.startswith(".talkface-partial-")]


def test_stale_staging_of_a_killed_bake_is_removed(tmp_path, short_speech):
    out = tmp_path / "out"
    stale = out / "frames" / ".talkface-partial-999999999-abc"
    stale.mkdir(parents=True)
    (stale / "frame_000001.png").write_bytes(b"half")
    done = run("--photo", PORTRAIT, "--audio", short_speech, "--out", str(out), "--resolution", "64",
               "--overwrite")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not stale.exists() and (out / "video.mp4").exists()


def test_blend_given_to_the_bpy_module_form_is_opened(tmp_path, previous_run):
    shot = tmp_path / "given.blend"
    shutil.copy(previous_run / "scene.blend", shot)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, SCRIPT, str(shot), "--", "--photo", PORTRAIT, "--audio", SPEECH,
                           "--out", str(out), "--keys-only"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    code = (f"import bpy; bpy.ops.wm.open_mainfile(filepath={str(out / 'scene.blend')!r}); "
            "print(sum(1 for o in bpy.data.objects if 'talkface_fit' in o))")
    faces = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert faces.stdout.strip().splitlines()[-1] == "2"          # added to the given scene
    missing = subprocess.run([sys.executable, SCRIPT, str(tmp_path / "none.blend"), "--", "--photo", PORTRAIT,
                              "--audio", SPEECH, "--out", str(tmp_path / "o2")],
                             capture_output=True, text=True, timeout=600)
    one_line(missing, 2, "was not found")


def test_texture_uses_the_upright_pixels_of_a_sideways_phone_photo(scene, blender, tmp_path):
    from PIL import Image

    upright = Image.open(PORTRAIT).convert("RGB").crop((0, 0, 512, 384))
    sideways = upright.transpose(Image.Transpose.ROTATE_90)          # stored as a phone does
    exif = Image.Exif()
    exif[0x0112] = 6                                                  # "rotate 90 CW to view"
    path = tmp_path / "phone.jpg"
    sideways.save(path, exif=exif, quality=95)
    assert blender.ops.talkface.fit_face(filepath=str(path)) == {"FINISHED"}
    face = blender.context.active_object
    image = face.data.materials[0].node_tree.nodes["Image Texture"].image
    assert tuple(image.size) == upright.size and image.packed_file is not None
    pixels = np.array(image.pixels[:], np.float32).reshape(upright.size[1], upright.size[0], 4)[::-1, :, :3]
    reference = np.asarray(upright, np.float32) / 255.0
    assert np.abs(pixels - reference).mean() < 0.03                  # the upright picture, not the stored one
    camera = blender.context.scene.camera
    assert camera.data.background_images[0].image == image


def test_weights_are_never_unpickled():
    """Weights load through safetensors/numpy only: no pickle, no torch.load anywhere at run time."""
    import re

    offenders = []
    for folder in ("core", "blender_talkface"):
        for base, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if name.endswith(".py"):
                    text = open(os.path.join(base, name), encoding="utf-8").read()
                    if re.search(r"torch\.load\(|import pickle|pickle\.load|allow_pickle=True", text):
                        offenders.append(name)
    assert not offenders


def test_upside_down_face_is_refused_not_fitted(tmp_path):
    from PIL import Image

    path = tmp_path / "upside_down.png"
    Image.open(PORTRAIT).convert("RGB").transpose(Image.Transpose.ROTATE_180).save(path)
    out = tmp_path / "out"
    done = run("--photo", str(path), "--audio", SPEECH, "--out", str(out), "--keys-only")
    one_line(done, 2, "is upside down")
    assert not out.exists()


def test_turned_face_gets_a_warning(monkeypatch):
    from dataclasses import replace

    from talkface.core.face import fitting
    from talkface.core.face.image_io import load_photo
    from talkface.core.face.landmarks import detect_landmarks
    from talkface.core.face.model import load_face_model

    photo = load_photo(PORTRAIT)
    marks, model = detect_landmarks(photo), load_face_model()
    fit = fitting.fit_photo(photo, marks, model)
    assert not any("turned about" in n for n in fit.notes)          # the sample looks at the camera
    real = fitting.fit_landmarks

    def turned(*args, **kwargs):                                     # the same fit, the head turned 60 degrees
        result = real(*args, **kwargs)
        pose = result.pose.copy()
        pose[2] = np.radians(60.0)
        return replace(result, pose=pose)

    monkeypatch.setattr(fitting, "fit_landmarks", turned)
    notes = fitting.fit_photo(photo, marks, model).notes
    assert any("turned about 60 degrees" in n and "less than about 45" in n for n in notes), notes


def test_failed_video_keeps_the_previous_frames_video_and_scene(tmp_path, short_speech):
    """A complete earlier run with frames and video; the re-run bakes, then its video fails: every
    earlier file is byte-identical and no new frame or partial file is left."""
    out = tmp_path / "out"
    first = run("--photo", PORTRAIT, "--audio", short_speech, "--out", str(out), "--resolution", "64")
    assert first.returncode == 0, first.stderr[-3000:]
    before = digest(out)
    assert any(k.startswith("frames/") for k in before) and "video.mp4" in before
    done = run("--photo", PORTRAIT, "--audio", short_speech, "--out", str(out), "--resolution", "64", "--overwrite",
               "--mouth", "0.5", env={"TALKFACE_TEST_FAULT": "truncate-video"})
    one_line(done, 1, "Rendering video.mp4 failed")
    assert digest(out) == before
    again = run("--photo", PORTRAIT, "--audio", short_speech, "--out", str(out), "--resolution", "64", "--overwrite",
                "--mouth", "0.5")
    assert again.returncode == 0, again.stderr[-3000:]
    after = digest(out)
    assert after["scene.blend1"] == before["scene.blend"] and after["video.mp4"] != before["video.mp4"]
    assert leftovers(out) == [] and run_record.read_complete(str(out)).args[-2:] == ("--mouth", "0.5")


def test_noise_instead_of_speech_gets_a_warning_and_speech_does_not(tmp_path):
    import soundfile as sf

    rng = np.random.default_rng(0)
    sf.write(tmp_path / "hiss.wav", (0.2 * rng.standard_normal(48000)).astype(np.float32), 16000)
    done = run("--photo", PORTRAIT, "--audio", str(tmp_path / "hiss.wav"), "--out", str(tmp_path / "a"),
               "--keys-only")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "'hiss.wav' hardly sounds like speech" in done.stderr
    done = run("--photo", PORTRAIT, "--audio", SPEECH, "--out", str(tmp_path / "b"), "--keys-only")
    assert done.returncode == 0 and "hardly sounds like speech" not in done.stderr


def test_a_fit_much_smaller_than_the_detected_face_is_reported():
    """The detector saw a face far larger than the mesh that landed on it (a profile fitted to a
    nose-to-chin patch): the fit's notes say so. The sample's mesh covers its detected face."""
    from dataclasses import replace

    from talkface.core.face import landmarks as lm
    from talkface.core.face.fitting import fit_photo
    from talkface.core.face.image_io import load_photo
    from talkface.core.face.model import load_face_model

    photo = load_photo(PORTRAIT)
    marks = lm.detect_landmarks(photo)
    assert marks.warning == ""
    notes = fit_photo(photo, replace(marks, warning="The face mesh covers only 40 px of a face detected 120 px "
                                                    "wide"), load_face_model()).notes
    assert any("covers only 40 px" in n for n in notes)
