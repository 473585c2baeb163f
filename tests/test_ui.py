"""Blender's UI conventions: greyed-out buttons say why, every setting has a tooltip, the take
settings live in the scene, the stages show progress, and the Add menus offer TalkFace."""

from __future__ import annotations

import pytest
from conftest import PORTRAIT, SPEECH, draw_panel

from talkface.blender_talkface import dependencies
from talkface.blender_talkface.properties import TAKE_SETTINGS

ADDON = "bl_ext.user_default.talkface"   # the installed zip's package (conftest's `blender`)


def installed(module: str):
    import importlib

    return importlib.import_module(f"{ADDON}.blender_talkface.{module}")
OPERATORS = ("fit_face", "export_neutral", "animate_audio", "apply_to_selected", "learn_style", "export_take",
             "bake_frames")


def poll_message(blender, name) -> str:
    with pytest.raises(RuntimeError) as err:
        getattr(blender.ops.talkface, name)()
    return str(err.value)


@pytest.mark.parametrize("name, reason", [
    ("export_neutral", "Fit a face first"), ("animate_audio", "Fit a face first"),
    ("learn_style", "Fit a face first"), ("bake_frames", "Fit a face first"),
    ("apply_to_selected", "Select the animated TalkFace face"),
])
def test_greyed_out_with_a_reason_in_an_empty_scene(scene, blender, name, reason):
    assert not getattr(blender.ops.talkface, name).poll()
    assert reason in poll_message(blender, name)


def test_reasons_follow_the_scene(scene, blender):
    assert blender.ops.talkface.fit_face(filepath=PORTRAIT) == {"FINISHED"}
    assert blender.ops.talkface.animate_audio.poll() and blender.ops.talkface.bake_frames.poll()
    assert "Animate the face first" in poll_message(blender, "learn_style")
    face = blender.context.active_object
    assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
    assert blender.ops.talkface.learn_style.poll()
    assert "Also select the character" in poll_message(blender, "apply_to_selected")
    # a second fitted face and neither active: which one is meant?
    assert blender.ops.talkface.fit_face(filepath=PORTRAIT) == {"FINISHED"}
    blender.context.view_layer.objects.active = None
    assert "Several fitted faces" in poll_message(blender, "animate_audio")
    blender.context.view_layer.objects.active = face
    blender.ops.object.mode_set(mode="EDIT")
    assert "Object Mode" in poll_message(blender, "fit_face")
    blender.ops.object.mode_set(mode="OBJECT")


def test_missing_torch_greys_out_the_stages_that_need_it(monkeypatch):
    monkeypatch.setattr(dependencies, "installed", lambda name: name != "torch")
    assert dependencies.problem("animate") == "PyTorch is not installed: install it in TalkFace's preferences"
    assert dependencies.problem("bake") is not None and dependencies.problem("fit") is None


def _properties(rna):
    return [p for p in rna.properties if p.identifier not in ("rna_type", "name") and not p.is_hidden]


def test_every_setting_has_a_tooltip(blender):
    types = [blender.context.scene.talkface.bl_rna,
             blender.context.preferences.addons[ADDON].preferences.bl_rna]
    types += [getattr(blender.ops.talkface, name).get_rna_type() for name in OPERATORS]
    untold = [f"{rna.identifier}.{p.identifier}" for rna in types for p in _properties(rna)
              if not p.description.strip() and p.identifier not in ("filter_glob", "bl_idname")]
    assert not untold, untold
    resolution = blender.context.scene.talkface.bl_rna.properties["resolution"].description
    assert "square" not in resolution.lower() and "longer side" in resolution


def test_take_settings_live_in_the_scene_and_reach_the_keys(scene, blender):
    settings = scene.talkface
    for name in TAKE_SETTINGS:
        assert name in settings.bl_rna.properties
    assert blender.ops.talkface.fit_face(filepath=PORTRAIT) == {"FINISHED"}
    face = blender.context.active_object
    settings.mouth, settings.use_start_frame, settings.start_frame = 0.0, True, 30

    def curve(name):
        action = face.data.shape_keys.animation_data.action
        found = [fc for bag in action.layers[0].strips[0].channelbags for fc in bag.fcurves
                 if fc.data_path == f'key_blocks["{name}"].value']
        return found[0] if found else None

    assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
    assert curve("jawOpen") is None                        # mouth 0: the jaw never moves
    assert curve("browInnerUp").keyframe_points[0].co.x == 30.0

    def jaw():
        return curve("jawOpen")

    # a script's explicit value overrides the scene's for that call only
    assert blender.ops.talkface.animate_audio(filepath=SPEECH, mouth=1.0) == {"FINISHED"}
    assert max(p.co.y for p in jaw().keyframe_points) > 0.1 and settings.mouth == 0.0


