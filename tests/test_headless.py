"""The headless pipeline command: bad input exits non-zero with one line and writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import PORTRAIT, ROOT

SCRIPT = os.path.join(ROOT, "blender_talkface", "headless.py")


def run_cli(*args, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, SCRIPT, "--", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def assert_one_line_error(done, *fragments):
    assert done.returncode == 2, done.stderr
    lines = [l for l in done.stderr.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("talkface: error:")]
    assert len(errors) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.fixture
def good_audio(tmp_path):
    import numpy as np
    import soundfile as sf

    path = tmp_path / "speech.wav"
    t = np.arange(16000) / 16000.0
    sf.write(path, (0.2 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 16000)
    return str(path)


def test_missing_photo(tmp_path, good_audio):
    out = tmp_path / "out"
    done = run_cli("--photo", str(tmp_path / "missing.png"), "--audio", good_audio, "--out", str(out))
    assert_one_line_error(done, "photo file not found")
    assert not out.exists()


def test_missing_audio(tmp_path):
    out = tmp_path / "out"
    done = run_cli("--photo", PORTRAIT, "--audio", str(tmp_path / "missing.wav"), "--out", str(out))
    assert_one_line_error(done, "audio file not found")
    assert not out.exists()


def test_unreadable_photo(tmp_path, good_audio):
    fake = tmp_path / "photo.jpg"
    fake.write_text("this is not a picture\n")
    out = tmp_path / "out"
    done = run_cli("--photo", str(fake), "--audio", good_audio, "--out", str(out))
    assert_one_line_error(done, "photo.jpg")
    assert not out.exists()


def test_unreadable_audio(tmp_path):
    fake = tmp_path / "speech.wav"
    fake.write_text("this is not audio\n")
    out = tmp_path / "out"
    done = run_cli("--photo", PORTRAIT, "--audio", str(fake), "--out", str(out))
    assert_one_line_error(done, "speech.wav")
    assert not out.exists()


@pytest.mark.parametrize("value", ["0", "-512", "500", "abc", "12.5"])
def test_bad_resolution(tmp_path, good_audio, value):
    out = tmp_path / "out"
    done = run_cli("--photo", PORTRAIT, "--audio", good_audio, "--out", str(out), "--resolution", value)
    assert_one_line_error(done, "resolution")
    assert not out.exists()


def test_unknown_device(tmp_path, good_audio):
    out = tmp_path / "out"
    done = run_cli("--photo", PORTRAIT, "--audio", good_audio, "--out", str(out), "--device", "tpu")
    assert_one_line_error(done, "unknown device 'tpu'")
    assert not out.exists()


def test_unwritable_output_folder(tmp_path, good_audio):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = run_cli("--photo", PORTRAIT, "--audio", good_audio, "--out", str(blocker / "out"))
    assert_one_line_error(done, "output folder cannot be written", "is a file")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            return            # running as a user who writes anywhere (root): the permission case cannot show
        done = run_cli("--photo", PORTRAIT, "--audio", good_audio, "--out", str(locked / "new" / "out"))
        assert_one_line_error(done, "output folder cannot be written", "no write permission")
        assert not (locked / "new").exists()
    finally:
        locked.chmod(0o700)


def test_missing_required_argument(tmp_path):
    done = run_cli("--photo", PORTRAIT)
    assert_one_line_error(done, "required")


def test_cuda_requested_on_machine_without_it(tmp_path, good_audio):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the error path needs one without")
    out = tmp_path / "out"
    done = run_cli("--photo", PORTRAIT, "--audio", good_audio, "--out", str(out), "--device", "cuda")
    assert_one_line_error(done, "CUDA")
    assert not out.exists()


def test_resolution_too_large_for_memory(tmp_path, good_audio):
    out = tmp_path / "out"
    done = run_cli("--photo", PORTRAIT, "--audio", good_audio, "--out", str(out), "--resolution", "131072")
    assert_one_line_error(done, "131072x131072 needs about", "smaller resolution")
    assert not out.exists()


MISSING_WEIGHTS = r"""
import shutil, sys
from pathlib import Path
import talkface.core.weights as weights
# a weights folder with every shipped file but one: the real lookup finds that one missing
folder, left_out = Path(sys.argv[1]), sys.argv[2]
folder.mkdir()
for name in ("face_model.npz", "provenance.json", "animator.safetensors", "generator.safetensors"):
    if name != left_out:
        shutil.copy(weights.DEFAULT_DIR / name, folder / name)
