"""'Animate from Audio' in Blender with the shipped network: Actions, strips, styles, errors."""

from __future__ import annotations

import pytest
from conftest import PORTRAIT, SPEECH, draw_panel

PKG = "bl_ext.user_default.talkface"


@pytest.fixture
def face(scene, blender):
    assert blender.ops.talkface.fit_face(filepath=PORTRAIT) == {"FINISHED"}
    return blender.context.active_object


def key_curves(blender, face):
    import importlib

    return importlib.import_module(f"{PKG}.blender_talkface.keyframes").shape_key_curves(face.data.shape_keys)


def test_animate_keys_a_take_with_sound(face, blender):
    scene = blender.context.scene
    scene.render.fps = 24
    assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
    action = face.data.shape_keys.animation_data.action
    assert action.name == "speech"
    assert face.parent.animation_data.action == action  # head pose in the same take
    curves = key_curves(blender, face)
    jaw = curves["jawOpen"]
    first, last = jaw.range()
    n_frames = int(last - first) + 1
    assert 7.0 * 24 <= n_frames <= 7.7 * 24  # the clip is 7.35 s long
    assert scene.frame_start <= first and scene.frame_end >= last - 1   # the scene spans the take
    assert 3 < len(jaw.keyframe_points) < n_frames  # reduced keys, but real motion
    values = [jaw.evaluate(f) for f in range(scene.frame_start, scene.frame_end + 1)]
    assert max(values) > 0.15
    sounds = [s for s in scene.sequence_editor.strips if s.type == "SOUND"]
    assert len(sounds) == 1 and sounds[0].frame_start == scene.frame_start


def test_rerun_keeps_previous_take(face, blender):
    assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
    first = face.data.shape_keys.animation_data.action
    assert blender.ops.talkface.animate_audio(filepath=SPEECH, style="Lively", head=1.5) == {"FINISHED"}
    second = face.data.shape_keys.animation_data.action
    assert second != first and first.name in blender.data.actions and first.users > 0   # kept by its NLA strip
    sounds = [s for s in blender.context.scene.sequence_editor.strips if s.type == "SOUND"]
    # each take has its own sound strip on its own channel; only the playing take's is heard
    assert len(sounds) == 2 and len({s.channel for s in sounds}) == 2
    assert [s.mute for s in sounds] == [True, False]


def test_two_takes_into_a_shot(face, blender):
    """A shot that runs to 250: a second take at frame 40 keeps the range, gets its own NLA track
    and sound channel, and plays; the first take is muted, sound and strips alike."""
    scene = blender.context.scene
    scene.frame_start, scene.frame_end = 1, 250
    scene.sync_mode = "NONE"
    scene.talkface.use_start_frame = False
    assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
    assert (scene.frame_start, scene.frame_end) == (1, 250)
    assert scene.sync_mode == "AUDIO_SYNC" and scene.use_audio_scrub
    scene.sync_mode = "FRAME_DROP"             # the animator's own choice: never changed again
    assert blender.ops.talkface.animate_audio(filepath=SPEECH, use_start_frame=True, start_frame=40) == {"FINISHED"}
    assert (scene.frame_start, scene.frame_end) == (1, 250) and scene.sync_mode == "FRAME_DROP"
    keys = face.data.shape_keys
    tracks = list(keys.animation_data.nla_tracks)
    assert len(tracks) == 2 and [t.mute for t in tracks] == [True, False]
    assert tracks[1].strips[0].frame_start == 40.0 and tracks[1].strips[0].action == keys.animation_data.action
    head_tracks = list(face.parent.animation_data.nla_tracks)
    assert [t.mute for t in head_tracks] == [True, False] and head_tracks[1].strips[0].frame_start == 40.0
    sounds = sorted((s for s in scene.sequence_editor.strips if s.type == "SOUND"), key=lambda s: s.frame_start)
    assert [(s.frame_start, s.mute) for s in sounds] == [(1, True), (40, False)]
    assert sounds[0].channel != sounds[1].channel
    # a long take past the shot's end grows it; nothing shrinks it
    assert blender.ops.talkface.animate_audio(filepath=SPEECH, use_start_frame=True, start_frame=240) == {"FINISHED"}
    assert scene.frame_start == 1 and scene.frame_end > 250


