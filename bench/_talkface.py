"""Load the source tree as the package ``talkface`` for bench scripts that use Blender glue
(its modules import ``..core`` relatively, so they need a parent package)."""

from __future__ import annotations

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_talkface():
    if "talkface" in sys.modules:
        return sys.modules["talkface"]
    spec = importlib.util.spec_from_file_location("talkface", os.path.join(ROOT, "__init__.py"),
                                                  submodule_search_locations=[ROOT])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules["talkface"] = pkg
    spec.loader.exec_module(pkg)
    return pkg
