"""'Bake Photoreal Frames' in warp-only mode: frames follow the scene, strips appear, and every
failure leaves nothing behind."""

from __future__ import annotations

import errno
import importlib
import os
import shutil
import subprocess

import numpy as np
import pytest
from conftest import PORTRAIT

PKG = "bl_ext.user_default.talkface"


@pytest.fixture
def animated(scene, blender, tmp_path):
    """A fitted face (from a copy of the photo) with a short jaw animation keyed on it."""
    photo = tmp_path / "portrait.png"
    shutil.copy(PORTRAIT, photo)
    assert blender.ops.talkface.fit_face(filepath=str(photo)) == {"FINISHED"}
    face = blender.context.active_object
    kf = importlib.import_module(f"{PKG}.blender_talkface.keyframes")
    animation = importlib.import_module(f"{PKG}.core.animation")
    n = 6
    values = np.zeros((n, 2), np.float32)
    values[:, 0] = np.linspace(0.0, 0.8, n)  # jaw opens over the clip
    kf.write_take(animation.Animation(25.0, ("jawOpen", "mouthSmileLeft"), values), name="jaw",
                  start_frame=1, scene_fps=25.0, face_obj=face, tolerance=0.0)
    scene.frame_start, scene.frame_end = 1, n
    scene.talkface.bake_mode = "WARP"
    scene.talkface.resolution = 128
    return face, photo


def strips(scene):
    editor = scene.sequence_editor
    return [] if editor is None else list(editor.strips)


def test_bake_writes_frames_and_strips(animated, blender, tmp_path):
    scene = blender.context.scene
    out = tmp_path / "frames"
    assert blender.ops.talkface.bake_frames(directory=str(out)) == {"FINISHED"}
    files = sorted(os.listdir(out))
    assert files == [f"frame_{i:06d}.png" for i in range(1, 7)]
    from PIL import Image

    first = np.asarray(Image.open(out / files[0]), np.float32)
    last = np.asarray(Image.open(out / files[-1]), np.float32)
    assert first.shape == (128, 128, 3)
    diff = np.abs(last - first).mean(axis=2)
    # the jaw opening changes the lower face, while the top rows (background) stay put
    assert diff[25:55, 38:75].mean() > 2.0
    assert diff[:10].mean() < 0.5
    image_strips = [s for s in strips(scene) if s.type == "IMAGE"]
    assert len(image_strips) == 1 and len(image_strips[0].elements) == 6
    assert scene.render.image_settings.file_format == "FFMPEG"
    assert scene.render.ffmpeg.codec == "H264" and scene.render.ffmpeg.audio_codec == "AAC"


def test_bake_reads_hand_edits(animated, blender, tmp_path):
    face, _ = animated
    kf = importlib.import_module(f"{PKG}.blender_talkface.keyframes")
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    assert blender.ops.talkface.bake_frames(directory=str(out_a)) == {"FINISHED"}
    curve = kf.shape_key_curves(face.data.shape_keys)["mouthSmileLeft"]
    curve.keyframe_points[2].co.y = 1.0  # the animator adds a smile on frame 3
    curve.update()
    assert blender.ops.talkface.bake_frames(directory=str(out_b)) == {"FINISHED"}
    from PIL import Image

    a = np.asarray(Image.open(out_a / "frame_000003.png"), np.float32)
    b = np.asarray(Image.open(out_b / "frame_000003.png"), np.float32)
    face_box = (slice(25, 55), slice(38, 75))  # where the face is at 128 px
    assert np.abs(a - b)[face_box].mean() > 1.0
    a1 = np.asarray(Image.open(out_a / "frame_000001.png"), np.float32)
    b1 = np.asarray(Image.open(out_b / "frame_000001.png"), np.float32)
    assert np.abs(a1 - b1).mean() < 0.05


def test_bake_before_fit(scene, blender, tmp_path):
    with pytest.raises(RuntimeError, match="Fit a face first"):
        blender.ops.talkface.bake_frames(directory=str(tmp_path / "f"))
    assert not (tmp_path / "f").exists()


def test_photo_moved(animated, blender, tmp_path):
    _, photo = animated
    os.rename(photo, tmp_path / "elsewhere.png")
    with pytest.raises(RuntimeError, match="photo this face was fitted to is missing"):
        blender.ops.talkface.bake_frames(directory=str(tmp_path / "f"))
    assert not (tmp_path / "f").exists()
    assert strips(blender.context.scene) == []


