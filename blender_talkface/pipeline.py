# SPDX-License-Identifier: GPL-3.0-or-later
"""The stages as plain functions on a Blender context, shared by operators and headless runs.

Operators add reports and file browsers; the headless command adds progress lines and exit
codes. Both call these, so a pipeline run and a user's clicks do the same thing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..core.errors import InputError, stop_if
from ..core.face.image_io import load_photo
from ..core.face.landmarks import detect_landmarks
from ..core.face.model import load_face_model
from ..core.progress import ProgressCallback
from . import face_object, scene_data
from .properties import REFERENCE_STYLE
from .sequencer import take_sound


@dataclass
class FitResult:
    obj: object
    fit: object


FIT_STEPS = 4        # photo read, landmarks found, model fitted, face built
ANIMATE_STEPS = 4    # audio read, text aligned, network run, keys written


def _report(progress: ProgressCallback | None, total: int):
    return (lambda done: progress(done, total)) if progress is not None else (lambda done: None)


def _listening(progress: ProgressCallback | None, listen_progress: ProgressCallback | None, step: float,
               span: float = 1.0, cancelled=None):
    """A ``listen_to`` progress (chunks scored) for ``listen_progress`` as it is and for the steps'
    ``progress`` as the fraction of ``step`` to ``step + span`` done (the status bar moves through
    a long recording); ``cancelled()`` True stops the listening there (InterruptedError). None when
    nothing is to be told or asked."""
    if progress is None and listen_progress is None and cancelled is None:
        return None

    def report(done: int, total: int) -> None:
        if listen_progress is not None:
            listen_progress(done, total)
        if progress is not None and done < total:
            progress(step + span * done / total, ANIMATE_STEPS)
        stop_if(cancelled, "animate")
    return report


def fit_face(context, photo_path: str, progress: ProgressCallback | None = None, photo=None,
             landmarks=None) -> FitResult:
    """Photo -> landmarks -> FaceFit -> face mesh, head Empty and camera in the scene.
    ``progress(done, FIT_STEPS)`` after each step (the operator's status-bar progress). ``photo``
    and ``landmarks``, when a caller already checked them (headless, before any work), are reused."""
    from ..core.face.fitting import fit_photo  # scipy: loaded when a fit runs, not at registration

    step = _report(progress, FIT_STEPS)
    if not os.path.isfile(photo_path):
        raise InputError(f"Photo file not found: {photo_path}")
    photo = photo if photo is not None else load_photo(photo_path)
    model = load_face_model()
    step(1)
    landmarks = landmarks if landmarks is not None else detect_landmarks(photo)
    step(2)
    fit = fit_photo(photo, landmarks, model)
    step(3)
    obj = face_object.create_face(context, fit, model, photo_path, photo)
    context.scene.talkface.photo_path = photo_path
    step(4)
    return FitResult(obj, fit)


@dataclass
class AnimateOptions:
    style: str = "Neutral"
    mouth: float = 1.0
    brows: float = 1.0
    head: float = 1.0
    blinks: float = 1.0
    smoothing: float = 0.0       # seconds
    reduce_keys: bool = True
    tolerance: float = 0.01      # weight units; head channels use a tenth of it
    start_frame: int | None = None
    seed: int = 0
    transcript: str = ""         # the line's text: aligned to the audio, the lips close on its p b m
    trust_text: bool = False     # the user vouches for it: aligned even where the check would refuse it
    listening: str = "words"     # without text: "words" (word recognition and the phone loop) or "phones" (fast)
    phone_mouth: float = 0.5     # share of the mouth from the transcript's phones (inference.mix_phone_mouth)
    heard_phone_mouth: bool = False   # without a transcript, from the phones heard too
    alignment: object = None     # that text already aligned to this audio (align_transcript)
    listened: object = None      # and what the network hears of it (align_transcript's second item)
    fit_range: bool = False      # set the scene's range to the take (a scene made for it); else grow only




def learn_style(context, face_obj, weights_dir: str | None = None) -> int:
    """Style code under which the network best reproduces the face's current (hand-edited) take.

    The take's own audio is the reference clip; the code is stored on the face for 'Learned'.
    Returns the number of frames used.
    """
    # torch, safetensors, soundfile and scipy (under keyframes and the features) load on use
    from ..core.audio import inference
    from ..core.audio.loading import load_audio
    from . import keyframes

    action = scene_data.current_take(face_obj)
    audio_path = scene_data.take_audio(action)
    if not audio_path or not os.path.isfile(audio_path):
        raise InputError("The face's current take has no audio file to learn from (animate it from audio first)")
    model = inference.load_animator(weights_dir or None)
    anim, first = keyframes.read_take(face_obj, scene_fps(context.scene))
    start = scene_data.take_start_frame(action, first)
    feats = inference.features_for(load_audio(audio_path), model)
    anim = anim.resample(model.cfg.fps)
    offset = int(round((first - start) / scene_fps(context.scene) * model.cfg.fps))
    n = min(len(feats) - max(offset, 0), anim.n_frames)
    if n < model.cfg.fps:  # under a second of overlap says nothing about style
        raise InputError("The take and its audio overlap by less than a second")
    mouth = np.stack([anim.channel(c) if c in anim.channels else np.zeros(anim.n_frames)
                      for c in model.cfg.mouth_channels], 1)[:n]
    code = inference.extract_style(model, feats[max(offset, 0):max(offset, 0) + n], {"mouth": mouth})
    scene_data.set_style_code(face_obj, code)
    return n


@dataclass
class AnimateResult:
    action: object
    n_keys: int
    n_dense: int
    missing_channels: list
    duration: float
    lipsync: str = ""            # one of scene_data.LIPSYNC_SOURCES
    alignment_score: float | None = None
    flat_channels: list = ()     # channels that never moved beyond the tolerance: no F-curve
    notes: tuple = ()            # what was done to the recording to use it (core.audio.loading)
    heard: str = ""              # the word recogniser's words ('words' listening)
    heard_by: str = ""           # which recogniser heard them: "Whisper" or "PocketSphinx"

    @property
    def timed_by(self) -> str:
        """What timed the lips, for a report: 'word recogniser (Whisper)', 'transcript', ..."""
        return self.lipsync + (f" ({self.heard_by})" if self.heard_by else "")


def heard_summary(text: str, limit: int = 160,
                  correct: str = "in Dialog Text (Use Heard Words) and animate again") -> str:
    """The word recogniser's words as one line for a report, and what to do with them (``correct``:
    where to correct them, in the panel or on the command line)."""
    shown = text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."
    return (f"Heard: '{shown}' (words heard, not a transcript: correct them {correct} to time the lips "
            "exactly)" if text else "Heard no words")


def flat_summary(names) -> str:
    """'33 channels never move beyond the tolerance (no F-curve): eyeLookDownLeft, ... +29 more'."""
    names = list(names)
    shown = ", ".join(names[:4]) + (f", +{len(names) - 4} more" if len(names) > 4 else "")
    return f"{len(names)} channels never move beyond the tolerance (no F-curve): {shown}"


def too_long_to_align(audio_path: str | None) -> str | None:
    """Why a text cannot time this recording's take (longer than the aligner takes at a time), or
    None: said when Use Heard Words fills Dialog Text from a long words-mode take, before the
    animator corrects an hour of words for nothing."""
    import soundfile as sf

    from ..core.audio.alignment import MAX_DURATION_S

    try:
        seconds = sf.info(audio_path).duration if audio_path else 0.0
    except (OSError, RuntimeError):        # gone or unreadable: animating from it says so
        return None
    if seconds <= MAX_DURATION_S:
        return None
    return (f"The take's recording is {seconds / 60:.1f} minutes long and a text times at most "
            f"{MAX_DURATION_S / 60:.0f} minutes at a time: split the recording to animate it with the corrected text")


def align_transcript(audio, transcript: str, model=None, cancelled=None, trusted: bool = False) -> tuple:
    """(the dialog text aligned to the audio (``core.audio.alignment``), or None without text;
    with ``model``, the audio's ``listening.Listened``, computed while the aligner's helper
    processes work, else None). Raises InputError for an empty, non-English or mismatching text
    before anything changes; ``trusted`` (*Trust Text*): a text the check would refuse is aligned
    (``Alignment.check`` says why it would have been refused)."""
    if not transcript.strip():
        return None, None
    from ..core.audio import alignment, listening, recognition

    if model is None:
        return alignment.align(audio, transcript, cancelled=cancelled,
                               heard_instead=recognition.heard_instead, trusted=trusted,
                               anchors=recognition.heard_stretches,
                               second_hearing=recognition.second_hearing), None
    return listening.align_and_listen(audio, model, transcript, cancelled, trusted)


@dataclass
class HeardTake:
    """What a take's audio gives before anything in the scene changes (``hear_take``)."""
    audio: object                # core.audio.loading.Audio
    anim: object                 # core.animation.Animation: intensities and smoothing applied
    lipsync: str                 # what timed the lips (scene_data.LIPSYNC_SOURCES)
    aligned: object = None       # core.audio.alignment.Alignment with a transcript
    recognised: object = None    # core.audio.recognition.Recognised in the 'words' mode
    notes: tuple = ()


