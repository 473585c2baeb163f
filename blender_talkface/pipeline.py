# SPDX-License-Identifier: GPL-3.0-or-later
"""The stages as plain functions on a Blender context, shared by operators and headless runs.

Operators add reports and file browsers; the headless command adds progress lines and exit
codes. Both call these, so a pipeline run and a user's clicks do the same thing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import face_object
from ..core.errors import InputError, StageUnavailableError


@dataclass
class FitResult:
    obj: object
    fit: object


def fit_face(context, photo_path: str) -> FitResult:
    """Photo -> landmarks -> FaceFit -> face mesh, head Empty and camera in the scene."""
    from ..core.face_model import load_face_model
    from ..core.fitting import fit_photo
    from ..core.image_io import load_photo
    from ..core.landmarks import detect_landmarks

    if not os.path.isfile(photo_path):
        raise InputError(f"Photo file not found: {photo_path}")
    photo = load_photo(photo_path)
    model = load_face_model()
    fit = fit_photo(photo, detect_landmarks(photo), model)
    obj = face_object.create_face(context, fit, model, photo_path)
    context.scene.talkface.photo_path = photo_path
    return FitResult(obj, fit)


def animate(context, face_obj, audio_path: str, **options):
    """Audio -> features -> Animation -> a new Action on the face and its head control."""
    raise StageUnavailableError(
        "Animate from Audio is not available in this build: the audio-to-animation network "
        "has not been trained and shipped yet"
    )


def bake(context, face_obj, out_dir: str, resolution: int, mode: str, device: str, progress=None):
    """Scene animation -> dense flow -> frames on disk -> image strip in the sequencer."""
    raise StageUnavailableError(
        "Bake Photoreal Frames is not available in this build: the flow-guided generator "
        "has not been shipped yet"
    )


def require_face(context):
    obj = face_object.find_face(context)
    if obj is None:
        raise InputError("No fitted face in the scene: run 'Fit Face from Photo' first")
    return obj


def set_scene_fps(scene, fps: float) -> None:
    """Store any fps exactly as Blender does: an integer rate over a base (29.97 = 30/1.001)."""
    if fps <= 0:
        raise InputError(f"Frame rate must be positive, got {fps}")
    rounded = round(fps)
    if abs(fps - rounded) < 1e-6:
        scene.render.fps, scene.render.fps_base = int(rounded), 1.0
    else:
        ntsc = round(fps * 1.001)
        if abs(ntsc / 1.001 - fps) < 1e-3:
            scene.render.fps, scene.render.fps_base = int(ntsc), 1.001
        else:
            scene.render.fps, scene.render.fps_base = int(rounded), rounded / fps


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base
