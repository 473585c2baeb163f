# SPDX-License-Identifier: GPL-3.0-or-later
"""All Blender-facing code of TalkFace: operators, panel, preferences, scene I/O.

Heavy dependencies (torch, mediapipe, librosa) are imported inside operators, never at
registration, so the add-on always enables and can tell the user what is missing.
"""

from . import command_line, operators, panel, preferences, properties, torch_setup

_modules = (preferences, torch_setup, properties, operators, panel, command_line)


def register():
    for module in _modules:
        module.register()


def unregister():
    for module in reversed(_modules):
        module.unregister()
    # the words mode's helper processes, kept between takes, end with the add-on
    from ..core.audio import sphinx_pool

    sphinx_pool.RECOGNITION.let_go()