def test_learned_style_from_edited_take(face, blender):
    assert blender.ops.talkface.animate_audio(filepath=SPEECH, mouth=1.6) == {"FINISHED"}
    assert blender.ops.talkface.learn_style() == {"FINISHED"}
    assert len(face["talkface_style_code"]) > 0
    assert blender.ops.talkface.animate_audio(filepath=SPEECH, style="Learned") == {"FINISHED"}


def test_intensity_zero_mouth_keeps_lips_still(face, blender):
    """Mouth 0: the mouth never moves, so its channels get no F-curve and rest at 0."""
    assert blender.ops.talkface.animate_audio(filepath=SPEECH, mouth=0.0) == {"FINISHED"}
    curves = key_curves(blender, face)
    assert "jawOpen" not in curves and "mouthClose" not in curves and "browInnerUp" in curves
    assert face.data.shape_keys.key_blocks["jawOpen"].value == 0.0


def test_missing_weights_are_reported(face, blender, tmp_path):
    prefs = blender.context.preferences.addons[PKG].preferences
    prefs.weights_dir = str(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="animator.safetensors not found.*train"):
            blender.ops.talkface.animate_audio(filepath=SPEECH)
    finally:
        prefs.weights_dir = ""
    assert face.data.shape_keys.animation_data is None


def test_not_audio_is_reported(face, blender, tmp_path):
    fake = tmp_path / "voice.mp3"
    fake.write_text("not audio at all")
    with pytest.raises(RuntimeError) as err:
        blender.ops.talkface.animate_audio(filepath=str(fake))
    assert "voice.mp3" in str(err.value) and "unexpectedly" not in str(err.value)
    assert face.data.shape_keys.animation_data is None


SAMPLE_TEXT = ("Hello! My name is Emma, and I am very happy to meet you. "
               "Today this photo will speak, in time with my voice.")


def test_dialog_text_times_the_lips(face, blender):
    scene = blender.context.scene
    scene.talkface.dialog_text = SAMPLE_TEXT
    assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
    action = face.data.shape_keys.animation_data.action
    assert action["talkface_lipsync"] == "transcript" and action["talkface_transcript"] == SAMPLE_TEXT
    # every key the take and the face carry is one the schema names (blender_talkface/scene_data.py)
    import importlib

    sd = importlib.import_module(f"{PKG}.blender_talkface.scene_data")
    assert set(action.keys()) <= set(sd.TAKE_KEYS) and sd.TAKE_PHONE_MOUTH in action.keys()
    assert {k for k in face.keys() if k.startswith("talkface_")} <= set(sd.FACE_KEYS)
    assert {k for k in scene.keys() if k.startswith("talkface_")} <= set(sd.SCENE_KEYS)
    scene.talkface.dialog_text = ""
    assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
    again = face.data.shape_keys.animation_data.action
    assert again["talkface_lipsync"] in ("word recogniser", "audio features")       # the default listening
    assert again["talkface_transcript"] == ""


def test_phone_mouth_moves_the_take_towards_its_phones_and_is_recorded(face, blender):
    """The scene's Phone Mouth reaches a take with Dialog Text (the aligned phones give that share of
    the mouth; 0: the network's mouth) and the take's Action records the share used; without the
    text the words Whisper heard give it (Listening Words), other phones heard only with From Heard
    Phones."""
    import numpy as np

    scene = blender.context.scene
    settings = scene.talkface

    def take(text: str, share: float, heard: bool = False):
        settings.dialog_text, settings.phone_mouth, settings.heard_phone_mouth = text, share, heard
        assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
        action = face.data.shape_keys.animation_data.action
        jaw = key_curves(blender, face)["jawOpen"]
        return action["talkface_phone_mouth"], np.array([jaw.evaluate(f) for f in range(scene.frame_start,
                                                                                       scene.frame_end + 1)])

    assert type(settings).bl_rna.properties["phone_mouth"].default == 0.5
    assert not type(settings).bl_rna.properties["heard_phone_mouth"].default
    (used0, text0), (used5, text5) = take(SAMPLE_TEXT, 0.0), take(SAMPLE_TEXT, 0.5)
    assert (used0, used5) == (0.0, 0.5) and np.abs(text5 - text0).max() > 0.05
    (used_w0, words0), (used_w, words) = take("", 0.0), take("", 0.5)     # Listening Words (the default)
    by_whisper = face.data.shape_keys.animation_data.action["talkface_heard_by"] == "Whisper"
    assert (used_w0, used_w) == (0.0, 0.5 if by_whisper else 0.0)
    assert (np.abs(words - words0).max() > 0.05) == by_whisper
    settings.listening = "PHONES"
    try:
        (used_n, net), (used_h, heard) = take("", 0.5), take("", 0.5, heard=True)
    finally:
        settings.listening = "WORDS"
    assert (used_n, used_h) == (0.0, 0.5) and np.abs(heard - net).max() > 0.05


