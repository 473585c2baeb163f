# SPDX-License-Identifier: GPL-3.0-or-later
"""What TalkFace stores in a .blend: every custom property it reads or writes, with typed
accessors. No other module spells a property key; they all call these functions.

On the face mesh object (the object whose fit marks it as a TalkFace face):

=============================  ==========  ====================================================
key                            type        meaning
=============================  ==========  ====================================================
``talkface_fit``               str         the ``FaceFit`` as JSON; its presence marks the face
``talkface_photo``             str         the photo the face was fitted to (absolute path)
``talkface_head_object``       Object      the head control Empty (the face's parent when made)
``talkface_camera_object``     Object      the camera that sees the face as the photo did
``talkface_style_code``        float[]     a style learned from a take ('Learn Style from Take')
=============================  ==========  ====================================================

On a take's Action (one per 'Animate from Audio'):

=============================  ==========  ====================================================
``talkface_audio``             str         the recording the take was animated from
``talkface_start_frame``       int         the scene frame where that recording starts
``talkface_transcript``        str         the dialog text the take was aligned to ('' none)
``talkface_lipsync``           str         which lip-sync path made it (``LIPSYNC_SOURCES``)
``talkface_text_check``        str         (trusted transcript) what the aligner's check would
                                           have refused the text for ('' it passed)
``talkface_heard``             str         (word recogniser) the words it heard: a start for
                                           the dialog text
``talkface_heard_by``          str         (word recogniser) which heard them: Whisper or
                                           PocketSphinx
``talkface_phone_mouth``       float       the share of its mouth from its phones (Phone Mouth;
                                           absent or 0: the network's mouth)
``talkface_sound_strip``       str         the name of its sound strip in the sequencer
``talkface_retarget_of``       str         (a retarget copy) the take it was copied from
``talkface_retarget_hash``     str         (a retarget copy) its keys' hash when written: a
                                           different hash now means the animator edited it
=============================  ==========  ====================================================

On a scene: ``talkface_playback_set`` (bool), TalkFace has set *Sync to Audio* and audio
scrubbing once; it never touches them again (the animator's choice wins).

The head and camera are ID pointers, so renaming either keeps the link. Files written before
that stored their *names* (``talkface_head``, ``talkface_camera``); the accessors still resolve
those (by name, and for the head by the face's parent Empty when the name went stale) and
upgrade them to pointers where Blender allows writing.
"""

from __future__ import annotations

import json

import bpy

# -- keys on the face mesh object
FIT = "talkface_fit"
PHOTO = "talkface_photo"
HEAD = "talkface_head_object"
CAMERA = "talkface_camera_object"
STYLE_CODE = "talkface_style_code"

# -- keys on a take's Action
TAKE_AUDIO = "talkface_audio"
TAKE_START_FRAME = "talkface_start_frame"
TAKE_TRANSCRIPT = "talkface_transcript"
TAKE_LIPSYNC = "talkface_lipsync"
TAKE_HEARD = "talkface_heard"
TAKE_HEARD_BY = "talkface_heard_by"
TAKE_TEXT_CHECK = "talkface_text_check"
TAKE_PHONE_MOUTH = "talkface_phone_mouth"
TAKE_SOUND_STRIP = "talkface_sound_strip"
RETARGET_OF = "talkface_retarget_of"
RETARGET_HASH = "talkface_retarget_hash"
#: How a take's lips were timed: aligned to the dialog text, from the real-speech phone
#: recogniser plus the network's own hearing, or from the network's spectral features alone.
#: "trusted transcript": the dialog text aligned with Trust Text on (the user vouched for it: a word
#: pass that found no path under the beams was searched again unpruned, and the mismatch check
#: refused nothing; the take's report said what the check would have refused, if anything)
LIPSYNC_SOURCES = ("transcript", "trusted transcript", "word recogniser", "phone recogniser", "audio features")

