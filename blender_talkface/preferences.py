# SPDX-License-Identifier: GPL-3.0-or-later
"""Add-on preferences: compute device, weights folder override, default output folder."""

from __future__ import annotations

import bpy

# The extension's root package ("bl_ext.<repo>.talkface" when installed, "talkface" when the
# headless script loads the source tree): Blender keys add-on preferences by it.
ADDON_ID = __package__.rpartition(".")[0] or __package__

DEVICE_ITEMS = (
    ("AUTO", "Auto", "CUDA when PyTorch sees a GPU, otherwise the CPU"),
    ("CUDA", "CUDA", "Always use the NVIDIA GPU; fails clearly if there is none"),
    ("CPU", "CPU", "Always use the CPU"),
)


class TALKFACE_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    device: bpy.props.EnumProperty(
        name="Compute Device", items=DEVICE_ITEMS, default="AUTO",
        description="Where the networks run when animating and baking",
    )
    weights_dir: bpy.props.StringProperty(
        name="Weights Folder",
        description="Use trained weights from this folder instead of the ones shipped with the add-on",
        subtype="DIR_PATH",
        default="",
    )
    output_dir: bpy.props.StringProperty(
        name="Default Output Folder",
        description="Where baked frames go when the .blend is unsaved and no folder is chosen",
        subtype="DIR_PATH",
        default="",
    )

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "device")
        layout.prop(self, "weights_dir")
        layout.prop(self, "output_dir")


class Defaults:
    """Stands in for the preferences when the add-on is not enabled (headless source run)."""

    device = "AUTO"
    weights_dir = ""
    output_dir = ""


def get(context=None):
    """The add-on preferences, or defaults when TalkFace runs without being enabled."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else Defaults()


def register():
    bpy.utils.register_class(TALKFACE_AP_preferences)


def unregister():
    bpy.utils.unregister_class(TALKFACE_AP_preferences)
