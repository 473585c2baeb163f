# SPDX-License-Identifier: GPL-3.0-or-later
"""The three stages as operators: fit a face from a photo, animate from audio, bake frames.

Each ``execute`` is synchronous so ``blender -b`` pipelines work; problems become operator
reports through ``runtime.run_reported``.
"""

from __future__ import annotations

import os

import bpy
from bpy_extras.io_utils import ImportHelper

from . import pipeline, preferences
from .runtime import run_reported
from ..core.errors import InputError

PHOTO_GLOB = "*.png;*.jpg;*.jpeg;*.tif;*.tiff;*.bmp;*.webp"
AUDIO_GLOB = "*.wav;*.flac;*.ogg;*.mp3"


def _require_file(path: str, what: str) -> str:
    path = bpy.path.abspath(path)
    if not path:
        raise InputError(f"No {what} file was given")
    if not os.path.isfile(path):
        raise InputError(f"{what.capitalize()} file not found: {path}")
    return path


class TALKFACE_OT_fit_face(bpy.types.Operator, ImportHelper):
    """Fit the TalkFace face model to a portrait photo and build a face with ARKit shape keys"""

    bl_idname = "talkface.fit_face"
    bl_label = "Fit Face from Photo"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: bpy.props.StringProperty(default=PHOTO_GLOB, options={"HIDDEN"})

    def execute(self, context):
        def fit():
            path = _require_file(self.filepath, "photo")
            result = pipeline.fit_face(context, path)
            for note in result.fit.notes:
                self.report({"WARNING"}, note)
            self.report(
                {"INFO"},
                f"Fitted '{result.obj.name}': landmark error {100 * result.fit.error_iod:.1f}% "
                f"of the eye distance",
            )

        return run_reported(self, "Fit Face from Photo", fit)


class TALKFACE_OT_animate_audio(bpy.types.Operator, ImportHelper):
    """Key the fitted face's shape keys and head from a speech recording"""

    bl_idname = "talkface.animate_audio"
    bl_label = "Animate from Audio"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: bpy.props.StringProperty(default=AUDIO_GLOB, options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return context.scene is not None

    def execute(self, context):
        def animate():
            path = _require_file(self.filepath, "audio")
            pipeline.animate(context, pipeline.require_face(context), path)

        return run_reported(self, "Animate from Audio", animate)


class TALKFACE_OT_bake_frames(bpy.types.Operator):
    """Render photoreal frames of the animated face into the Video Sequence Editor"""

    bl_idname = "talkface.bake_frames"
    bl_label = "Bake Photoreal Frames"
    bl_options = {"REGISTER", "UNDO"}

    directory: bpy.props.StringProperty(name="Frames Folder", subtype="DIR_PATH", default="")

    def execute(self, context):
        def bake():
            settings = context.scene.talkface
            pipeline.bake(
                context, pipeline.require_face(context), self.directory or settings.output_dir,
                settings.resolution, settings.bake_mode, preferences.get(context).device,
            )

        return run_reported(self, "Bake Photoreal Frames", bake)


classes = (TALKFACE_OT_fit_face, TALKFACE_OT_animate_audio, TALKFACE_OT_bake_frames)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
