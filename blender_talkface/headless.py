# SPDX-License-Identifier: GPL-3.0-or-later
"""Headless pipeline: one photo + one recording -> .blend, PNG frames and an mp4.

Run it with a real Blender (4.2 or newer)::

    blender -b [scene.blend] --python blender_talkface/headless.py -- \\
        --photo P --audio A --out DIR [--resolution 512] [--device auto|cpu|cuda] [--fps 25]

or with the bpy module's Python: ``python blender_talkface/headless.py -- --photo ...``.

Exit status: 0 all requested stages ran; 2 bad input (one line on stderr); 3 a requested stage
cannot run because its weights are missing or altered (what did run is saved and listed); 1 an
unexpected failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
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

from ..core.audio.loading import load_audio
from ..core.errors import DeviceError, InputError, MissingWeightsError, TalkFaceError
from ..core.face.image_io import load_photo
from ..core.progress import Progress
from . import pipeline, register
from .sequencer import render_video

STAGES = ("fit", "animate", "bake", "video")
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3


class UsageError(Exception):
    """A bad command line or input, reported as one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, never argparse's multi-line usage dump
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="talkface", description="Photo + speech -> animated face and video.")
    parser.add_argument("--photo", required=True, help="portrait photo (png, jpg, ...)")
    parser.add_argument("--audio", required=True, help="speech recording (wav, flac, ogg, mp3)")
    parser.add_argument("--out", required=True, help="output folder (created if needed)")
    parser.add_argument("--resolution", default="512", help="output size, a positive multiple of 8")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--fps", default="25", help="scene frame rate, e.g. 25, 24, 29.97")
    parser.add_argument(
        "--transcript", default=None, metavar="FILE|TEXT",
        help="what the line says (English), as a text file or the text itself: the audio is aligned "
             "to it and the lips close exactly on its p, b and m",
    )
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
    path = os.path.abspath(os.path.expanduser(path))
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".talkface-write-test-"):
            pass
    except OSError as exc:
        raise UsageError(f"output folder cannot be written: {path} ({exc.strerror})") from None
    return path


def validate(ns: argparse.Namespace) -> argparse.Namespace:
    """Check every argument before any heavy work, so bad input fails fast and writes nothing."""
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
    ns.transcript = _transcript_text(ns.transcript)
    ns.out = _writable_dir(ns.out)
    return ns


def _load_inputs(ns) -> None:
    """Decode photo and audio up front: an unreadable file must fail before any stage runs."""
    # torch loads here, after the arguments are checked: bad arguments fail fast
    from ..core.device import free_memory, resolve_device
    from ..core.video.synthesis import frame_size, plan_batch

    try:
        device = resolve_device(ns.device)
        photo = load_photo(ns.photo)
        if not ns.keys_only:  # a resolution the bake cannot hold fails now, not after the fit
            plan_batch(frame_size(photo.width, photo.height, ns.resolution), 1, free_memory(device),
                       device.type)
        audio = load_audio(ns.audio)
        # the transcript is aligned now: a text for other audio fails before any stage runs
        ns.alignment = pipeline.align_transcript(audio, ns.transcript)
    except (DeviceError, InputError) as exc:
        raise UsageError(str(exc)) from None


def log(message: str) -> None:
    print(f"[talkface] {message}", file=sys.stderr, flush=True)


def _ensure_registered() -> None:
    """Register TalkFace unless an installed, enabled copy already did."""
    if not hasattr(bpy.types.Scene, "talkface"):
        register()


def run(ns) -> int:
    _ensure_registered()
    context = bpy.context
    scene = context.scene
    pipeline.set_scene_fps(scene, ns.fps)
    scene.talkface.resolution = ns.resolution
    wanted = ("fit", "animate") if ns.keys_only else STAGES
    ran: list[str] = []
    blend_path = os.path.join(ns.out, "scene.blend")

    def save():
        bpy.ops.wm.save_as_mainfile(filepath=blend_path, check_existing=False)
        backup = blend_path + "1"  # Blender's backup of an earlier save: not an output
        if os.path.exists(backup):
            os.remove(backup)

    try:
        t0 = time.perf_counter()
        log("fit: fitting the face model to the photo")
        fitted = pipeline.fit_face(context, ns.photo)
        for note in fitted.fit.notes:
            log(f"fit: {note}")
        log(f"fit: done in {time.perf_counter() - t0:.1f}s "
            f"(landmark error {100 * fitted.fit.error_iod:.1f}% of the eye distance)")
        ran.append("fit")
        face = fitted.obj

        log("animate: audio to animation")
        t0 = time.perf_counter()
        options = pipeline.AnimateOptions(transcript=ns.transcript, alignment=ns.alignment)
        take = pipeline.animate(context, face, ns.audio, options)
        log(f"animate: keyed '{take.action.name}' ({take.duration:.1f}s of speech, {take.n_keys} keys) "
            f"in {time.perf_counter() - t0:.1f}s; lips timed by the {take.lipsync}")
        ran.append("animate")
        if "bake" in wanted:
            pipeline.bake(context, face, os.path.join(ns.out, "frames"), ns.resolution, "AUTO",
                          ns.device, progress=Progress("bake", scene.frame_end - scene.frame_start + 1),
                          log=lambda m: log(f"bake: {m}"))
            ran.append("bake")
            save()
            log("video: rendering video.mp4")
            t0 = time.perf_counter()
            render_video(scene, os.path.join(ns.out, "video.mp4"))
            log(f"video: done in {time.perf_counter() - t0:.1f}s")
            ran.append("video")
    except MissingWeightsError as exc:  # a stage without its weights: keep what ran
        missing = [s for s in wanted if s not in ran]
        if ran:
            save()
        log(f"stages ran: {', '.join(ran) or 'none'}; not run: {', '.join(missing)}")
        print(f"talkface: {exc}", file=sys.stderr, flush=True)
        if ran:
            log(f"wrote {blend_path}")
        return EXIT_UNAVAILABLE
    save()
    log(f"stages ran: {', '.join(ran)}; wrote {blend_path}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    try:
        ns = validate(build_parser().parse_args(script_args(sys.argv if argv is None else argv)))
        _load_inputs(ns)
        return run(ns)
    except UsageError as exc:
        print(f"talkface: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except InputError as exc:
        print(f"talkface: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except TalkFaceError as exc:
        print(f"talkface: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - a pipeline wants one line and a status, not a hang
        import traceback

        traceback.print_exc()
        print(f"talkface: unexpected failure: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED

