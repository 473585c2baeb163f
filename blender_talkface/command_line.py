# SPDX-License-Identifier: GPL-3.0-or-later
"""``blender -b -c talkface --photo P --audio A --out DIR ...``: the headless pipeline as a Blender
command-line command, registered with the add-on so it works from any installed copy (no path to
``headless.py`` needed). Same flags and exit codes as ``headless.py``."""

from __future__ import annotations

import bpy

COMMAND = "talkface"

_handle = None


def execute(args: list[str]) -> int:
    from . import headless  # the pipeline's modules load when the command runs, not at enable time

    return headless.command(args)


def register():
    global _handle
    _handle = bpy.utils.register_cli_command(COMMAND, execute)


def unregister():
    global _handle
    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None