def test_a_saved_listening_choice_survives_the_new_default(scene, blender):
    """Builds before 2026-12-04 listed Phones first and saved the choice as its number (Phones 0,
    Words 1): a scene saved then must reopen with the same choice, not the other one."""
    props = blender.context.scene.talkface
    assert props.listening == "WORDS"                   # the default, nothing stored
    props["listening"] = 1                              # what an earlier build stored for Words
    assert props.listening == "WORDS"
    props["listening"] = 0                              # ... and for Phones
    assert props.listening == "PHONES"
    props.listening = "WORDS"
    assert props["listening"] == 1


def test_words_listening_times_the_lips_by_recognised_words(face, blender):
    """Listening 'Words' (the default) or 'Phones', as the operator's property or the scene's take setting."""
    scene = blender.context.scene
    assert scene.talkface.listening == "WORDS"
    assert blender.ops.talkface.animate_audio(filepath=SPEECH, listening="PHONES") == {"FINISHED"}
    assert face.data.shape_keys.animation_data.action["talkface_lipsync"] == "phone recogniser"
    scene.talkface.listening = "PHONES"
    try:
        assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
        assert face.data.shape_keys.animation_data.action["talkface_lipsync"] == "phone recogniser"
        assert blender.ops.talkface.animate_audio(filepath=SPEECH, listening="WORDS") == {"FINISHED"}
    finally:
        scene.talkface.listening = "WORDS"
    first = face.data.shape_keys.animation_data.action
    assert first["talkface_lipsync"] == "word recogniser" and first["talkface_transcript"] == ""
    assert "my name is emma" in first["talkface_heard"].lower() and first["talkface_heard_by"] == "Whisper"
    assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
    again = face.data.shape_keys.animation_data.action
    assert again != first and again["talkface_lipsync"] == "word recogniser"
    # Use Heard Words, drawn under Dialog Text for a words-mode take, starts the text from the words
    # heard; it never replaces a text the animator typed
    drawn = [name for name, _ in draw_panel(blender, blender.types.TALKFACE_PT_main.draw)]
    assert drawn[drawn.index("dialog_text") + 1] == "talkface.use_heard_words"
    assert blender.ops.talkface.use_heard_words() == {"FINISHED"}
    assert scene.talkface.dialog_text == again["talkface_heard"]
    scene.talkface.dialog_text = "Hello, my name is Emma."
    try:
        assert not blender.ops.talkface.use_heard_words.poll()
        with pytest.raises(RuntimeError):
            blender.ops.talkface.use_heard_words()
        assert scene.talkface.dialog_text == "Hello, my name is Emma."
    finally:
        scene.talkface.dialog_text = ""
    # the helpers kept for the next take end when the extension is disabled
    import sys

    import addon_utils

    kept = sys.modules[PKG + ".core.audio.sphinx_pool"].RECOGNITION
    helpers = kept.pool.processes if kept.pool is not None else []     # none on a one-CPU machine
    assert all(p.poll() is None for p in helpers)
    addon_utils.disable(PKG)
    try:
        assert kept.pool is None and all(p.wait(timeout=10) is not None for p in helpers)
    finally:
        addon_utils.enable(PKG)
    assert blender.ops.talkface.animate_audio.poll()


@pytest.mark.parametrize("text, message", [
    # the refusal ends with what Whisper heard (core.audio.recognition.heard_instead)
    ("The quick brown fox jumps over the lazy dog by the river bank on Sunday.",
     "does not match.*Whisper heard instead: .Hello, my name is Emma"),
    ("Der schnelle braune Fuchs springt über den faulen Hund am Flussufer.", "English"),
])
def test_dialog_text_that_cannot_be_used_is_reported_and_changes_nothing(face, blender, text, message):
    scene = blender.context.scene
    scene.talkface.dialog_text = text
    n_actions, frame_end = len(blender.data.actions), scene.frame_end
    try:
        with pytest.raises(RuntimeError, match=message):
            blender.ops.talkface.animate_audio(filepath=SPEECH)
    finally:
        scene.talkface.dialog_text = ""
    assert face.data.shape_keys.animation_data is None
    assert len(blender.data.actions) == n_actions and scene.frame_end == frame_end