weights.DEFAULT_DIR = folder
from talkface.blender_talkface import headless
sys.exit(headless.main(["headless", "--", *sys.argv[3:]]))
"""


def run_without(weights_file, folder, *args):
    return subprocess.run([sys.executable, "-c", MISSING_WEIGHTS, str(folder), weights_file, *args],
                          capture_output=True, text=True, timeout=600)


def test_stage_without_weights_exits_3_before_any_work(tmp_path, good_audio):
    """Every weights file a requested stage needs is checked before the fit: nothing is written."""
    out = tmp_path / "out"
    done = run_without("animator.safetensors", tmp_path / "weights", "--photo", PORTRAIT,
                       "--audio", good_audio, "--out", str(out), "--keys-only")
    assert done.returncode == 3, done.stderr
    assert "animator.safetensors not found" in done.stderr and "Traceback" not in done.stderr
    assert "fit:" not in done.stderr and not out.exists()


@pytest.fixture(scope="module")
def sample_speech():
    return os.path.join(ROOT, "samples", "speech.wav")


def test_empty_transcript(tmp_path, sample_speech):
    out = tmp_path / "out"
    done = run_cli("--photo", PORTRAIT, "--audio", sample_speech, "--out", str(out), "--transcript", "  ")
    assert_one_line_error(done, "transcript is empty")
    assert not out.exists()


@pytest.mark.parametrize("text, message", [
    # the refusal ends with what Whisper heard (core.audio.recognition.heard_instead)
    ("The quick brown fox jumps over the lazy dog by the river bank on Sunday.",
     ("does not match the audio", 'Whisper heard instead: "Hello, my name is Emma', "--trust-transcript")),
    ("Der schnelle braune Fuchs springt über den faulen Hund am Flussufer.", ("English",)),
])
def test_transcript_that_cannot_be_used(tmp_path, sample_speech, text, message):
    """A text for other audio, or in a language the aligner lacks: exit 2 before any stage."""
    out = tmp_path / "out"
    done = run_cli("--photo", PORTRAIT, "--audio", sample_speech, "--out", str(out), "--keys-only",
                   "--transcript", text)
    assert_one_line_error(done, *message)
    assert not (out / "scene.blend").exists()


def test_list_styles():
    done = run_cli("--list-styles")
    assert done.returncode == 0, done.stderr
    names = done.stdout.split()
    assert {"Neutral", "Calm", "Lively"} <= set(names) and len(names) > 10   # presets, then speakers


@pytest.mark.parametrize("flags, message", [
    (["--style", "Grumpy"], "Unknown style 'Grumpy'"),
    (["--mouth", "2.5"], "--mouth must be between 0 and 2"),
    (["--blinks", "-1"], "--blinks must be between 0 and 2"),
    (["--head", "lots"], "--head must be a number"),
    (["--smoothing", "3"], "--smoothing must be between 0 and 1"),
    (["--phone-mouth", "1.5"], "--phone-mouth must be between 0 and 1"),
    (["--phone-mouth", "half"], "--phone-mouth must be a number"),
    (["--tolerance", "0"], "--tolerance must be between"),
    (["--seed", "1.5"], "--seed must be a whole number"),
    (["--start-frame", "0"], "before the scene's first frame (1)"),
    (["--mode", "fancy"], "unknown mode 'fancy'"),
    (["--listen", "closely"], "unknown listening mode 'closely': use words or phones"),
    (["--trust-transcript"], "--trust-transcript trusts the --transcript: give the line's text with it"),
])
def test_bad_take_options(tmp_path, good_audio, flags, message):
    out = tmp_path / "out"
    done = run_cli("--photo", PORTRAIT, "--audio", good_audio, "--out", str(out), "--keys-only", *flags)
    assert_one_line_error(done, message)
    assert not out.exists()


def test_neural_mode_without_generator_weights_exits_3_before_any_work(tmp_path, good_audio):
    out = tmp_path / "out"
    done = run_without("generator.safetensors", tmp_path / "weights", "--photo", PORTRAIT,
                       "--audio", good_audio, "--out", str(out), "--mode", "neural")
    assert done.returncode == 3, done.stderr
    assert "generator.safetensors not found" in done.stderr and "Traceback" not in done.stderr
    assert not (out / "scene.blend").exists() and "fit:" not in done.stderr


WITHOUT_TORCH = r"""
import importlib.abc, runpy, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, Block())
sys.argv = [sys.argv[1], "--"] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("extra", [[], ["--keys-only"], ["--list-styles"]])
def test_missing_torch_exits_3_with_one_line_and_writes_nothing(tmp_path, good_audio, extra):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, SCRIPT, "--photo", PORTRAIT, "--audio", good_audio,
                           "--out", str(out), *extra], capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == ["talkface: PyTorch is not installed: in Blender, TalkFace's preferences > Install PyTorch; "
                     "in another Python, pip install torch==2.13.0"], done.stderr
    assert not out.exists()
