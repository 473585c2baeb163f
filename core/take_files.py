"""A take as files other tools read: per-frame ARKit weights and head rotation.

Two formats, both written from an ``Animation`` (52 ARKit weights, head offsets) and read back:

* **CSV in the Live Link Face column layout**, the file facial-capture tools exchange:
  ``Timecode, BlendShapeCount, EyeBlinkLeft ... TongueOut, HeadYaw, HeadPitch, HeadRoll,
  LeftEyeYaw ... RightEyeRoll``. Names are Apple's with a capital first letter, in that app's
  column order; ``BlendShapeCount`` is 61 (52 weights + 9 rotations); ``Timecode`` is
  ``HH:MM:SS:FF.mmm`` at the take's frame rate, counted from the take's first frame. Head
  rotations are radians relative to the photo's pose: yaw about the vertical axis (TalkFace's
  ``head_rz``), pitch about the ear-to-ear axis (``head_rx``), roll about the viewing axis
  (``head_ry``). TalkFace does not animate the eyes' rotation: those columns are 0.
* **JSON**: ``{"format": "talkface-take-1", "fps", "start_frame", "channels", "frames": [[...], ...]}``
  with TalkFace's own channel names (ARKit camelCase, ``head_rx .. head_tz`` in radians/metres),
  and ``"take"``: how the take was made, when known (``{"lipsync", "transcript", "heard"}``: what
  timed the lips, the dialog text it was aligned to, the words the word recogniser heard; a
  pipeline can correct ``heard`` and run the clip again with it as ``--transcript``; for a
  ``trusted transcript``, ``text_check``: what the aligner's check would have refused it for).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from .animation import Animation
from .errors import InputError
from .face.model import ARKIT_NAMES

#: Live Link Face's blendshape columns, in its order (Apple's names, capitalised).
LIVE_LINK_SHAPES = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawRight", "JawLeft", "JawOpen", "MouthClose",
    "MouthFunnel", "MouthPucker", "MouthRight", "MouthLeft", "MouthSmileLeft", "MouthSmileRight",
    "MouthFrownLeft", "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft",
    "MouthStretchRight", "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper",
    "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft",
    "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight",
    "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut",
)
#: The rotation columns after the shapes, and the TalkFace head channel behind each (None: 0).
LIVE_LINK_ROTATIONS = (("HeadYaw", "head_rz"), ("HeadPitch", "head_rx"), ("HeadRoll", "head_ry"),
                       ("LeftEyeYaw", None), ("LeftEyePitch", None), ("LeftEyeRoll", None),
                       ("RightEyeYaw", None), ("RightEyePitch", None), ("RightEyeRoll", None))
LIVE_LINK_HEADER = ("Timecode", "BlendShapeCount", *LIVE_LINK_SHAPES, *(c for c, _ in LIVE_LINK_ROTATIONS))
JSON_FORMAT = "talkface-take-1"
_ARKIT_OF = {name[0].upper() + name[1:]: name for name in ARKIT_NAMES}


def _column(anim: Animation, name: str) -> np.ndarray:
    return anim.channel(name) if name in anim.channels else np.zeros(anim.n_frames, np.float32)


def timecode(frame: int, fps: float) -> str:
    """``HH:MM:SS:FF.mmm`` of ``frame`` frames at ``fps`` (frames within the second, then the
    fraction of a frame in thousandths, as Live Link Face writes it)."""
    seconds = frame / fps
    whole = int(math.floor(seconds + 1e-9))
    within = (seconds - whole) * fps
    ff = int(math.floor(within + 1e-6))
    sub = int(round((within - ff) * 1000)) % 1000
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}:{ff:02d}.{sub:03d}"


def write_live_link_csv(anim: Animation, path: str | Path) -> Path:
    path = Path(path)
    rows = np.zeros((anim.n_frames, len(LIVE_LINK_SHAPES) + len(LIVE_LINK_ROTATIONS)), np.float64)
    for i, name in enumerate(LIVE_LINK_SHAPES):
        rows[:, i] = _column(anim, _ARKIT_OF[name])
    for j, (_, channel) in enumerate(LIVE_LINK_ROTATIONS):
        if channel is not None:
            rows[:, len(LIVE_LINK_SHAPES) + j] = _column(anim, channel)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(LIVE_LINK_HEADER)
        count = str(rows.shape[1])
        for k, row in enumerate(rows):
            out.writerow([timecode(k, anim.fps), count, *(f"{v:.6g}" for v in row)])
    return path


def read_live_link_csv(path: str | Path, fps: float) -> Animation:
    """A Live Link Face CSV -> ``Animation`` (52 weights, head_rx/ry/rz). Columns are found by
    their header name, so files with another column order read too."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or "Timecode" not in rows[0]:
        raise InputError(f"{path} is not a Live Link Face CSV (no Timecode column)")
    header = rows[0]
    index = {name: i for i, name in enumerate(header)}
    data = np.array([[float(v) for v in row[2:]] for row in rows[1:] if row], np.float64).reshape(-1, len(header) - 2)
    channels, columns = [], []
    for name in LIVE_LINK_SHAPES:
        if name in index:
            channels.append(_ARKIT_OF[name])
            columns.append(data[:, index[name] - 2])
    for name, channel in LIVE_LINK_ROTATIONS:
        if channel is not None and name in index:
            channels.append(channel)
            columns.append(data[:, index[name] - 2])
    return Animation(fps, tuple(channels), np.stack(columns, 1) if columns else np.zeros((len(data), 0)))


def write_json(anim: Animation, path: str | Path, start_frame: int = 1, about: dict | None = None) -> Path:
    """``about``: how the take was made (``"take"`` in the file; left out when None)."""
    path = Path(path)
    doc = {"format": JSON_FORMAT, "fps": anim.fps, "start_frame": int(start_frame),
           "channels": list(anim.channels), "frames": np.round(anim.values.astype(np.float64), 7).tolist()}
    if about is not None:
        doc["take"] = dict(about)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, separators=(",", ":"))
    return path


def read_json(path: str | Path) -> tuple[Animation, int]:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    if doc.get("format") != JSON_FORMAT:
        raise InputError(f"{path} is not a TalkFace take file ({JSON_FORMAT})")
    values = np.asarray(doc["frames"], np.float32).reshape(-1, len(doc["channels"]))
    return Animation(float(doc["fps"]), tuple(doc["channels"]), values), int(doc["start_frame"])
