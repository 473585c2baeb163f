# SPDX-License-Identifier: GPL-3.0-or-later
"""Per-scene TalkFace settings shown in the sidebar panel (saved with the .blend).

The take settings (style, intensities, smoothing, keys, start frame) live here rather than only in
the operator's redo panel: the panel shows them, Animate from Audio reads them, and a script may
still pass any of them to ``bpy.ops.talkface.animate_audio`` to override the scene's value.
"""

from __future__ import annotations

import bpy

from . import preferences

BAKE_MODES = (
    ("AUTO", "Auto", "Neural when the generator's weights are installed, otherwise Warp Only"),
    ("NEURAL", "Neural", "Flow-guided generator network (needs its trained weights)"),
    ("WARP", "Warp Only", "Deterministic warp of the photo along the face model's flow"),
)

REFERENCE_STYLE = "Learned"     # the style learned from a take ('Learn Style from Take')

#: The take settings, in the order the panel shows them (also the operator's overridable properties).
TAKE_SETTINGS = ("style", "listening", "phone_mouth", "heard_phone_mouth", "mouth", "brows", "head", "blinks",
                 "smoothing", "reduce_keys", "tolerance", "use_start_frame", "start_frame")

# Each item keeps the number it was saved with before 2026-12-04 (PHONES 0, WORDS 1), when Phones was
# listed first: a .blend stores an enum's number, so reordering the list must not flip a saved choice.
LISTENING_MODES = [
    ("WORDS", "Words", "English words heard by Whisper (when installed: about 4-5x real time on two slow cores) "
                       "or PocketSphinx (about twice that), aligned to the audio, with the phone recogniser: "
                       "finds the most p, b and m in real voices", 1),
    ("PHONES", "Phones (fast)", "The phone recogniser alone (trained on real speech) hears p, b and m: four to ten "
                                "times as fast as Words, fewer of them in real voices", 0),
]

_STYLE_ITEMS = None             # Blender needs the enum strings kept alive: computed once


def style_items(self, context):
    """Style presets of the installed weights (read once); 'Neutral' when none can be loaded."""
    global _STYLE_ITEMS
    if _STYLE_ITEMS is None:
        names = ("Neutral",)
        try:
            from ..core.audio import inference  # torch: only when the list is first shown

            names = inference.style_names(inference.load_animator(preferences.get(context).weights_dir or None))
        except Exception:  # noqa: BLE001, S110 - Animate from Audio reports missing torch or weights itself
            pass
        _STYLE_ITEMS = [(n, n, f"Speaking style '{n}' of the animator's training speakers") for n in names] + [
            (REFERENCE_STYLE, "Learned from Take",
             "The style learned from a hand-edited take with 'Learn Style from Take'")]
    return _STYLE_ITEMS


def _intensity(part: str, what: str):
    return bpy.props.FloatProperty(
        name=part, default=1.0, min=0.0, max=2.0, soft_max=2.0,
        description=f"Scale of the {what} the network predicts: 0 keeps it still, 1 as predicted, "
                    "2 twice as strong",
    )


