# SPDX-License-Identifier: GPL-3.0-or-later
"""The TalkFace tab in the 3D viewport sidebar: the three stages top to bottom."""

from __future__ import annotations

import bpy

from . import face_object


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

        box = layout.box()
        box.label(text="1. Face", icon="USER")
        box.operator("talkface.fit_face", icon="IMAGE_DATA")
        box.label(text=f"Face: {face.name}" if face else "No fitted face yet")
        if face:
            box.operator("talkface.export_neutral", icon="EXPORT")

        box = layout.box()
        box.label(text="2. Animation", icon="SOUND")
        box.enabled = face is not None
        box.prop(settings, "dialog_text", icon="TEXT")
        box.operator("talkface.animate_audio", icon="ACTION")
        box.operator("talkface.apply_to_selected", icon="COPYDOWN")
        box.operator("talkface.learn_style", icon="OUTLINER_OB_FORCE_FIELD")

        box = layout.box()
        box.label(text="3. Video", icon="RENDER_ANIMATION")
        box.enabled = face is not None
        box.prop(settings, "bake_mode")
        box.prop(settings, "resolution")
        box.prop(settings, "output_dir")
        op = box.operator("talkface.bake_frames", icon="SEQUENCE")
        op.directory = settings.output_dir


def register():
    bpy.utils.register_class(TALKFACE_PT_main)


def unregister():
    bpy.utils.unregister_class(TALKFACE_PT_main)
