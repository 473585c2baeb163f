# SPDX-License-Identifier: GPL-3.0-or-later
"""Baking photoreal frames from the scene: read the face state per frame, synthesise, write
PNGs, put them in the Video Sequence Editor with the sound, set the video output.

A bake is a sequence of small steps so the UI can run it modally (progress bar, Esc) and a
headless run can loop over it. Frames go to a hidden staging folder and are moved into place
only when every frame is written: a cancelled or failed bake leaves no strip and no frames.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile

import bpy
import numpy as np

from ..core.errors import InputError, TalkFaceError
from ..core.face.image_io import load_photo
from ..core.face.model import ARKIT_NAMES, load_face_model
from . import face_object, keyframes, scene_data, sequencer

FRAME_PATTERN = "frame_{:06d}.png"
STRIP_FRAMES = "TalkFace Frames"


def default_frames_dir(context, face_obj, prefs) -> str:
    if bpy.data.filepath:
        return bpy.path.abspath(f"//talkface_frames/{bpy.path.clean_name(face_obj.name)}")
    if prefs.output_dir:
        return os.path.join(bpy.path.abspath(prefs.output_dir), bpy.path.clean_name(face_obj.name))
    raise InputError("Save the .blend first or choose a frames folder: there is nowhere to put the frames")


def _write_png(path: str, rgb: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(rgb).save(path, compress_level=1)


STAGING_PREFIX = ".talkface-partial-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(folder: str) -> list[str]:
    """Remove staging folders that a killed bake (SIGKILL, power loss) left in ``folder``: those
    whose process is gone (the pid is in the name), and unnamed ones from older versions."""
    removed = []
    for name in os.listdir(folder):
        if not name.startswith(STAGING_PREFIX):
            continue
        pid = name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and _alive(int(pid)) and int(pid) != os.getpid():
            continue                       # another bake into this folder is running now
        shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
        removed.append(name)
    return removed


class Bake:
    """One bake of ``face_obj`` over the scene's frame range."""

    def __init__(self, context, face_obj, out_dir: str, resolution: int, mode: str, device: str,
                 weights_dir: str | None = None, batch: int = 8, log=None):
        # torch and the networks load only when a bake starts, never at registration
        from ..core.device import resolve_device
        from ..core.video.generator import load_generator, load_mouth_generator
        from ..core.video.synthesis import FaceState, FrameSynthesizer, choose_mode

        self.scene = context.scene
        self.face = face_obj
        self.log = log or (lambda message: None)
        fit = face_object.load_fit(face_obj)
        photo_path = scene_data.photo_path(face_obj)
        if not os.path.isfile(photo_path):
            raise InputError(
                f"The photo this face was fitted to is missing: {photo_path} "
                "(put it back or fit the face again)"
            )
        photo = load_photo(photo_path)
        if getattr(fit, "photo_sha256", None) and photo.sha256 != fit.photo_sha256:
            raise InputError(f"The photo {photo_path} changed since the face was fitted: fit it again")
        self.device = resolve_device(device)
        self.mode, generator, note = choose_mode(mode, lambda: load_generator(weights_dir, self.device))
        if note:
            self.log(note)
        mouth = load_mouth_generator(weights_dir, self.device) if generator is not None else None
        self.synth = FrameSynthesizer(load_face_model(), fit, photo.rgb, resolution, self.device,
                                      generator=generator, half=True, batch=batch, mouth_generator=mouth)

        self.out_dir = os.path.abspath(bpy.path.abspath(out_dir))
        try:
            os.makedirs(self.out_dir, exist_ok=True)
            remove_stale_staging(self.out_dir)
            self.staging = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=self.out_dir)
        except OSError as exc:
            raise InputError(f"Frames folder cannot be written: {self.out_dir} ({exc.strerror})") from None

        scene = self.scene
        self.frames = np.arange(scene.frame_start, scene.frame_end + 1)
        head = scene_data.head_object(face_obj)
        weights, pose = keyframes.read_state(scene, face_obj, head, ARKIT_NAMES, self.frames)
        if head is None:
            pose[:] = fit.pose
        self.state = FaceState(weights, pose)
        self.batch = batch
        self.done = 0
        self._batches = None

    @property
    def total(self) -> int:
        return len(self.frames)

    def step(self) -> bool:
        """Render and write one batch; True when every frame is written."""
        from ..core.video.synthesis import render_batches

        if self._batches is None:
            self._batches = render_batches(self.synth, self.state, self.batch, on_fallback=self.log)
        try:
            start, frames = next(self._batches)
        except StopIteration:
            return True
        try:
            for i, rgb in enumerate(frames):
                _write_png(os.path.join(self.staging, FRAME_PATTERN.format(int(self.frames[start + i]))), rgb)
        except OSError as exc:
            self.cancel()
            if exc.errno == errno.ENOSPC:
                raise InputError(f"The disk is full: no room for frames in {self.out_dir}") from None
            raise InputError(f"Cannot write frames to {self.out_dir}: {exc.strerror}") from None
        self.done = start + len(frames)
        return self.done >= self.total

    def finish(self) -> list[str]:
        """Move frames into place and add the image and sound strips; returns the frame paths."""
        names = sorted(os.listdir(self.staging))
        if len(names) != self.total:
            self.cancel()
            raise TalkFaceError(f"Bake incomplete: {len(names)} of {self.total} frames written")
        for old in os.listdir(self.out_dir):  # frames of an earlier bake would mix with these
            if old.startswith("frame_") and old.endswith(".png"):
                os.remove(os.path.join(self.out_dir, old))
        paths = []
        for name in names:
            target = os.path.join(self.out_dir, name)
            os.replace(os.path.join(self.staging, name), target)
            paths.append(target)
        shutil.rmtree(self.staging, ignore_errors=True)
        scene = self.scene
        sequencer.remove_strips(scene, {STRIP_FRAMES})
        sequencer.add_image_strip(scene, paths, int(self.frames[0]), name=STRIP_FRAMES)
        audio = self._audio_path()
        take = scene_data.current_take(self.face)
        if audio and take is not None:
            start = scene_data.take_start_frame(take, scene.frame_start)
            sequencer.take_sound(scene, take, audio, start, int(self.frames[-1]) + 1)
        width, height = self.synth.size
        scene.render.resolution_x, scene.render.resolution_y = width, height
        scene.render.resolution_percentage = 100
        sequencer.configure_video_output(scene, os.path.join(os.path.dirname(self.out_dir.rstrip(os.sep)),
                                                             "video.mp4"))
        return paths

    def cancel(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

    def _audio_path(self) -> str | None:
        path = scene_data.take_audio(scene_data.current_take(self.face)) or self.scene.talkface.audio_path
        return path if path and os.path.isfile(path) else None