def test_a_dialog_text_that_leaves_speech_out_is_reported_and_changes_nothing(face, blender, tmp_path):
    """Half a line in a noisy take ("The echo test" for flite's "The echo test has been completed."
    in 20 dB white noise), which the excess lets through: the report says where the text has no
    words (``alignment.Unsaid``), and no Action is made."""
    import soundfile as sf
    from conftest import HALF_LINE, half_line_in_noise

    path = str(tmp_path / "echo.wav")
    sf.write(path, half_line_in_noise(), 16000)
    scene = blender.context.scene
    scene.talkface.dialog_text = HALF_LINE
    n_actions, frame_end = len(blender.data.actions), scene.frame_end
    try:
        with pytest.raises(RuntimeError, match=r"hears \d\.\d s of speech .* where the text has no words, most at"):
            blender.ops.talkface.animate_audio(filepath=path)
    finally:
        scene.talkface.dialog_text = ""
    assert face.data.shape_keys.animation_data is None
    assert len(blender.data.actions) == n_actions and scene.frame_end == frame_end


def test_trust_text_animates_a_text_the_check_refuses(face, blender):
    """*Trust Text*: the refused text above (one for other audio) times the lips as given; the take
    records a trusted transcript. Off again, the same text is refused with how to trust it."""
    scene = blender.context.scene
    text = "The quick brown fox jumps over the lazy dog by the river bank on Sunday."
    assert ("trust_text", False) in draw_panel(blender, blender.types.TALKFACE_PT_main.draw)    # no text: greyed
    scene.talkface.dialog_text, scene.talkface.trust_text = text, True
    assert ("trust_text", True) in draw_panel(blender, blender.types.TALKFACE_PT_main.draw)
    try:
        assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
        action = face.data.shape_keys.animation_data.action
        assert action["talkface_lipsync"] == "trusted transcript" and action["talkface_transcript"] == text
        assert "does not match" in action["talkface_text_check"]        # what the check would have said
        scene.talkface.trust_text = False
        n_actions = len(blender.data.actions)
        with pytest.raises(RuntimeError, match="does not match.*If the text is right.*Trust Text"):
            blender.ops.talkface.animate_audio(filepath=SPEECH)
        assert len(blender.data.actions) == n_actions and face.data.shape_keys.animation_data.action == action
    finally:
        scene.talkface.dialog_text, scene.talkface.trust_text = "", False


# --- hearing a take on a worker thread (the file browser's path in a window) -------------------

def _module(name: str):
    import importlib

    return importlib.import_module(f"{PKG}.blender_talkface.{name}")


