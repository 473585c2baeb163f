# SPDX-License-Identifier: GPL-3.0-or-later
"""The three stages as operators: fit a face from a photo, animate from audio, bake frames.

Each ``execute`` is synchronous so ``blender -b`` pipelines work (in a window, the file
browser's Animate from Audio and the Bake run modal, Esc stopping them); problems become
operator reports through ``runtime.run_reported``.
"""

from __future__ import annotations

import functools
import os

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..core.errors import InputError
from ..core.face.model import load_face_model
from . import dependencies, face_object, pipeline, preferences, scene_data
from .properties import TAKE_SETTINGS, take_properties
from .runtime import Background, begin_modal, end_modal, poll_reasons, run_reported, status_progress

# Imported where used, so the add-on enables without its heavy dependencies: keyframes and bake
# (scipy, through core.animation), the mesh export (trimesh), the animator's style list (torch).

PHOTO_GLOB = "*.png;*.jpg;*.jpeg;*.tif;*.tiff;*.bmp;*.webp"
AUDIO_GLOB = "*.wav;*.flac;*.ogg;*.mp3"


def _face_problem(context) -> str | None:
    """Why there is no face to work on, for a greyed-out button (None: there is one)."""
    if face_object.find_face(context) is not None:
        return None
    if any(scene_data.is_face(o) for o in context.scene.objects):
        return "Several fitted faces: select the one to use"
    return "Fit a face first (Fit Face from Photo)"


def _has_take(obj) -> bool:
    return scene_data.current_take(obj) is not None



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

    @classmethod
    def poll(cls, context):
        return poll_reasons(cls, context.mode != "OBJECT" and "Switch to Object Mode first",
                     lambda: dependencies.problem("fit"))

    def execute(self, context):
        def fit():
            path = _require_file(self.filepath, "photo")
            with status_progress(context) as progress:
                result = pipeline.fit_face(context, path, progress=progress)
            for note in result.fit.notes:
                self.report({"WARNING"}, note)
            self.report(
                {"INFO"},
                f"Fitted '{result.obj.name}': landmark error {100 * result.fit.error_iod:.1f}% "
                f"of the eye distance",
            )

        return run_reported(self, "Fit Face from Photo", fit)


class FormatExport(ExportHelper):
    """An export whose ``file_format`` enum names the extension: the file browser follows it."""

    def check(self, context):
        self.filename_ext = "." + self.file_format.lower()
        return super().check(context)

    def target_path(self) -> str:
        return bpy.path.ensure_ext(bpy.path.abspath(self.filepath), "." + self.file_format.lower())


class TALKFACE_OT_export_neutral(bpy.types.Operator, FormatExport):
    """Export the fitted face's neutral mesh (no expression, no pose) as OBJ or glTF binary"""

    bl_idname = "talkface.export_neutral"
    bl_label = "Export Fitted Neutral"
    bl_options = {"REGISTER"}

    filename_ext = ".glb"
    filter_glob: bpy.props.StringProperty(default="*.glb;*.obj", options={"HIDDEN"})
    file_format: bpy.props.EnumProperty(
        name="Format", items=(("GLB", "glTF Binary (.glb)", "One binary glTF file, Y up"),
                              ("OBJ", "Wavefront (.obj)", "Plain-text Wavefront mesh")),
        default="GLB", description="File format of the exported mesh",
    )

    @classmethod
    def poll(cls, context):
        return poll_reasons(cls, lambda: dependencies.problem("export"), lambda: _face_problem(context))

    def execute(self, context):
        def export():
            from ..core.face.mesh_export import export_neutral  # trimesh

            face = pipeline.require_face(context)
            path = self.target_path()
            export_neutral(path, load_face_model(), face_object.load_fit(face).identity)
            self.report({"INFO"}, f"Exported {path}")

        return run_reported(self, "Export Fitted Neutral", export)


HEARING = "A take is being heard (Esc stops it)"
STOPPING = "The take you stopped is still winding down (the chunk being heard finishes first)"


def _hearing_problem() -> str | None:
    """Why Animate from Audio waits: one take at a time, including one that is stopping."""
    if not Background.running:
        return None
    return STOPPING if all(job.cancelled for job in Background.running) else HEARING