WORDS_LISTENING_SPAN = 0.15      # the share of step 1-2 the words mode's listening shows (its
                                 # recognition, about six times longer, the rest)


def words_as_steps(progress: ProgressCallback) -> ProgressCallback:
    """A ``words_progress`` (chunks recognised) shown on ``progress`` as the rest of step 1-2 after
    the words mode's listening. It is called from the helpers' threads: ``progress`` must be safe
    there (``runtime.Background``'s is; the window manager's is not)."""
    span = WORDS_LISTENING_SPAN
    return lambda done, total: progress(1 + span + (1 - span) * done / total, ANIMATE_STEPS)


def take_style(face_obj, options: AnimateOptions):
    """The style the take is animated in: a preset's or speaker's name, or the face's learned code
    (a tensor; InputError when the face has none). Reads the scene: call it where bpy is safe."""
    if options.style != REFERENCE_STYLE:
        return options.style
    import torch

    code = scene_data.style_code(face_obj)
    if code is None:
        raise InputError("No learned style on this face: run 'Learn Style from Take' first")
    return torch.tensor(code, dtype=torch.float32)


def hear_take(audio_path: str, style, options: AnimateOptions, weights_dir: str | None = None,
              progress: ProgressCallback | None = None, words_progress: ProgressCallback | None = None,
              listen_progress: ProgressCallback | None = None, cancelled=None) -> HeardTake:
    """Audio -> features -> ``Animation``, without touching Blender's data (a worker thread may run
    it): the transcript aligned or the words recognised, the network, intensities and smoothing.
    ``progress(done, ANIMATE_STEPS)`` after steps 1-3 (fractions while listening);
    ``listen_progress``, ``words_progress``: as ``animate``'s; ``cancelled()`` True stops it between
    steps and listening chunks, and the word recognition between chunks (InterruptedError)."""
    from ..core.animation import apply_intensity
    from ..core.audio import inference, listening, phones
    from ..core.audio.loading import load_audio

    step = _report(progress, ANIMATE_STEPS)
    audio = load_audio(audio_path)
    model = inference.load_animator(weights_dir or None)
    step(1)
    stop_if(cancelled, "animate")
    aligned, listened = ((options.alignment, options.listened) if options.alignment is not None
                         else align_transcript(audio, options.transcript, model, cancelled, options.trust_text))
    stop_if(cancelled, "animate")
    recognised = None
    if aligned is None and options.listening == "words" and phones.available():
        heard_progress = _listening(progress, listen_progress, 1, WORDS_LISTENING_SPAN, cancelled)
        recognised, listened = listening.recognise_and_listen(audio, model, cancelled=cancelled,
                                                              progress=words_progress, listening=heard_progress)
    step(2)
    anim = inference.animate(audio, model, style, seed=options.seed,
                             timed_phones=aligned.phones if aligned is not None else None, listened=listened,
                             recognised=recognised,
                             phone_mouth=options.phone_mouth, heard_phone_mouth=options.heard_phone_mouth,
                             progress=_listening(progress, listen_progress, 2, cancelled=cancelled))
    source = ("trusted transcript" if aligned is not None and aligned.trusted else "transcript" if aligned is not None
              else "word recogniser" if recognised is not None
              else "phone recogniser" if phones.available() else "audio features")
    anim = apply_intensity(anim, mouth=options.mouth, brows=options.brows, head=options.head,
                           blinks=options.blinks)
    anim = inference.smooth_take(model, anim, options.smoothing)
    step(3)
    stop_if(cancelled, "animate")
    return HeardTake(audio, anim, source, aligned, recognised,
                     tuple(audio.notes) + tuple(anim.notes) + trust_notes(aligned))


