# SPDX-License-Identifier: GPL-3.0-or-later
"""The TalkFace tab in the 3D viewport sidebar (the three stages top to bottom) and the menu
entries where Blender users look: 3D Viewport > Add > Face from Photo, Sequencer > Add >
TalkFace Frames."""

from __future__ import annotations

import bpy

from . import dependencies, face_object, scene_data
from .properties import TAKE_SETTINGS


class TALKFACE_PT_main(bpy.types.Panel):
    bl_label = "TalkFace"
    bl_idname = "TALKFACE_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "TalkFace"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.talkface
        face = face_object.find_face(context)

        torch_missing = dependencies.problem("animate")
        if torch_missing:  # one line and the way out; the buttons below say why they are grey
            row = layout.row()
            row.alert = True
            row.label(text=torch_missing, icon="ERROR")
            row = layout.row(align=True)
            row.operator("talkface.install_torch", icon="IMPORT")
            row.operator("preferences.addon_show", text="", icon="PREFERENCES").module = \
                __package__.rpartition(".")[0] or __package__

        box = layout.box()
        box.label(text="1. Face", icon="USER")
        box.operator("talkface.fit_face", icon="IMAGE_DATA")
        box.label(text=f"Face: {face.name}" if face else "No fitted face yet")
        if face:
            box.operator("talkface.export_neutral", icon="EXPORT")

        box = layout.box()
        box.label(text="2. Animation", icon="SOUND")
        box.prop(settings, "dialog_text", icon="TEXT")
        if scene_data.heard_in_take(face):          # a words-mode take: the text can start from it
            box.operator("talkface.use_heard_words", icon="PASTEDOWN")
        row = box.row()
        row.active = bool(settings.dialog_text.strip())    # trusts the text: nothing without one
        row.prop(settings, "trust_text")
        row = box.row()
        row.active = not settings.dialog_text.strip()       # with the text, the text decides
        row.prop(settings, "listening")
        header, body = box.panel("TALKFACE_take_settings", default_closed=True)
        header.label(text="Take Settings")
        if body is not None:
            body.use_property_split = True
            body.use_property_decorate = False
            for name in TAKE_SETTINGS:
                if name == "listening":                   # shown under Dialog Text
                    continue
                if name == "start_frame":
                    row = body.row()
                    row.active = settings.use_start_frame
                    row.prop(settings, name)
                elif name == "tolerance":
                    row = body.row()
                    row.active = settings.reduce_keys
                    row.prop(settings, name)
                elif name in ("phone_mouth", "heard_phone_mouth"):   # the text's phones, Whisper's, or heard if asked
                    texted = bool(settings.dialog_text.strip())
                    row = body.row()
                    row.active = ((texted or settings.heard_phone_mouth or whisper_words(settings))
                                  if name == "phone_mouth" else not texted)
                    row.prop(settings, name)
                else:
                    body.prop(settings, name)
        box.operator("talkface.animate_audio", icon="ACTION")
        header, body = box.panel("TALKFACE_retarget", default_closed=True)
        header.label(text="Retarget")
        if body is not None:
            body.prop(settings, "retarget_text")
            body.prop(settings, "retarget_file")
            body.prop(settings, "head_bone")
        box.operator("talkface.apply_to_selected", icon="COPYDOWN")
        box.operator("talkface.learn_style", icon="OUTLINER_OB_FORCE_FIELD")
        box.operator("talkface.export_take", icon="EXPORT")

        box = layout.box()
        box.label(text="3. Video", icon="RENDER_ANIMATION")
        box.prop(settings, "bake_mode")
        box.prop(settings, "resolution")
        box.prop(settings, "output_dir")
        op = box.operator("talkface.bake_frames", icon="SEQUENCE")
        op.directory = settings.output_dir


def whisper_words(settings) -> bool:
    """Whether a take animated now would have its words heard by Whisper (Words listening, Whisper
    installed and not turned off by ``TALKFACE_WORD_SOURCE``): only then does Phone Mouth apply
    without a text or *From Heard Phones*."""
    from ..core.audio import whisper

    return settings.listening == "WORDS" and whisper.hears_words(whisper.chosen_source())


def draw_add_face(self, context):
    self.layout.separator()
    self.layout.operator("talkface.fit_face", text="Face from Photo", icon="USER")


def draw_add_frames(self, context):
    self.layout.separator()
    self.layout.operator("talkface.bake_frames", text="TalkFace Frames", icon="SEQUENCE")


#: (menu, draw function): Blender's own Add menus.
MENUS = (("VIEW3D_MT_add", draw_add_face), ("SEQUENCER_MT_add", draw_add_frames))


def register():
    bpy.utils.register_class(TALKFACE_PT_main)
    for menu, draw in MENUS:
        getattr(bpy.types, menu).append(draw)


def unregister():
    for menu, draw in MENUS:
        getattr(bpy.types, menu).remove(draw)
    bpy.utils.unregister_class(TALKFACE_PT_main)