class TALKFACE_OT_animate_audio(bpy.types.Operator, ImportHelper):
    """Key the fitted face's shape keys and head from a speech recording (a new Action per take)"""

    bl_idname = "talkface.animate_audio"
    bl_label = "Animate from Audio"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: bpy.props.StringProperty(default=AUDIO_GLOB, options={"HIDDEN"})
    __annotations__.update(take_properties())   # each defaults to the scene's take setting unless passed

    _job = _timer = None

    @classmethod
    def poll(cls, context):
        return poll_reasons(cls, lambda: dependencies.problem("animate"), lambda: _face_problem(context),
                            _hearing_problem)

    def invoke(self, context, event):
        """The file browser; its confirm runs ``execute``, which hears the take on a worker thread
        (the window stays drawn, the status bar counts, Esc stops it) where Blender has a window."""
        self._from_scene(context)
        self._interactive = not bpy.app.background
        return super().invoke(context, event)

    def _from_scene(self, context):
        """The scene's take settings for every property the caller did not pass."""
        settings = context.scene.talkface
        for name in TAKE_SETTINGS:
            if not self.properties.is_property_set(name):
                setattr(self, name, getattr(settings, name))

    def _options(self, context) -> pipeline.AnimateOptions:
        return pipeline.AnimateOptions(
            style=self.style or "Neutral", mouth=self.mouth, brows=self.brows, head=self.head,
            blinks=self.blinks, smoothing=self.smoothing, reduce_keys=self.reduce_keys,
            tolerance=self.tolerance,
            start_frame=self.start_frame if self.use_start_frame else None,
            transcript=context.scene.talkface.dialog_text, trust_text=context.scene.talkface.trust_text,
            listening=self.listening.lower(),
            phone_mouth=self.phone_mouth, heard_phone_mouth=self.heard_phone_mouth,
        )

    def execute(self, context):
        """Synchronous (scripts, ``blender -b``), unless started from the file browser in a window."""
        interactive, self._interactive = getattr(self, "_interactive", False), False   # a redo runs here
        if interactive and context.window is not None:
            return self._start(context)

        def animate():
            path = _require_file(self.filepath, "audio")
            self._from_scene(context)
            with status_progress(context) as progress:
                result = pipeline.animate(
                    context, pipeline.require_face(context), path, self._options(context),
                    weights_dir=preferences.get(context).weights_dir or None, progress=progress,
                )
            self._report_take(result)

        return run_reported(self, "Animate from Audio", animate)

    def _start(self, context):
        """Hear the take on a worker thread (``pipeline.hear_take``, which touches no Blender data);
        ``modal`` writes it when the thread is done."""

        def start():
            path = _require_file(self.filepath, "audio")
            self._from_scene(context)
            options = self._options(context)
            face = pipeline.require_face(context)
            style = pipeline.take_style(face, options)
            weights = preferences.get(context).weights_dir or None
            self._face, self._path, self._take_options = face.name, path, options
            self._job = Background(functools.partial(_hear, path, style, options, weights))
            return begin_modal(self, context, pipeline.ANIMATE_STEPS, 0.1,
                               f"TalkFace: hearing {os.path.basename(path)}")

        return run_reported(self, "Animate from Audio", start)

    def modal(self, context, event):
        if event.type == "ESC":
            end_modal(self, context)
            self._job.cancel()
            self.report({"WARNING"}, "Animate from Audio cancelled: nothing was changed")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"RUNNING_MODAL"}      # the scene stays as it was until the take is written
        if not self._job.done:
            context.window_manager.progress_update(self._job.progress[0])
            return {"RUNNING_MODAL"}
        end_modal(self, context)

        def write():
            heard = self._job.result()
            face = bpy.data.objects.get(self._face)
            if face is None:
                raise InputError(f"The face '{self._face}' is gone: nothing was keyed")
            self._report_take(pipeline.write_take(context, face, self._path, self._take_options, heard))

        return run_reported(self, "Animate from Audio", write)

    def _report_take(self, result) -> None:
        if result.missing_channels:
            self.report({"WARNING"}, "The face lacks shape keys: " + ", ".join(result.missing_channels))
        if result.flat_channels:
            self.report({"INFO"}, pipeline.flat_summary(result.flat_channels))
        for note in result.notes:
            self.report({"WARNING"}, note)
        if result.lipsync == "word recogniser":
            self.report({"INFO"}, pipeline.heard_summary(result.heard))
        self.report(
            {"INFO"},
            f"Keyed '{result.action.name}': {result.duration:.1f}s of speech, "
            f"{result.n_keys} keys (of {result.n_dense} dense); lips timed by the {result.timed_by}",
        )


def _hear(path, style, options, weights_dir, cancelled, progress):
    """``pipeline.hear_take`` on ``Background``'s thread: its progress (listening and the words
    mode's chunks included) is only stored there, for the operator's timer to show."""
    return pipeline.hear_take(path, style, options, weights_dir, progress=progress, cancelled=cancelled,
                              words_progress=pipeline.words_as_steps(progress))


