# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless pipeline: one photo + one recording -> .blend, PNG frames and an mp4.

Three ways to run it, with the same flags and exit codes:

    blender -b [scene.blend] -c talkface --photo P --audio A --out DIR [...]   (installed extension)
    blender -b [scene.blend] --python blender_talkface/headless.py -- --photo P ...   (source tree)
    python blender_talkface/headless.py -- --photo P ...                (the bpy module's Python)

``--help`` lists every flag.

Exit status: 0 all requested stages ran; 2 bad input (one line on stderr); 3 a requested stage
cannot run (weights missing or damaged, PyTorch missing: checked before any work, nothing is
written); 1 an output could not be written completely, or an unexpected failure; 130 / 143
interrupted (SIGINT / SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time


def _bootstrap_and_run() -> int:
    """Load the source tree as the package 'talkface' (relative imports need a package)."""
    import importlib
    import importlib.util

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if "talkface" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "talkface", os.path.join(root, "__init__.py"), submodule_search_locations=[root]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules["talkface"] = package
        spec.loader.exec_module(package)
    return importlib.import_module("talkface.blender_talkface.headless").main()


if __name__ == "__main__" and not __package__:  # run as a script: rerun as the package's module
    sys.exit(_bootstrap_and_run())

# below the script bootstrap: relative imports need the package
import bpy

from ..core import run_record
from ..core.audio.loading import load_audio
from ..core.errors import DamagedFileError, DeviceError, InputError, MissingWeightsError, TalkFaceError
from ..core.face.image_io import load_photo
from ..core.face.landmarks import detect_landmarks
from ..core.face.model import MODEL_FILE as FACE_MODEL_FILE
from ..core.progress import Progress
from ..core.weights import weights_path
from . import dependencies, outputs, pipeline, register
from .sequencer import make_portable, move_image_strips, render_video

STAGES = ("fit", "animate", "bake", "video")
INTENSITIES = ("mouth", "brows", "head", "blinks")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143   # 128 + SIGINT / SIGTERM, as shells report them
MIN_FRAME_SIDE = 16           # px: smaller frames are not worth a bake and some encoders refuse them


class UsageError(Exception):
    """A bad command line or input, reported as one line with exit status 2."""


LISTENING = ("words", "phones")     # --listen: pipeline.AnimateOptions.listening


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, never argparse's multi-line usage dump
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="talkface", description="Photo + speech -> animated face and video.")
    parser.add_argument("--photo", help="portrait photo (png, jpg, ...); required")
    parser.add_argument("--audio", help="speech recording (wav, flac, ogg, mp3); required")
    parser.add_argument("--out", help="output folder (created if needed); required")
    parser.add_argument("--resolution", default="512", help="output size, a positive multiple of 8")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--fps", default="25", help="scene frame rate, e.g. 25, 24, 29.97")
    parser.add_argument(
        "--transcript", default=None, metavar="FILE|TEXT",
        help="what the line says (English), as a text file or the text itself: the audio is aligned "
             "to it and the lips close exactly on its p, b and m",
    )
    parser.add_argument(
        "--trust-transcript", action="store_true",
        help="use the --transcript even where the aligner's check says it does not fit the audio (a right "
             "text on a stylised or synthetic voice, a strong accent): the lips follow it as given",
    )
    parser.add_argument(
        "--listen", default="words",
        help="without --transcript, how the lips find p, b and m: 'words' (the default: English words heard "
             "by Whisper when it is installed, else by PocketSphinx, aligned to the audio, with the phone "
             "recogniser; Whisper 4-5x real time on two slow cores, PocketSphinx about twice that) or 'phones' "
             "(the phone recogniser alone: four to ten times as fast, fewer of them in real voices; for farms "
             "and first passes); with --transcript the text decides",
    )
    take = parser.add_argument_group("the take (the panel's Animate from Audio settings)")
    take.add_argument("--style", default="Neutral",
                      help="style preset or training speaker name (--list-styles shows them)")
    take.add_argument("--list-styles", action="store_true", help="print the style names and exit")
    for part in INTENSITIES:
        take.add_argument(f"--{part}", default="1", help=f"{part} intensity, 0 to 2 (1: as the network says)")
    take.add_argument("--phone-mouth", default="0.5",
                      help="share of the mouth and jaw that follows the transcript's phones, or without one the "
                           "phones of the words Whisper heard (only where the mouth is open), 0 to 1 (the network "
                           "gives the rest)")
    take.add_argument("--phone-mouth-heard", action="store_true",
                      help="without --transcript, let the other recognisers' phones (PocketSphinx's words, the phone "
                           "recogniser's) give that share too, only where the mouth is open (English speech)")
    take.add_argument("--smoothing", default="0",
                      help="Gaussian smoothing of the curves in seconds, 0 to 1 (closed lips stay closed)")
    take.add_argument("--tolerance", default="0.01",
                      help="key reduction tolerance in weight units (head channels: a tenth of it)")
    take.add_argument("--no-reduce-keys", action="store_true", help="a key on every frame")
    take.add_argument("--start-frame", default=None,
                      help="scene frame where the recording starts (default: the scene's first frame)")
    take.add_argument("--seed", default="0", help="seed of the blink timing (whole number)")
    parser.add_argument("--mode", default="auto", help="bake mode: auto, neural or warp")
    parser.add_argument("--export-csv", default=None, metavar="PATH",
                        help="also write the take as a Live Link Face CSV (a relative path is inside --out)")
    parser.add_argument("--export-json", default=None, metavar="PATH",
                        help="also write the take as TalkFace JSON (a relative path is inside --out)")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace the outputs of an earlier run in --out (its scene.blend is kept as scene.blend1)")
    parser.add_argument(
        "--keys-only", action="store_true",
        help="fit and animate only: write scene.blend with the keyed Action, no frames or video",
    )
    return parser


def script_args(argv: list[str]) -> list[str]:
    """Arguments after '--' (Blender passes its own before it), else everything after argv[0]."""
    return argv[argv.index("--") + 1:] if "--" in argv else argv[1:]


def _readable_file(path: str, what: str) -> str:
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        raise UsageError(f"{what} file not found: {path}")
    if not os.path.isfile(path):
        raise UsageError(f"{what} path is not a file: {path}")
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise UsageError(f"{what} file cannot be read: {path} ({exc.strerror})") from None
    return path


def _transcript_text(value: str | None) -> str:
    """--transcript: a file's text (UTF-8) when the value names a file, else the value itself."""
    if value is None:
        return ""
    path = os.path.abspath(os.path.expanduser(value))
    if os.path.isfile(path):
        try:
            with open(path, encoding="utf-8") as fh:
                value = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"transcript file cannot be read as UTF-8 text: {path} ({exc})") from None
    if not value.strip():
        raise UsageError("the transcript is empty: give the line's words, or leave --transcript out")
    return value.strip()