def test_a_background_job_returns_raises_and_stops_when_asked(blender):
    import threading

    Background = _module("runtime").Background
    job = Background(lambda cancelled, progress: progress(3, 4) or 42)
    assert job.result() == 42 and job.done and job.progress == (3, 4) and job not in Background.running

    failed = Background(lambda cancelled, progress: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failed.result()

    started = threading.Event()

    def wait_for_cancel(cancelled, progress):
        started.set()
        while not cancelled():
            threading.Event().wait(0.01)
        raise InterruptedError("stopped")

    running = Background(wait_for_cancel)
    started.wait(5)
    assert running in Background.running and not running.done
    Background.cancel_all()                      # what loading another file does
    with pytest.raises(InterruptedError):
        running.result()
    assert not Background.running


def test_hearing_a_take_changes_nothing_and_stops_when_cancelled(face, blender):
    pipeline = _module("pipeline")
    actions = set(blender.data.actions.keys())
    options = pipeline.AnimateOptions()
    steps = []
    heard = pipeline.hear_take(SPEECH, "Neutral", options, progress=lambda d, t: steps.append(d))
    assert heard.lipsync == "word recogniser" and heard.anim.n_frames > 300 and steps[-1] == 3      # the default
    assert set(blender.data.actions.keys()) == actions and face.data.shape_keys.animation_data is None
    asked = []
    with pytest.raises(InterruptedError):
        pipeline.hear_take(SPEECH, "Neutral", options, cancelled=lambda: asked.append(1) or len(asked) > 1)
    result = pipeline.write_take(blender.context, face, SPEECH, options, heard)
    assert face.data.shape_keys.animation_data.action == result.action and result.lipsync == "word recogniser"


class _Event:
    def __init__(self, kind: str):
        self.type = kind


def _modal_operator(blender, face, job):
    """The operator's modal steps on a stand-in instance (background Blender runs no event loop):
    the same methods, a real context."""
    import types

    op_class = blender.types.TALKFACE_OT_animate_audio
    reports = []
    op = types.SimpleNamespace(_job=job, _timer=None, _face=face.name, _path=SPEECH,
                               _take_options=_module("pipeline").AnimateOptions(),
                               report=lambda kind, text: reports.append((set(kind).pop(), text)))
    op._report_take = types.MethodType(op_class._report_take, op)
    return (lambda kind: op_class.modal(op, blender.context, _Event(kind))), reports


def test_the_modal_take_is_written_when_heard_and_esc_leaves_the_scene_as_it_was(face, blender):
    Background, pipeline = _module("runtime").Background, _module("pipeline")
    gate = __import__("threading").Event()

    def hear(cancelled, progress):
        gate.wait(30)
        if cancelled():
            raise InterruptedError("animate cancelled")
        return pipeline.hear_take(SPEECH, "Neutral", pipeline.AnimateOptions(), progress=progress)

    # Esc while it is heard: cancelled, nothing keyed, the job stops
    job = Background(hear)
    modal, reports = _modal_operator(blender, face, job)
    assert modal("TIMER") == {"RUNNING_MODAL"} and modal("MOUSEMOVE") == {"RUNNING_MODAL"}
    operators = _module("operators")
    assert blender.ops.talkface.animate_audio.poll() is False          # one take at a time
    assert operators._hearing_problem() == operators.HEARING
    assert modal("ESC") == {"CANCELLED"} and reports[-1][0] == "WARNING" and "nothing was changed" in reports[-1][1]
    assert operators._hearing_problem() == operators.STOPPING          # until its thread has stopped
    gate.set()
    with pytest.raises(InterruptedError):
        job.result()
    assert face.data.shape_keys.animation_data is None and operators._hearing_problem() is None

    # heard to the end: the next timer tick writes the take and reports it
    job = Background(hear)
    modal, reports = _modal_operator(blender, face, job)
    job.result()
    assert modal("TIMER") == {"FINISHED"}
    assert face.data.shape_keys.animation_data.action.name == "speech"
    assert any(text.startswith("Keyed 'speech'") for _, text in reports)

    # a face deleted meanwhile: reported, nothing keyed anywhere
    job = Background(hear)
    modal, reports = _modal_operator(blender, face, job)
    job.result()
    name = face.name
    blender.data.objects.remove(face)
    assert modal("TIMER") == {"CANCELLED"} and reports[-1] == ("ERROR", f"The face '{name}' is gone: nothing was keyed")


def test_heard_words_of_a_take_too_long_to_align_say_so(blender, tmp_path):
    import numpy as np
    import soundfile as sf

    pipeline = _module("pipeline")
    long = tmp_path / "long.wav"
    sf.write(long, np.zeros(int(10.5 * 60 * 8000), np.int16), 8000, subtype="PCM_16")
    note = pipeline.too_long_to_align(str(long))
    assert note and note.startswith("The take's recording is 10.5 minutes long") and "split" in note
    assert pipeline.too_long_to_align(SPEECH) is None
    assert pipeline.too_long_to_align(str(tmp_path / "gone.wav")) is None and pipeline.too_long_to_align(None) is None


def test_a_modal_take_that_cannot_be_heard_is_reported_and_keys_nothing(face, blender):
    """A bad Dialog Text (or any InputError) raised on the worker thread reaches the operator's report."""
    pipeline, Background = _module("pipeline"), _module("runtime").Background
    options = pipeline.AnimateOptions(transcript="Dies ist ein deutscher Satz ohne englische Wörter.")
    job = Background(lambda cancelled, progress: pipeline.hear_take(SPEECH, "Neutral", options, cancelled=cancelled))
    modal, reports = _modal_operator(blender, face, job)
    with pytest.raises(Exception):
        job.result()
    assert modal("TIMER") == {"CANCELLED"} and reports[-1][0] == "ERROR"
    assert "failed unexpectedly" not in reports[-1][1] and face.data.shape_keys.animation_data is None