NO_HEARD_WORDS = "The face's take has no heard words: animate with Listening 'Words' first"
DIALOG_TEXT_THERE = "Dialog Text already holds text: clear it to start from the heard words"


class TALKFACE_OT_use_heard_words(bpy.types.Operator):
    """Start Dialog Text from the words the word recogniser heard in the face's take: correct them,
    then animate again for lips timed by the exact words"""

    bl_idname = "talkface.use_heard_words"
    bl_label = "Use Heard Words"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return poll_reasons(cls, lambda: _face_problem(context),
                            lambda: not scene_data.heard_in_take(face_object.find_face(context)) and NO_HEARD_WORDS,
                            lambda: context.scene.talkface.dialog_text.strip() and DIALOG_TEXT_THERE)

    def execute(self, context):
        def use():
            settings = context.scene.talkface
            if settings.dialog_text.strip():     # never overwrite what the animator typed
                raise InputError(DIALOG_TEXT_THERE)
            heard = scene_data.heard_in_take(face_object.find_face(context))
            if not heard:
                raise InputError(NO_HEARD_WORDS)
            settings.dialog_text = heard
            self.report({"INFO"}, f"Dialog Text holds the {len(heard.split())} heard words: correct them and "
                                  "animate again")
            too_long = pipeline.too_long_to_align(scene_data.take_audio(scene_data.current_take(
                face_object.find_face(context))))
            if too_long:
                self.report({"WARNING"}, too_long)

        return run_reported(self, "Use Heard Words", use)


class TALKFACE_OT_apply_to_selected(bpy.types.Operator):
    """Copy the TalkFace face's take onto the selected characters: shape keys by name (ARKit,
    CC3+/CC4, _L/_R, Faceit, or your mapping table), head motion onto a selected Empty or an
    armature's head bone"""

    bl_idname = "talkface.apply_to_selected"
    bl_label = "Apply Take to Selected"
    bl_options = {"REGISTER", "UNDO"}

    tolerance: bpy.props.FloatProperty(
        name="Tolerance", default=0.01, min=0.0, max=0.2,
        description="Key reduction tolerance of the copied curves, in shape-key weight (0: every key)",
    )

    @staticmethod
    def _source_and_targets(context):
        faces = [o for o in context.selected_objects if scene_data.is_face(o) and _has_take(o)]
        active = context.active_object
        source = active if active in faces else (faces[0] if len(faces) == 1 else None)
        targets = [o for o in context.selected_objects if o is not source and not scene_data.is_face(o)
                   and ((o.type == "MESH" and o.data.shape_keys is not None) or o.type in ("EMPTY", "ARMATURE"))]
        return source, targets

    @classmethod
    def poll(cls, context):
        source, targets = cls._source_and_targets(context)
        return poll_reasons(cls, source is None and "Select the animated TalkFace face (it has a take)",
                            not targets and "Also select the character: meshes with shape keys, its head "
                                            "Empty or its armature")

    def execute(self, context):
        def apply():
            from . import retarget

            source, targets = self._source_and_targets(context)
            if source is None:
                raise InputError("Select the animated TalkFace face as well as the character")
            report = retarget.apply_take(context, source, targets, self.tolerance, context.scene.talkface.head_bone)
            for line in report.warnings:
                self.report({"WARNING"}, line)
            self.report({"INFO"}, f"Applied '{report.take}': " + "; ".join(report.lines))

        return run_reported(self, "Apply Take to Selected", apply)


class TALKFACE_OT_learn_style(bpy.types.Operator):
    """Learn a speaking style from the face's current take (e.g. after hand edits) for new audio"""

    bl_idname = "talkface.learn_style"
    bl_label = "Learn Style from Take"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return poll_reasons(cls, lambda: dependencies.problem("animate"), lambda: _face_problem(context),
                     lambda: not _has_take(face_object.find_face(context)) and "Animate the face first")

    def execute(self, context):
        def learn():
            face = pipeline.require_face(context)
            frames = pipeline.learn_style(context, face, preferences.get(context).weights_dir or None)
            self.report({"INFO"}, f"Learned a style from {frames} frames of '{face.name}': "
                                  "choose 'Learned from Take' when animating")

        return run_reported(self, "Learn Style from Take", learn)