# -- keys of older files: the head and camera by name (read, then upgraded to HEAD / CAMERA)
LEGACY_HEAD_NAME = "talkface_head"
LEGACY_CAMERA_NAME = "talkface_camera"

FACE_KEYS = (FIT, PHOTO, HEAD, CAMERA, STYLE_CODE)
TAKE_KEYS = (TAKE_AUDIO, TAKE_START_FRAME, TAKE_TRANSCRIPT, TAKE_LIPSYNC, TAKE_TEXT_CHECK, TAKE_HEARD, TAKE_HEARD_BY,
             TAKE_PHONE_MOUTH, TAKE_SOUND_STRIP, RETARGET_OF, RETARGET_HASH)

# -- keys on a scene
PLAYBACK_SET = "talkface_playback_set"
SCENE_KEYS = (PLAYBACK_SET,)
LEGACY_KEYS = (LEGACY_HEAD_NAME, LEGACY_CAMERA_NAME)


# ---------------------------------------------------------------------------- the fit
def is_face(obj) -> bool:
    """True for a fitted TalkFace face (an object carrying a fit)."""
    return obj is not None and FIT in obj


def fit_dict(obj) -> dict | None:
    """The stored fit as ``FaceFit.to_dict()`` wrote it, or None on an object without one."""
    text = obj.get(FIT)
    return json.loads(text) if text else None


def set_fit(obj, fit: dict) -> None:
    obj[FIT] = json.dumps(fit)


# ---------------------------------------------------------------------------- the photo
def photo_path(obj) -> str:
    """The photo the face was fitted to ("" when unknown)."""
    return str(obj.get(PHOTO, ""))


def set_photo_path(obj, path: str) -> None:
    obj[PHOTO] = str(path)


# ---------------------------------------------------------------------------- linked objects
def _linked(face_obj, key: str, legacy_key: str, fallback=None):
    value = face_obj.get(key)
    if isinstance(value, bpy.types.Object):
        return value
    name = face_obj.get(legacy_key)
    if not isinstance(name, str):
        return None  # never linked, or the linked object was deleted
    target = bpy.data.objects.get(name) or fallback
    if target is not None:
        _upgrade(face_obj, key, legacy_key, target)
    return target


def _upgrade(face_obj, key: str, legacy_key: str, target) -> None:
    """Replace an old name link by a pointer, where this context lets us write to the object."""
    try:
        face_obj[key] = target
        del face_obj[legacy_key]
    except (AttributeError, RuntimeError, TypeError):  # drawing, or a linked library object
        pass


def head_object(face_obj):
    """The head control Empty whose rotation and location are the face's pose, or None."""
    parent = face_obj.parent
    # a stale name in an old file (the head was renamed): the face hangs from its head Empty
    fallback = parent if parent is not None and parent.type == "EMPTY" else None
    return _linked(face_obj, HEAD, LEGACY_HEAD_NAME, fallback)


def set_head_object(face_obj, head) -> None:
    face_obj[HEAD] = head


def camera_object(face_obj):
    """The camera made for the face's photo, or None."""
    return _linked(face_obj, CAMERA, LEGACY_CAMERA_NAME)


def set_camera_object(face_obj, camera) -> None:
    face_obj[CAMERA] = camera


# ---------------------------------------------------------------------------- style
def style_code(obj) -> list[float] | None:
    """The style learned from a take, or None when none was learned."""
    code = obj.get(STYLE_CODE)
    return None if code is None else [float(v) for v in code]


def set_style_code(obj, code) -> None:
    obj[STYLE_CODE] = [float(v) for v in code]


# ---------------------------------------------------------------------------- takes
def take_audio(action) -> str | None:
    """The recording a take was animated from (None without a take or a recording)."""
    path = action.get(TAKE_AUDIO) if action is not None else None
    return str(path) if path else None


def set_take_audio(action, path: str) -> None:
    action[TAKE_AUDIO] = str(path)