def test_output_folder_not_writable(animated, blender, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RuntimeError, match="cannot be written"):
        blender.ops.talkface.bake_frames(directory=str(blocker / "frames"))


@pytest.mark.parametrize("resolution", [100, 130])
def test_resolution_not_multiple_of_8(animated, blender, tmp_path, resolution):
    blender.context.scene.talkface.resolution = resolution
    with pytest.raises(RuntimeError, match="multiple of 8"):
        blender.ops.talkface.bake_frames(directory=str(tmp_path / "f"))
    assert not (tmp_path / "f").exists()


def test_cuda_requested_without_gpu(animated, blender, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the error path needs one without")
    prefs = blender.context.preferences.addons[PKG].preferences
    prefs.device = "CUDA"
    try:
        with pytest.raises(RuntimeError, match="CUDA"):
            blender.ops.talkface.bake_frames(directory=str(tmp_path / "f"))
    finally:
        prefs.device = "AUTO"
    assert strips(blender.context.scene) == []


def _small_filesystem(path):
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def test_disk_full_leaves_nothing(animated, blender, tmp_path, monkeypatch):
    full = tmp_path / "full"
    mounted = _small_filesystem(full)
    if not mounted:  # no permission to mount: a write hook that fails like a full disk
        bake = importlib.import_module(f"{PKG}.blender_talkface.bake")
        calls = {"n": 0}
        real = bake._write_png

        def write_then_fail(path, rgb):
            calls["n"] += 1
            if calls["n"] > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            real(path, rgb)

        monkeypatch.setattr(bake, "_write_png", write_then_fail)
    try:
        with pytest.raises(RuntimeError, match="disk is full"):
            blender.ops.talkface.bake_frames(directory=str(full / "frames"))
        assert os.listdir(full / "frames") == []
        assert strips(blender.context.scene) == []
    finally:
        if mounted:
            subprocess.run(["umount", str(full)], check=True)


def test_cancelled_bake_leaves_scene_as_it_was(animated, blender, tmp_path):
    bake = importlib.import_module(f"{PKG}.blender_talkface.bake")
    face, _ = animated
    out = tmp_path / "frames"
    baker = bake.Bake(blender.context, face, str(out), 128, "WARP", "cpu", batch=2)
    assert baker.step() is False  # two of six frames written to the staging folder
    baker.cancel()
    assert os.listdir(out) == []
    assert strips(blender.context.scene) == []


def test_bake_reports_progress_as_done_and_total(animated, blender, tmp_path):
    pipeline = importlib.import_module(f"{PKG}.blender_talkface.pipeline")
    face, _ = animated
    calls = []
    paths = pipeline.bake(blender.context, face, str(tmp_path / "frames"), 128, "WARP", "cpu",
                          progress=lambda done, total: calls.append((done, total)), batch=2)
    assert len(paths) == 6
    assert calls == [(2, 6), (4, 6), (6, 6)]  # after each batch, and once at the end


def test_bake_progress_lines_are_throttled(animated, blender, tmp_path):
    """The headless command's printer passed straight to the bake: one line per interval, plus
    the last, never one per batch."""
    import io

    pipeline = importlib.import_module(f"{PKG}.blender_talkface.pipeline")
    progress = importlib.import_module(f"{PKG}.core.progress")
    face, _ = animated
    out = io.StringIO()
    pipeline.bake(blender.context, face, str(tmp_path / "frames"), 128, "WARP", "cpu",
                  progress=progress.Progress("bake", 6, stream=out, interval=3600), batch=1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines  # six batches: the first line and the last
    assert lines[0].startswith("[talkface] bake:") and "(1/6 frames" in lines[0]
    assert "100.0% (6/6 frames" in lines[-1]


def test_auto_mode_without_generator_weights_bakes_warp_only(animated, blender, tmp_path):
    bake = importlib.import_module(f"{PKG}.blender_talkface.bake")
    errors = importlib.import_module(f"{PKG}.core.errors")
    face, _ = animated
    empty = tmp_path / "no-weights"
    empty.mkdir()
    notes = []
    baker = bake.Bake(blender.context, face, str(tmp_path / "a"), 128, "AUTO", "cpu",
                      weights_dir=str(empty), log=notes.append)
    assert baker.mode == "WARP" and baker.synth.generator is None
    assert any("warp-only" in n for n in notes)
    baker.cancel()
    with pytest.raises(errors.MissingWeightsError, match="generator.safetensors"):
        bake.Bake(blender.context, face, str(tmp_path / "b"), 128, "NEURAL", "cpu", weights_dir=str(empty))