class TALKFACE_OT_bake_frames(bpy.types.Operator):
    """Render photoreal frames of the animated face into the Video Sequence Editor (Esc cancels)"""

    bl_idname = "talkface.bake_frames"
    bl_label = "Bake Photoreal Frames"
    bl_options = {"REGISTER", "UNDO"}

    directory: bpy.props.StringProperty(
        name="Frames Folder", subtype="DIR_PATH", default="",
        description="Folder for the baked frames; empty: the scene's Frames Folder, else beside the .blend",
    )

    _bake = None
    _timer = None

    @classmethod
    def poll(cls, context):
        return poll_reasons(cls, lambda: dependencies.problem("bake"), lambda: _face_problem(context))

    def _settings(self, context):
        settings = context.scene.talkface
        prefs = preferences.get(context)
        face = pipeline.require_face(context)
        folder = self.directory or settings.output_dir
        if not folder:
            from .bake import default_frames_dir

            folder = default_frames_dir(context, face, prefs)
        return face, folder, settings.resolution, settings.bake_mode, prefs

    def execute(self, context):
        def bake():
            face, folder, resolution, mode, prefs = self._settings(context)
            paths = pipeline.bake(context, face, folder, resolution, mode, prefs.device,
                                  prefs.weights_dir or None, log=lambda m: self.report({"WARNING"}, m))
            self.report({"INFO"}, f"Baked {len(paths)} frames into {os.path.dirname(paths[0])}")

        return run_reported(self, "Bake Photoreal Frames", bake)

    def invoke(self, context, event):
        if bpy.app.background:  # no event loop: bake synchronously
            return self.execute(context)

        def start():
            from .bake import Bake

            face, folder, resolution, mode, prefs = self._settings(context)
            self._bake = Bake(context, face, folder, resolution, mode, prefs.device,
                              prefs.weights_dir or None, log=lambda m: self.report({"WARNING"}, m))
            return begin_modal(self, context, self._bake.total, 0.01,
                               f"TalkFace: baking {self._bake.total} frames")

        return run_reported(self, "Bake Photoreal Frames", start)

    def modal(self, context, event):
        if event.type == "ESC":
            self._end(context)
            self._bake.cancel()
            self.report({"WARNING"}, "Bake cancelled: no frames were kept")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"RUNNING_MODAL"}

        def step():
            if not self._bake.step():
                context.window_manager.progress_update(self._bake.done)
                return {"RUNNING_MODAL"}
            self._end(context)
            paths = self._bake.finish()
            self.report({"INFO"}, f"Baked {len(paths)} frames")
            return {"FINISHED"}

        result = run_reported(self, "Bake Photoreal Frames", step)
        if result == {"CANCELLED"}:
            self._end(context)
            self._bake.cancel()
        return result

    def _end(self, context):
        end_modal(self, context)


class TALKFACE_OT_export_take(bpy.types.Operator, FormatExport):
    """Write the face's take (hand edits included) as per-frame ARKit weights and head rotation:
    a CSV in Live Link Face's column layout, or JSON"""

    bl_idname = "talkface.export_take"
    bl_label = "Export Take"
    bl_options = {"REGISTER"}

    filename_ext = ".csv"
    filter_glob: bpy.props.StringProperty(default="*.csv;*.json", options={"HIDDEN"})
    file_format: bpy.props.EnumProperty(
        name="Format", default="CSV", description="File layout of the exported take",
        items=(("CSV", "Live Link Face CSV (.csv)", "52 ARKit weights and head yaw/pitch/roll per frame, in the "
                                                    "column layout facial-capture tools exchange"),
               ("JSON", "TalkFace JSON (.json)", "fps, start frame, channel names and per-frame values")),
    )

    @classmethod
    def poll(cls, context):
        return poll_reasons(cls, lambda: _face_problem(context),
                            lambda: not _has_take(face_object.find_face(context)) and "Animate the face first")

    def execute(self, context):
        def export():
            path = self.target_path()
            pipeline.export_take(context, pipeline.require_face(context), path, self.file_format)
            self.report({"INFO"}, f"Exported the take to {path}")

        return run_reported(self, "Export Take", export)


classes = (
    TALKFACE_OT_fit_face,
    TALKFACE_OT_export_neutral,
    TALKFACE_OT_animate_audio,
    TALKFACE_OT_use_heard_words,
    TALKFACE_OT_apply_to_selected,
    TALKFACE_OT_learn_style,
    TALKFACE_OT_export_take,
    TALKFACE_OT_bake_frames,
)


@bpy.app.handlers.persistent
def _stop_jobs(*_):
    """Another file is loading: a take being heard has no operator left to write it."""
    Background.cancel_all()


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.app.handlers.load_pre.append(_stop_jobs)


def unregister():
    if _stop_jobs in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_stop_jobs)
    _stop_jobs()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
