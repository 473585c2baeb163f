# SPDX-License-Identifier: GPL-3.0-or-later
"""TalkFace: the extension's entry point, and the root package of the source tree.

Blender imports this package and calls ``register``. The Blender glue is imported there, not
here, so that ``talkface.core`` and ``talkface.training`` import in a plain Python process
without loading bpy (``scripts/setup.sh`` links the checkout into the virtual environment as
the package ``talkface``).
"""


def register():
    from . import blender_talkface

    blender_talkface.register()


def unregister():
    from . import blender_talkface

    blender_talkface.unregister()