def _writable_dir(path: str) -> str:
    """The output folder, checked without creating it (bad input must leave nothing behind): it,
    or its nearest existing parent, must be a folder this process can write into."""
    path = os.path.abspath(os.path.expanduser(path))
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise UsageError(f"output folder cannot be written: {path} ({probe} is a file)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"output folder cannot be written: {path} (no write permission in {probe})")
    return path


def _number(ns, name: str, kind, lo=None, hi=None):
    text = getattr(ns, name)
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise UsageError(f"--{name.replace('_', '-')} must be a {'whole number' if kind is int else 'number'}, "
                         f"got {text!r}") from None
    if (lo is not None and value < lo) or (hi is not None and value > hi) or value != value:
        raise UsageError(f"--{name.replace('_', '-')} must be between {lo:g} and {hi:g}, got {text}")
    setattr(ns, name, value)


def validate(ns: argparse.Namespace) -> argparse.Namespace:
    """Check every argument before any heavy work, so bad input fails fast and writes nothing."""
    missing = [f"--{n}" for n in ("photo", "audio", "out") if not getattr(ns, n)]
    if missing:
        raise UsageError(f"the following arguments are required: {', '.join(missing)}")
    for part in INTENSITIES:
        _number(ns, part, float, 0.0, 2.0)
    _number(ns, "phone_mouth", float, 0.0, 1.0)
    _number(ns, "smoothing", float, 0.0, 1.0)
    _number(ns, "tolerance", float, 1e-4, 0.2)
    _number(ns, "seed", int, 0, 2 ** 31 - 1)
    if ns.start_frame is not None:
        _number(ns, "start_frame", int, -1_048_574, 1_048_574)
    ns.mode = ns.mode.lower()
    if ns.mode not in ("auto", "neural", "warp"):
        raise UsageError(f"unknown mode {ns.mode!r}: use auto, neural or warp")
    ns.photo = _readable_file(ns.photo, "photo")
    ns.audio = _readable_file(ns.audio, "audio")
    try:
        ns.resolution = int(ns.resolution)
    except ValueError:
        raise UsageError(f"resolution must be a whole number, got {ns.resolution!r}") from None
    if ns.resolution <= 0 or ns.resolution % 8:
        raise UsageError(f"resolution must be a positive multiple of 8, got {ns.resolution}")
    ns.device = ns.device.lower()
    if ns.device not in ("auto", "cpu", "cuda"):
        raise UsageError(f"unknown device {ns.device!r}: use auto, cpu or cuda")
    try:
        ns.fps = float(ns.fps)
    except ValueError:
        raise UsageError(f"fps must be a number, got {ns.fps!r}") from None
    if not 1.0 <= ns.fps <= 240.0:
        raise UsageError(f"fps must be between 1 and 240, got {ns.fps:g}")
    ns.listen = ns.listen.lower()
    if ns.listen not in LISTENING:
        raise UsageError(f"unknown listening mode {ns.listen!r}: use {' or '.join(LISTENING)}")
    ns.transcript = _transcript_text(ns.transcript)
    if ns.trust_transcript and not ns.transcript:
        raise UsageError("--trust-transcript trusts the --transcript: give the line's text with it")
    ns.out = _writable_dir(ns.out)
    found = run_record.existing_outputs(ns.out) if os.path.isdir(ns.out) else []
    if found and not ns.overwrite:
        raise UsageError(f"{ns.out} already holds {', '.join(found)} from an earlier run: give --overwrite to "
                         "replace them (scene.blend is kept as scene.blend1) or choose another --out")
    for flag in ("export_csv", "export_json"):
        path = getattr(ns, flag)
        if path is not None:
            path = os.path.join(ns.out, os.path.expanduser(path))     # an absolute path stays itself
            if os.path.isdir(path):
                raise UsageError(f"--{flag.replace('_', '-')} names a folder: {path}")
            _writable_dir(os.path.dirname(path))
            setattr(ns, flag, path)
    return ns


def _load_inputs(ns) -> None:
    """Decode photo and audio up front: an unreadable file must fail before any stage runs."""
    # torch loads here, after the arguments are checked: bad arguments fail fast
    from ..core.audio import inference
    from ..core.device import free_memory, resolve_device
    from ..core.video.synthesis import frame_size, plan_batch

    model = inference.load_animator()    # missing (exit 3) or damaged: before any work, not after the fit
    try:
        inference.resolve_style(model, ns.style)   # an unknown style fails now, not after the fit
        device = resolve_device(ns.device)
        photo = load_photo(ns.photo)
        ns.loaded_photo, ns.landmarks = photo, detect_landmarks(photo)   # no face, a turned face: now
        if not ns.keys_only:  # a resolution the bake cannot hold fails now, not after the fit
            size = frame_size(photo.width, photo.height, ns.resolution)
            if min(size) < MIN_FRAME_SIDE:
                raise InputError(f"--resolution {ns.resolution} gives {size[0]}x{size[1]} frames for this "
                                 f"photo: each side must be at least {MIN_FRAME_SIDE} px")
            plan_batch(size, 1, free_memory(device), device.type)
        audio = load_audio(ns.audio)
        # the transcript is aligned now: a text for other audio fails before any stage runs
        ns.alignment, ns.listened = pipeline.align_transcript(audio, ns.transcript, model,
                                                              trusted=ns.trust_transcript)
    except (DeviceError, InputError) as exc:
        raise UsageError(str(exc)) from None
    # every weights file a requested stage reads is checked now: a damaged one (DamagedFileError,
    # exit 3) stops the run before the fit, never after it replaced a complete scene
    weights_path(FACE_MODEL_FILE)
    if not ns.keys_only and ns.mode != "warp":
        from ..core.video.generator import load_generator, load_mouth_generator

        try:
            load_generator()
        except MissingWeightsError:
            if ns.mode == "neural":
                raise          # this build cannot run a neural bake (exit 3)
        else:
            load_mouth_generator()     # optional; a damaged one stops the run now (exit 3)


def list_styles() -> int:
    from ..core.audio import inference

    model = inference.load_animator()
    presets = inference.style_names(model)
    print("\n".join(presets + tuple(s for s in model.cfg.styles if s not in presets)))
    return EXIT_OK


def log(message: str) -> None:
    print(f"[talkface] {message}", file=sys.stderr, flush=True)


def _ensure_registered() -> None:
    """Register TalkFace unless an installed, enabled copy already did."""
    if not hasattr(bpy.types.Scene, "talkface"):
        register()


def _clear_startup_scene() -> bool:
    """Without a .blend to add to, start from an empty scene: the startup file's Cube, Light and
    Camera are not part of a TalkFace shot. True when the scene is TalkFace's own."""
    if bpy.data.filepath:
        return False
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    for blocks in (bpy.data.meshes, bpy.data.lights, bpy.data.cameras, bpy.data.materials):
        for block in [b for b in blocks if b.users == 0]:
            blocks.remove(block)
    bpy.context.view_layer.update()
    return True


def _remove_stale(folder: str, names) -> None:
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def run(ns, handoff: str | None = None) -> int:
    """Fit, animate and (unless keys-only) bake, render and save into ``ns.out``. With ``handoff``
    (the batch command's split between a CPU and a GPU worker) the run stops after the take and
    saves the scene at that path for ``finish_args`` to bake; nothing is written into --out."""
    _ensure_registered()
    own_scene = _clear_startup_scene()
    context = bpy.context
    scene = context.scene
    if ns.start_frame is not None and ns.start_frame < scene.frame_start:
        raise UsageError(f"--start-frame {ns.start_frame} is before the scene's first frame ({scene.frame_start})")
    try:
        os.makedirs(ns.out, exist_ok=True)    # every input checked: the first thing written
    except OSError as exc:
        raise UsageError(f"output folder cannot be written: {ns.out} ({exc.strerror})") from None
    pipeline.set_scene_fps(scene, ns.fps)
    scene.talkface.resolution = ns.resolution

    t0 = time.perf_counter()
    log("fit: fitting the face model to the photo")
    fitted = pipeline.fit_face(context, ns.photo, photo=ns.loaded_photo, landmarks=ns.landmarks)
    for note in fitted.fit.notes:
        log(f"fit: {note}")
    log(f"fit: done in {time.perf_counter() - t0:.1f}s "
        f"(landmark error {100 * fitted.fit.error_iod:.1f}% of the eye distance)")
    face = fitted.obj

    log("animate: audio to animation")
    t0 = time.perf_counter()
    options = pipeline.AnimateOptions(
        style=ns.style, mouth=ns.mouth, brows=ns.brows, head=ns.head, blinks=ns.blinks,
        smoothing=ns.smoothing, reduce_keys=not ns.no_reduce_keys, tolerance=ns.tolerance,
        start_frame=ns.start_frame, seed=ns.seed, transcript=ns.transcript, trust_text=ns.trust_transcript,
        alignment=ns.alignment,
        listened=ns.listened, listening=ns.listen, phone_mouth=ns.phone_mouth,
        heard_phone_mouth=ns.phone_mouth_heard, fit_range=own_scene)
    words = Progress("animate: words", 0, unit="chunks") if ns.listen == "words" else None
    listening = Progress("animate: listening", 0, unit="chunks") if not ns.transcript else None
    take = pipeline.animate(context, face, ns.audio, options, words_progress=words, listen_progress=listening)
    for note in take.notes:
        log(f"animate: warning: {note}")
    if take.lipsync == "word recogniser":
        log(f"animate: {pipeline.heard_summary(take.heard, correct='and run again with them as --transcript')}")
    if take.flat_channels:
        log(f"animate: {pipeline.flat_summary(take.flat_channels)}")
    log(f"animate: keyed '{take.action.name}' ({take.duration:.1f}s of speech, {take.n_keys} keys) "
        f"in {time.perf_counter() - t0:.1f}s; lips timed by the {take.timed_by}")
    for path, kind in ((ns.export_csv, "CSV"), (ns.export_json, "JSON")):
        if path is not None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            pipeline.export_take(context, face, path, kind)
            log(f"export: wrote {path}")
    if handoff is not None:
        os.makedirs(os.path.dirname(handoff), exist_ok=True)
        outputs.save_blend(handoff)
        log(f"stages ran: fit, animate; handed over as {handoff}")
        return EXIT_OK
    return _bake_and_save(ns, context, face)


def _bake_and_save(ns, context, face) -> int:
    """After the fit and the take: the bake and video (unless keys-only), then the one save that
    replaces the folder's outputs, then the record that the run finished (``core.run_record``)."""
    scene = context.scene
    ran = ["fit", "animate"]
    blend_path = os.path.join(ns.out, "scene.blend")
    rendered = None                        # the checked video, renamed into place after the save
    # frames go to a folder of their own until the whole run succeeded, then replace frames/ in
    # one rename: a failure at the video or the save leaves the old ones
    staged = os.path.join(ns.out, f".talkface-frames-{os.getpid()}")

    def save():
        """Once per run, last: a previous scene.blend becomes scene.blend1 (older backups shift, none
        is deleted); a save that does not complete leaves everything as it was (OutputError)."""
        with run_record.withdrawn(ns.out), outputs.swap_folder(staged, os.path.join(ns.out, "frames")) as swapped:
            if swapped:
                move_image_strips(scene, staged, os.path.join(ns.out, "frames"))
            make_portable(scene, ns.out)    # '//frames/', '//video.mp4'; photo and speech packed
            outputs.save_blend(blend_path)
            if rendered is not None:
                os.replace(rendered, os.path.join(ns.out, "video.mp4"))
            if ns.keys_only:                # another run's frames and video would sit beside it
                _remove_stale(ns.out, ("frames", "video.mp4"))
        written = run_record.existing_outputs(ns.out) + [
            os.path.relpath(p, ns.out) for p in (ns.export_csv, ns.export_json)
            if p is not None and os.path.commonpath([p, ns.out]) == ns.out]
        run_record.write(ns.out, ns.args, written)

    try:
        if not ns.keys_only:
            pipeline.bake(context, face, staged, ns.resolution, ns.mode.upper(),
                          ns.device, progress=Progress("bake", scene.frame_end - scene.frame_start + 1),
                          log=lambda m: log(f"bake: {m}"))
            ran.append("bake")
            log("video: rendering video.mp4")
            t0 = time.perf_counter()
            rendered = outputs.render_video(scene, os.path.join(ns.out, "video.mp4"), render_video)
            scene.render.filepath = os.path.join(ns.out, "video.mp4")
            log(f"video: done in {time.perf_counter() - t0:.1f}s")
            ran.append("video")
        save()
    finally:                               # a failed run: the frames and video it made go too
        shutil.rmtree(staged, ignore_errors=True)
        if rendered is not None and os.path.exists(rendered):
            os.remove(rendered)
    log(f"stages ran: {', '.join(ran)}; wrote {blend_path}")
    return EXIT_OK


def finish(ns, handoff: str) -> int:
    """The batch's second half: open the scene ``run(ns, handoff)`` saved, bake, render and save
    into --out (the hand-over file is removed once the outputs are in place)."""
    try:
        bpy.ops.wm.open_mainfile(filepath=handoff)
    except RuntimeError as exc:
        raise TalkFaceError(f"the animated scene {handoff} cannot be opened ({str(exc).strip()})") from None
    _ensure_registered()
    code = _bake_and_save(ns, bpy.context, pipeline.require_face(bpy.context))
    os.remove(handoff)
    return code


def command(args: list[str]) -> int:
    """``blender -c talkface ARGS``: Blender passes the arguments after the command's name. ``--help``
    prints the flags and returns 0 (argparse's own exit is caught: Blender wants a status)."""
    try:
        return run_args(list(args))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """The script's entry point: the arguments after '--' (or after argv[0]). A .blend named
    before '--' is the scene to add to: ``blender -b shot.blend --python headless.py -- ...``
    has already opened it; the bpy module's ``python headless.py shot.blend -- ...`` opens it here."""
    argv = sys.argv if argv is None else argv
    blend = given_blend(argv)
    if blend is not None and os.path.abspath(bpy.data.filepath or "") != blend and not open_shot(blend):
        return EXIT_BAD_INPUT
    return run_args(script_args(argv))


def open_shot(blend: str) -> bool:
    """Open the .blend a take is added to; False after one 'talkface: error:' line when it is
    missing or not a .blend."""
    if not os.path.isfile(blend):
        print(f"talkface: error: the .blend to add to was not found: {blend}", file=sys.stderr, flush=True)
        return False
    try:
        bpy.ops.wm.open_mainfile(filepath=blend)
    except RuntimeError as exc:
        print(f"talkface: error: {blend} cannot be opened as a .blend ({str(exc).strip()})",
              file=sys.stderr, flush=True)
        return False
    return True


def given_blend(argv: list[str]) -> str | None:
    """The last ``*.blend`` among the arguments before '--' (Blender's own and the script's)."""
    before = argv[1:argv.index("--")] if "--" in argv else []
    blends = [a for a in before if a.lower().endswith(".blend")]
    return os.path.abspath(os.path.expanduser(blends[-1])) if blends else None


def missing_packages(ns) -> str | None:
    """What a requested stage cannot run without (checked before anything is written)."""
    stages = ("animate",) if ns.list_styles else ("fit", "animate") + (() if ns.keys_only else ("bake",))
    for stage in stages:
        problem = dependencies.problem(stage)
        if problem:
            if "PyTorch" in problem:
                problem = ("PyTorch is not installed: in Blender, TalkFace's preferences > Install PyTorch; "
                           "in another Python, pip install torch==2.13.0")
            return problem
    return None


class Terminated(BaseException):
    """SIGTERM (timeout, schedulers, container stops), handled like Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Terminated()


def run_args(args: list[str]) -> int:
    """Run with SIGTERM handled like SIGINT: the bake's staging is removed, nothing is saved, the
    earlier outputs stay as they were; one line, exit 143 (SIGTERM) or 130 (SIGINT)."""
    import signal

    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:                 # not the main thread: leave signals to the host
        previous = None
    try:
        return run_once(args)
    except (KeyboardInterrupt, Terminated) as exc:
        name = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
        print(f"talkface: interrupted ({name}): nothing was saved; earlier outputs are unchanged",
              file=sys.stderr, flush=True)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _parsed(args: list[str]):
    """Parsed and checked arguments; None after printing a stage that cannot run (exit 3)."""
    ns = build_parser().parse_args(args)
    ns.args = list(args)
    problem = missing_packages(ns)
    if problem:   # a stage that cannot run here: nothing is written (exit 3)
        print(f"talkface: {problem}", file=sys.stderr, flush=True)
        return None
    return ns


def run_once(args: list[str], handoff: str | None = None) -> int:
    """One run from its arguments, signals left to the host (the batch workers); ``run_args``
    is the command-line form."""
    def go():
        ns = _parsed(args)
        if ns is None:
            return EXIT_UNAVAILABLE
        if ns.list_styles:
            return list_styles()
        ns = validate(ns)
        _load_inputs(ns)
        return run(ns, handoff)

    return _reported(go)


def finish_args(args: list[str], handoff: str) -> int:
    """Bake, render and save the scene a ``run_once(args, handoff)`` handed over (same exit
    statuses); the arguments are checked again, the inputs were loaded by the first half."""
    def go():
        ns = _parsed(args)
        return EXIT_UNAVAILABLE if ns is None else finish(validate(ns), handoff)

    return _reported(go)


def _reported(go) -> int:
    """``go()``'s status, every failure as one line and its exit status."""
    try:
        return go()
    except MissingWeightsError as exc:   # a requested stage without its weights: nothing runs
        print(f"talkface: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNAVAILABLE
    except UsageError as exc:
        print(f"talkface: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except InputError as exc:
        print(f"talkface: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except DamagedFileError as exc:       # a stage this installation cannot run until restored
        print(f"talkface: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNAVAILABLE
    except TalkFaceError as exc:
        print(f"talkface: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - a pipeline wants one line and a status, not a hang
        import traceback

        traceback.print_exc()
        print(f"talkface: unexpected failure: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED

