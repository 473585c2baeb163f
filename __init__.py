# SPDX-License-Identifier: GPL-3.0-or-later
"""TalkFace extension entry point: its only job is to register ``blender_talkface``."""

from . import blender_talkface


def register():
    blender_talkface.register()


def unregister():
    blender_talkface.unregister()
