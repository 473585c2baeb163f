# SPDX-License-Identifier: GPL-3.0-or-later
"""Which Python packages each stage needs, checked without importing them (operators' ``poll``).

``find_spec`` only looks the package up, so a poll that runs on every redraw stays cheap; the
answers are cached until ``refresh()`` (after PyTorch is installed or removed).
"""

from __future__ import annotations

import functools
import importlib.util

#: Import name -> the name users know.
LABELS = {"torch": "PyTorch", "PIL": "Pillow", "cv2": "OpenCV", "mediapipe": "MediaPipe", "scipy": "SciPy",
          "soundfile": "soundfile", "safetensors": "safetensors", "trimesh": "trimesh", "numpy": "NumPy"}

#: What each stage imports when it runs.
STAGES = {
    "fit": ("numpy", "scipy", "PIL", "cv2", "mediapipe"),
    "export": ("numpy", "trimesh"),
    "animate": ("numpy", "scipy", "soundfile", "safetensors", "torch"),
    "bake": ("numpy", "scipy", "PIL", "safetensors", "torch"),
}


@functools.lru_cache(maxsize=None)
def installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing(stage: str) -> list[str]:
    """Import names of the packages ``stage`` needs that are not installed."""
    return [name for name in STAGES[stage] if not installed(name)]


def problem(stage: str) -> str | None:
    """One line for a greyed-out button, or None when everything ``stage`` needs is installed."""
    absent = missing(stage)
    if not absent:
        return None
    if absent == ["torch"]:
        return "PyTorch is not installed: install it in TalkFace's preferences"
    names = ", ".join(LABELS.get(n, n) for n in absent)
    return f"Missing Python package{'s' if len(absent) > 1 else ''}: {names} (reinstall the TalkFace extension)"


def refresh() -> None:
    """Forget the cached answers (after installing or removing a package)."""
    installed.cache_clear()
    importlib.invalidate_caches()