def test_fit_and_animate_report_progress(scene, blender):
    pipeline = installed("pipeline")
    calls = {"fit": [], "animate": []}
    fitted = pipeline.fit_face(blender.context, PORTRAIT, progress=lambda d, t: calls["fit"].append((d, t)))
    pipeline.animate(blender.context, fitted.obj, SPEECH, progress=lambda d, t: calls["animate"].append((d, t)))
    assert calls["fit"] == [(i, pipeline.FIT_STEPS) for i in range(1, pipeline.FIT_STEPS + 1)]
    assert calls["animate"] == [(i, pipeline.ANIMATE_STEPS) for i in range(1, pipeline.ANIMATE_STEPS + 1)]


def test_a_long_recording_moves_the_status_bar_while_it_is_heard(scene, blender, tmp_path, monkeypatch):
    """Listening to a long take (minutes of chunks) moves the status bar between the steps."""
    import importlib

    pipeline, phones = installed("pipeline"), importlib.import_module(f"{ADDON}.core.audio.phones")
    monkeypatch.setattr(phones, "CHUNK_S", 3.0)
    monkeypatch.setattr(phones, "SEARCH_S", 1.0)
    fitted = pipeline.fit_face(blender.context, PORTRAIT)
    for listening, within, span in (("phones", 2, 1.0), ("words", 1, pipeline.WORDS_LISTENING_SPAN)):
        calls, chunks = [], []
        options = pipeline.AnimateOptions(listening=listening)
        pipeline.animate(blender.context, fitted.obj, SPEECH, options, progress=lambda d, t: calls.append((d, t)),
                         listen_progress=lambda d, t: chunks.append((d, t)))
        n = chunks[-1][1]
        assert n >= 2 and chunks == [(k, n) for k in range(1, n + 1)]
        steps = [d for d, _ in calls]
        assert steps == sorted(steps) and steps[-1] == pipeline.ANIMATE_STEPS
        assert [d for d in steps if d != int(d)] == [within + span * k / n for k in range(1, n)], listening
    # in the background job the words mode's recognised chunks fill the rest of step 1-2
    shown = []
    words = pipeline.words_as_steps(lambda d, t: shown.append((d, t)))
    for k in range(1, 5):
        words(k, 4)
    span = pipeline.WORDS_LISTENING_SPAN
    assert shown == [(1 + span + (1 - span) * k / 4, pipeline.ANIMATE_STEPS) for k in range(1, 5)]
    assert shown[-1][0] == 2


@pytest.mark.parametrize("menu, operator", [("VIEW3D_MT_add", "talkface.fit_face"),
                                            ("SEQUENCER_MT_add", "talkface.bake_frames")])
def test_add_menus_offer_talkface(blender, menu, operator):
    panel = installed("panel")
    drawn = [draw for m, draw in panel.MENUS if m == menu]
    assert drawn and getattr(blender.types, menu).is_extended()

    assert [name for name, _ in draw_panel(blender, drawn[0])] == [operator]


def test_listening_is_drawn_under_dialog_text_and_greys_out_with_a_text(scene, blender):
    drawn = {}
    for text in ("", "Bob made a map."):
        scene.talkface.dialog_text = text
        drawn[text] = draw_panel(blender, blender.types.TALKFACE_PT_main.draw)
    scene.talkface.dialog_text = ""
    names = [name for name, _ in drawn[""]]
    # under the text, its Trust Text, then how to listen without one
    assert names.count("listening") == 1 and names[names.index("dialog_text") + 1:][:2] == ["trust_text", "listening"]
    assert ("listening", True) in drawn[""] and ("listening", False) in drawn["Bob made a map."]
    assert set(TAKE_SETTINGS) - {"listening"} <= set(names)      # the take settings are all there


def test_phone_mouth_is_active_where_it_gives_a_share(scene, blender, monkeypatch):
    """Without a text, Phone Mouth applies to words Whisper hears (installed here), or with *From
    Heard Phones*: the row is greyed out in Phones listening, or when the environment has the words
    heard by PocketSphinx (the without-Whisper case is test_extension's)."""
    settings = scene.talkface

    def active() -> bool:
        return dict(draw_panel(blender, blender.types.TALKFACE_PT_main.draw))["phone_mouth"]

    assert settings.listening == "WORDS" and active()
    settings.listening = "PHONES"
    assert not active()
    settings.heard_phone_mouth = True
    assert active()
    settings.listening, settings.heard_phone_mouth = "WORDS", False
    monkeypatch.setenv("TALKFACE_WORD_SOURCE", "pocketsphinx")
    assert not active()
    settings.dialog_text = "Bob made a map."
    assert active()