def take_properties() -> dict:
    """The take settings as bpy properties (the scene settings and the operator share them)."""
    return {
        "style": bpy.props.EnumProperty(
            name="Style", items=style_items,
            description="Speaking style of the animation: a preset, a training speaker, or one learned "
                        "from a take",
        ),
        "listening": bpy.props.EnumProperty(
            name="Listening", items=LISTENING_MODES, default="WORDS",
            description="How the lips find p, b and m without Dialog Text (with it, the text decides)",
        ),
        "phone_mouth": bpy.props.FloatProperty(
            name="Phone Mouth", default=0.5, min=0.0, max=1.0, subtype="FACTOR",
            description="Share of the mouth and jaw that follows the phones of the Dialog Text (a mouth shape per "
                        "phone, blended across neighbours), or without it those of the words Whisper heard (only "
                        "where the mouth is open: every closure stays the network's); the network gives the rest. "
                        "0: the network's mouth",
        ),
        "heard_phone_mouth": bpy.props.BoolProperty(
            name="From Heard Phones", default=False,
            description="Without Dialog Text, let the phones PocketSphinx or the phone recogniser heard give the "
                        "Phone Mouth share too, as Whisper's words always do (only where the mouth is open: every "
                        "closure stays the network's): on unusual voices and other languages, where those phones "
                        "are guesses, the motion follows the speech less closely",
        ),
        "mouth": _intensity("Mouth", "jaw and lip motion"),
        "brows": _intensity("Brows", "brow raises and frowns"),
        "head": _intensity("Head", "head rotation and sway"),
        "blinks": _intensity("Blinks", "eye blinks"),
        "smoothing": bpy.props.FloatProperty(
            name="Smoothing", default=0.0, min=0.0, max=1.0, soft_max=0.2, unit="TIME_ABSOLUTE",
            subtype="TIME_ABSOLUTE",
            description="Gaussian smoothing of every curve (time constant); closed lips stay closed. 0 keeps the "
                        "network's timing",
        ),
        "reduce_keys": bpy.props.BoolProperty(
            name="Reduce Keys", default=True,
            description="Keep only the keys needed to stay within the tolerance of the dense curve "
                        "(every /p b m/ closure keeps its key); off: a key on every frame",
        ),
        "tolerance": bpy.props.FloatProperty(
            name="Tolerance", default=0.01, min=0.0001, max=0.2,
            description="Largest difference, in shape-key weight, between the reduced and the dense "
                        "curve (head channels use a tenth of it)",
        ),
        "use_start_frame": bpy.props.BoolProperty(
            name="Custom Start Frame", default=False,
            description="Start the take at the frame below instead of the scene's first frame",
        ),
        "start_frame": bpy.props.IntProperty(
            name="Start Frame", default=1,
            description="Scene frame where the recording starts (with Custom Start Frame)",
        ),
    }


class TalkFaceSceneSettings(bpy.types.PropertyGroup):
    __annotations__ = {
        "photo_path": bpy.props.StringProperty(
            name="Photo", subtype="FILE_PATH", default="",
            description="The portrait photo the face was fitted to (set by Fit Face from Photo)",
        ),
        "audio_path": bpy.props.StringProperty(
            name="Audio", subtype="FILE_PATH", default="",
            description="The recording of the latest take (set by Animate from Audio)",
        ),
        "resolution": bpy.props.IntProperty(
            name="Resolution", default=512, min=64, max=4096, step=8,
            description="Length in pixels of the longer side of the baked frames (the other side "
                        "follows the photo's framing); both sides are rounded to a multiple of 8",
        ),
        "dialog_text": bpy.props.StringProperty(
            name="Dialog Text", default="",
            description="What the line says, in English (optional). Animate from Audio aligns the recording "
                        "to it and closes the lips exactly on its p, b and m; empty: the audio alone is used",
        ),
        "trust_text": bpy.props.BoolProperty(
            name="Trust Text", default=False,
            description="Use the Dialog Text even where the aligner's check (or Whisper, hearing the take) says it "
                        "does not fit the recording (a right text on a stylised or synthetic voice, a strong "
                        "accent): the lips follow it as given, and the report says what the check found. Off: "
                        "such a text is refused",
        ),
        "bake_mode": bpy.props.EnumProperty(
            name="Mode", items=BAKE_MODES, default="AUTO",
            description="How the photoreal frames are drawn",
        ),
        "output_dir": bpy.props.StringProperty(
            name="Frames Folder", subtype="DIR_PATH", default="",
            description="Folder for baked frames; empty means a folder beside the .blend",
        ),
        "retarget_text": bpy.props.PointerProperty(
            name="Mapping Text", type=bpy.types.Text,
            description="A text block mapping ARKit channels to the character's shape keys, one "
                        "'jawOpen = Jaw_Open' per line or JSON; saved with the .blend; overrides the "
                        "automatic name matching",
        ),
        "retarget_file": bpy.props.StringProperty(
            name="Mapping File", subtype="FILE_PATH", default="",
            description="The same mapping as a JSON or text file (used when no Mapping Text is set)",
        ),
        "head_bone": bpy.props.StringProperty(
            name="Head Bone", default="",
            description="The armature bone that receives the head motion; empty: the bone named like "
                        "'head' (Head, CC_Base_Head, mixamorig:Head, ...)",
        ),
        **take_properties(),
    }


def register():
    bpy.utils.register_class(TalkFaceSceneSettings)
    bpy.types.Scene.talkface = bpy.props.PointerProperty(
        type=TalkFaceSceneSettings, name="TalkFace", description="TalkFace settings of this scene")


def unregister():
    del bpy.types.Scene.talkface
    bpy.utils.unregister_class(TalkFaceSceneSettings)