def trust_notes(aligned) -> tuple[str, ...]:
    """The report's warnings for a trusted text (``core.audio.alignment.Alignment``, or None): what
    the check would have refused, and how many pieces a text too long to search whole was cut into."""
    if aligned is None:
        return ()
    notes = ((f"Trust Text: the aligner's check would have refused this text, and the lips follow it as given "
              f"({aligned.check})",) if aligned.check else ())
    if aligned.pieces > 1:
        notes += (f"Trust Text: too long to search whole, the text was aligned in {aligned.pieces} pieces cut where "
                  f"the words Whisper heard pin it",)
    return notes


def write_take(context, face_obj, audio_path: str, options: AnimateOptions, heard: HeardTake,
               progress: ProgressCallback | None = None) -> AnimateResult:
    """``hear_take``'s animation -> a new Action on the face and its head control, the take's sound
    strip and the scene's range; ``progress(ANIMATE_STEPS, ANIMATE_STEPS)`` at the end."""
    from . import keyframes

    scene = context.scene
    audio, recognised, aligned = heard.audio, heard.recognised, heard.aligned
    start = scene.frame_start if options.start_frame is None else options.start_frame
    head = scene_data.head_object(face_obj)
    rest = face_object.load_fit(face_obj).pose if scene_data.is_face(face_obj) else None
    take = keyframes.write_take(
        heard.anim, name=os.path.splitext(os.path.basename(audio_path))[0], start_frame=start,
        scene_fps=scene_fps(scene), face_obj=face_obj, head_obj=head, head_rest=rest,
        tolerance=options.tolerance if options.reduce_keys else 0.0,
    )
    scene_data.set_take_audio(take.action, audio_path)
    scene_data.set_take_transcript(take.action, options.transcript.strip())
    scene_data.set_take_lipsync(take.action, heard.lipsync)
    scene_data.set_take_text_check(take.action, aligned.check if aligned is not None else "")
    scene_data.set_take_heard(take.action, recognised.text if recognised is not None else "")
    scene_data.set_take_heard_by(take.action, heard_by(recognised))
    scene_data.set_take_phone_mouth(take.action, heard.anim.phone_mouth)
    last = start + int(round(audio.duration * scene_fps(scene))) - 1
    take_sound(scene, take.action, audio_path, start, last + 1)
    if options.fit_range:     # a scene made for this take (headless without a .blend)
        scene.frame_end = max(last, scene.frame_start)
    else:                     # the shot's range only grows: a take never cuts what the scene spans
        scene.frame_start = min(scene.frame_start, start)
        scene.frame_end = max(scene.frame_end, last, start)
    _review_playback(scene)
    context.scene.talkface.audio_path = audio_path
    _report(progress, ANIMATE_STEPS)(4)
    return AnimateResult(take.action, take.n_keys, take.n_dense, take.missing_channels, audio.duration,
                         heard.lipsync, aligned.score if aligned is not None else None, take.flat_channels,
                         heard.notes, recognised.text if recognised is not None else "", heard_by(recognised))