def take_start_frame(action, default: int) -> int:
    """The scene frame where the take's recording starts (``default`` when not recorded)."""
    if action is None:
        return int(default)
    return int(action.get(TAKE_START_FRAME, default))


def set_take_start_frame(action, frame: int) -> None:
    action[TAKE_START_FRAME] = int(frame)


def _text(action, key: str) -> str:
    """A text property of a take's Action ('' without the Action or the property)."""
    return str(action.get(key, "")) if action is not None else ""


def take_transcript(action) -> str:
    """The dialog text the take was aligned to ('' when it was animated from the audio alone)."""
    return _text(action, TAKE_TRANSCRIPT)


def set_take_transcript(action, text: str) -> None:
    action[TAKE_TRANSCRIPT] = str(text)


def take_heard(action) -> str:
    """The words the word recogniser heard in the take's audio ('' for other lip-sync paths)."""
    return _text(action, TAKE_HEARD)


def current_take(face_obj):
    """The Action now driving ``face_obj``'s shape keys (the current take), or None (also for no
    object or one that is not a mesh)."""
    keys = face_obj.data.shape_keys if face_obj is not None and face_obj.type == "MESH" else None
    return keys.animation_data.action if keys is not None and keys.animation_data else None


def heard_in_take(face_obj) -> str:
    """The words heard in ``face_obj``'s current take ('' without one)."""
    action = current_take(face_obj)
    return take_heard(action) if action is not None else ""


def set_take_heard(action, text: str) -> None:
    action[TAKE_HEARD] = str(text)


def take_heard_by(action) -> str:
    """Which word recogniser heard the take's words ('Whisper', 'PocketSphinx'; '' for other paths)."""
    return _text(action, TAKE_HEARD_BY)


def set_take_heard_by(action, name: str) -> None:
    action[TAKE_HEARD_BY] = str(name)


def take_text_check(action) -> str:
    """For a trusted transcript's take, what the aligner's check would have refused the text for
    ('' when it passed, or for other takes)."""
    return _text(action, TAKE_TEXT_CHECK)


def set_take_text_check(action, verdict: str) -> None:
    action[TAKE_TEXT_CHECK] = str(verdict)


def take_phone_mouth(action) -> float:
    """The share of the take's mouth its phones gave (Phone Mouth; 0 for older takes)."""
    value = action.get(TAKE_PHONE_MOUTH, 0.0)
    return float(value) if isinstance(value, (int, float)) else 0.0


def set_take_phone_mouth(action, share: float) -> None:
    action[TAKE_PHONE_MOUTH] = float(share)


def take_lipsync(action) -> str:
    """Which of ``LIPSYNC_SOURCES`` timed the take's lips ('' for takes from older versions)."""
    return _text(action, TAKE_LIPSYNC)


def set_take_lipsync(action, source: str) -> None:
    if source not in LIPSYNC_SOURCES:
        raise ValueError(f"unknown lip-sync source {source!r}")
    action[TAKE_LIPSYNC] = source


def is_take(action) -> bool:
    """True for an Action TalkFace keyed as a take ('Animate from Audio', or copied from one)."""
    return action is not None and TAKE_START_FRAME in action


def take_sound_strip(action) -> str:
    return _text(action, TAKE_SOUND_STRIP)


def set_take_sound_strip(action, name: str) -> None:
    action[TAKE_SOUND_STRIP] = str(name)


def playback_set(scene) -> bool:
    return bool(scene.get(PLAYBACK_SET, False))


def mark_playback_set(scene) -> None:
    scene[PLAYBACK_SET] = True


def retarget_source(action) -> str:
    return _text(action, RETARGET_OF)


def set_retarget_source(action, take_name: str) -> None:
    action[RETARGET_OF] = str(take_name)


def retarget_fingerprint(action) -> str:
    return _text(action, RETARGET_HASH)


def set_retarget_fingerprint(action, digest: str) -> None:
    action[RETARGET_HASH] = str(digest)
