"""TalkFace core: everything that does not need Blender.

This package never imports bpy, so it can be tested, benchmarked and trained from a plain
Python process. Blender glue lives in ``blender_talkface``.
"""

__version__ = "0.1.0"