def heard_by(recognised) -> str:
    """The name of the recogniser that heard a take's words ('' without word recognition)."""
    if recognised is None:
        return ""
    return {"whisper": "Whisper", "pocketsphinx": "PocketSphinx"}.get(recognised.source, recognised.source)


def animate(context, face_obj, audio_path: str, options: AnimateOptions | None = None,
            weights_dir: str | None = None, progress: ProgressCallback | None = None,
            words_progress: ProgressCallback | None = None,
            listen_progress: ProgressCallback | None = None) -> AnimateResult:
    """Audio -> features -> Animation -> a new Action on the face and its head control
    (``hear_take``, then ``write_take``). ``progress(done, ANIMATE_STEPS)`` after each step;
    ``listen_progress(done, total)``: chunks of audio the acoustic model scored (without a
    transcript; with one, listening runs beside the alignment); ``words_progress(done, total)``:
    chunks of the 'words' listening mode recognised, called from worker threads (a printer, not
    the UI)."""
    options = options or AnimateOptions()
    heard = hear_take(audio_path, take_style(face_obj, options), options, weights_dir, progress,
                      words_progress, listen_progress)
    return write_take(context, face_obj, audio_path, options, heard, progress)


def read_face_take(context, face_obj):
    """The face's take as edited (shape keys and head control, head as offsets from the photo's
    pose) at the scene's rate, and its first frame; InputError without one."""
    from . import keyframes

    head = scene_data.head_object(face_obj)
    rest = face_object.load_fit(face_obj).pose if scene_data.is_face(face_obj) else None
    try:
        return keyframes.read_take(face_obj, scene_fps(context.scene), head, rest)
    except ValueError as exc:
        raise InputError(str(exc)) from None


