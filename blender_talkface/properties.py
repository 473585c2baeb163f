# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-scene TalkFace settings shown in the sidebar panel."""

from __future__ import annotations

import bpy

BAKE_MODES = (
    ("AUTO", "Auto", "Neural when the generator's weights are installed, otherwise Warp Only"),
    ("NEURAL", "Neural", "Flow-guided generator network (needs its trained weights)"),
    ("WARP", "Warp Only", "Deterministic warp of the photo along the face model's flow"),
)


class TalkFaceSceneSettings(bpy.types.PropertyGroup):
    photo_path: bpy.props.StringProperty(name="Photo", subtype="FILE_PATH", default="")
    audio_path: bpy.props.StringProperty(name="Audio", subtype="FILE_PATH", default="")
    resolution: bpy.props.IntProperty(
        name="Resolution", description="Square output size in pixels (a multiple of 8)",
        default=512, min=64, max=4096, step=8,
    )
    dialog_text: bpy.props.StringProperty(
        name="Dialog Text",
        description="What the line says, in English (optional). Animate from Audio aligns the recording "
                    "to it and closes the lips exactly on its p, b and m; empty: the audio alone is used",
        default="",
    )
    bake_mode: bpy.props.EnumProperty(name="Mode", items=BAKE_MODES, default="AUTO")
    output_dir: bpy.props.StringProperty(
        name="Frames Folder",
        description="Folder for baked frames; empty means a folder beside the .blend",
        subtype="DIR_PATH",
        default="",
    )


def register():
    bpy.utils.register_class(TalkFaceSceneSettings)
    bpy.types.Scene.talkface = bpy.props.PointerProperty(type=TalkFaceSceneSettings)


def unregister():
    del bpy.types.Scene.talkface
    bpy.utils.unregister_class(TalkFaceSceneSettings)