EXPORT_KINDS = ("CSV", "JSON")


def export_take(context, face_obj, path: str, kind: str) -> str:
    """The face's take (hand edits included) as a Live Link Face CSV or a TalkFace JSON file.
    Written beside the target and moved into place: a failed export leaves no partial file."""
    from ..core import take_files

    if kind not in EXPORT_KINDS:
        raise InputError(f"Unknown export format {kind!r}: use CSV or JSON")
    anim, first = read_face_take(context, face_obj)
    partial = f"{path}.partial"
    try:
        if kind == "CSV":
            take_files.write_live_link_csv(anim, partial)
        else:
            action = scene_data.current_take(face_obj)
            about = {"lipsync": scene_data.take_lipsync(action), "transcript": scene_data.take_transcript(action),
                     "text_check": scene_data.take_text_check(action),
                     "heard": scene_data.take_heard(action), "heard_by": scene_data.take_heard_by(action),
                     "phone_mouth": scene_data.take_phone_mouth(action)}
            take_files.write_json(anim, partial, start_frame=first, about=about)
        os.replace(partial, path)
    except OSError as exc:
        if os.path.exists(partial):
            os.remove(partial)
        raise InputError(f"Cannot write {path}: {exc.strerror}") from None
    return path


def _review_playback(scene) -> None:
    """Once per scene, set what lip-sync review needs: playback synced to the audio and audio
    scrubbing. Only where the animator has not chosen otherwise (the startup scene's 'Play Every
    Frame' is Blender's default, not a choice); never again after the first take."""
    if scene_data.playback_set(scene):
        return
    if scene.sync_mode == "NONE":
        scene.sync_mode = "AUDIO_SYNC"
    scene.use_audio_scrub = True
    scene_data.mark_playback_set(scene)


def bake(context, face_obj, out_dir: str, resolution: int, mode: str, device: str,
         weights_dir: str | None = None, progress: ProgressCallback | None = None, log=None,
         batch: int = 8) -> list[str]:
    """Scene animation -> dense flow -> frames on disk -> image strip in the sequencer.

    Synchronous (headless and ``execute``); the modal operator drives ``Bake`` step by step.
    ``progress(done, total)`` is called after each batch of frames and once at the end.
    """
    from .bake import Bake  # through keyframes it needs scipy: loaded on use, not at registration

    baker = Bake(context, face_obj, out_dir, resolution, mode, device, weights_dir, batch=batch, log=log)
    try:
        while not baker.step():
            if progress is not None:
                progress(baker.done, baker.total)
    except BaseException:
        baker.cancel()
        raise
    if progress is not None:
        progress(baker.total, baker.total)
    return baker.finish()


def require_face(context):
    obj = face_object.find_face(context)
    if obj is None:
        raise InputError("No fitted face in the scene: run 'Fit Face from Photo' first")
    return obj


def set_scene_fps(scene, fps: float) -> None:
    """Store any fps exactly as Blender does: an integer rate over a base (29.97 = 30/1.001)."""
    if fps <= 0:
        raise InputError(f"Frame rate must be positive, got {fps}")
    rounded = round(fps)
    if abs(fps - rounded) < 1e-6:
        scene.render.fps, scene.render.fps_base = int(rounded), 1.0
    else:
        ntsc = round(fps * 1.001)
        if abs(ntsc / 1.001 - fps) < 1e-3:
            scene.render.fps, scene.render.fps_base = int(ntsc), 1.001
        else:
            scene.render.fps, scene.render.fps_base = int(rounded), rounded / fps


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base
