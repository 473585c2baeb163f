"""Bad and unusual inputs through the headless command: does every one end well?

    .venv/bin/python bench/bad_inputs.py [--only NAME ...] [--keep DIR]

Each case makes its inputs in a scratch folder (photos, audio, option values, output folders,
weights, signals), runs ``blender_talkface/headless.py`` as a pipeline would, and checks:
  exit      the status (0 ran, 1 failed, 2 bad input, 3 a stage cannot run, 143 SIGTERM)
  message   the one 'talkface:' line, if any (a traceback counts as a crash)
  written   what the run left in the output folder
  kept      whether files that were there before are byte-identical afterwards
  verdict   ok when the status is the expected one, nothing crashed, no earlier file changed and
            a failed run left nothing that looks complete; otherwise CRASH / WRONG / LOST.
Prints a table and the totals. Goal (issue 15): 0 crashes, 0 silent wrong outputs, 0 data lost.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from talkface.core import run_record

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "blender_talkface", "headless.py")
PORTRAIT = os.path.join(ROOT, "samples", "portrait.png")
SPEECH = os.path.join(ROOT, "samples", "speech.wav")
RECORD = run_record.FILE_NAME       # what a finished run leaves (.talkface-done.json)


@dataclass
class Case:
    name: str
    expect: tuple[int, ...]            # acceptable exit statuses
    args: list[str] = field(default_factory=list)
    env: dict = field(default_factory=dict)
    prepare: object = None             # prepare(work) -> dict of replacements for '{...}' in args
    preexisting: bool = False          # start with a complete earlier run in the output folder
    sigterm_after: str | None = None   # send SIGTERM when stderr shows this text
    wrapper: str | None = None         # run through python -c wrapper (weights swaps)
    must_say: str = ""                 # the message must contain this


# --- inputs -----------------------------------------------------------------------------------------

def _photo(work, name, fn):
    from PIL import Image

    img = fn(Image.open(PORTRAIT).convert("RGB"))
    path = os.path.join(work, name)
    img.save(path, **({"exif": _exif(6)} if name.startswith("exif") else {}))
    return path


def _exif(orientation):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def _wav(work, name, samples, rate=16000, subtype="PCM_16"):
    import soundfile as sf

    path = os.path.join(work, name)
    sf.write(path, samples, rate, subtype=subtype)
    return path


def _speech():
    from talkface.core.audio.loading import load_audio

    return load_audio(SPEECH).samples


def _bytes(work, name, data):
    path = os.path.join(work, name)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


WEIGHTS_SWAP = r"""
import shutil, sys
from pathlib import Path
import talkface.core.weights as weights
folder, what = Path(sys.argv[1]), sys.argv[2]
shutil.copytree(weights.DEFAULT_DIR, folder)
name, _, action = what.partition(":")
target = folder / name
if action == "remove":
    target.unlink()
elif action == "truncate":
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
else:
    data = bytearray(target.read_bytes()); data[len(data) // 2] ^= 0xFF; target.write_bytes(bytes(data))
weights.DEFAULT_DIR = folder
from talkface.blender_talkface import headless
sys.exit(headless.main(["headless", "--", *sys.argv[3:]]))
"""


def cases() -> list[Case]:
    s = _speech

    def photo(name, fn):
        return lambda w: {"photo": _photo(w, name, fn)}

    def audio(name, make, **kw):
        return lambda w: {"audio": _wav(w, name, make(), **kw)}

    def raw_audio(name, data):
        return lambda w: {"audio": _bytes(w, name, data)}

    from PIL import Image

    keys = ["--keys-only"]
    base = ["--photo", "{photo}", "--audio", "{audio}", "--out", "{out}"]
    out = [
        # photos
        Case("photo missing", (2,), base + keys, prepare=lambda w: {"photo": os.path.join(w, "none.png")}),
        Case("photo is text", (2,), base + keys, prepare=lambda w: {"photo": _bytes(w, "p.jpg", b"hello")}),
        Case("photo empty file", (2,), base + keys, prepare=lambda w: {"photo": _bytes(w, "p.png", b"")}),
        Case("photo truncated", (2,), base + keys,
             prepare=lambda w: {"photo": _bytes(w, "p.png", open(PORTRAIT, "rb").read()[:5000])}),
        Case("photo is a folder", (2,), base + keys, prepare=lambda w: {"photo": w}),
        Case("photo without face", (2,), base + keys,
             prepare=photo("sky.png", lambda im: Image.new("RGB", (512, 512), (90, 140, 220)))),
        Case("photo tiny", (2,), base + keys, prepare=photo("tiny.png", lambda im: im.resize((24, 24)))),
        Case("photo upside down", (2,), base + keys, must_say="upside down",
             prepare=photo("ud.png", lambda im: im.transpose(Image.Transpose.ROTATE_180))),
        Case("photo sideways (EXIF 6)", (0,), base + keys,
             prepare=photo("exif6.jpg", lambda im: im.transpose(Image.Transpose.ROTATE_90))),
        Case("photo grayscale", (0,), base + keys, prepare=photo("gray.png", lambda im: im.convert("L"))),
        Case("photo with alpha", (0,), base + keys, prepare=photo("rgba.png", lambda im: im.convert("RGBA"))),
        Case("photo 16-bit", (0,), base + keys,
             prepare=photo("g16.png", lambda im: Image.fromarray((np.asarray(im.convert("L"), np.uint16) * 257)))),
        Case("photo small face in big frame", (0, 2), base + keys,
             prepare=photo("small.png", lambda im: _pad(im, 4))),
        # audio
        Case("audio missing", (2,), base + keys, prepare=lambda w: {"audio": os.path.join(w, "none.wav")}),
        Case("audio is text", (2,), base + keys, prepare=raw_audio("a.wav", b"not audio at all")),
        Case("audio empty file", (2,), base + keys, prepare=raw_audio("a.wav", b"")),
        Case("audio truncated wav", (2,), base + keys,
             prepare=raw_audio("a.wav", open(SPEECH, "rb").read()[:3000])),
        Case("audio 0.1 s", (2,), base + keys, prepare=audio("short.wav", lambda: s()[:1600])),
        Case("audio silence", (0,), base + keys, prepare=audio("silent.wav", lambda: np.zeros(32000, np.float32))),
        Case("audio NaN samples", (0,), base + keys, must_say="",
             prepare=audio("nan.wav", lambda: _with_nan(s()), subtype="FLOAT")),
        Case("audio stereo inverted", (0,), base + keys,
             prepare=audio("inv.wav", lambda: np.stack([s(), -s()], 1), subtype="FLOAT")),
        Case("audio 8 kHz", (0,), base + keys, prepare=audio("8k.wav", lambda: s()[::2], rate=8000)),
        Case("audio 96 kHz stereo", (0,), base + keys,
             prepare=audio("96k.wav", lambda: np.repeat(np.stack([s(), s()], 1), 6, axis=0), rate=96000)),
        Case("audio clipped", (0,), base + keys,
             prepare=audio("clip.wav", lambda: np.clip(s() * 20, -1, 1))),
        Case("audio is a folder", (2,), base + keys, prepare=lambda w: {"audio": w}),
        # options
        Case("resolution 0", (2,), base + ["--resolution", "0"]),
        Case("resolution 8", (2,), base + ["--resolution", "8"], must_say="16 px"),
        Case("resolution 500", (2,), base + ["--resolution", "500"]),
        Case("resolution huge", (2,), base + ["--resolution", "131072"]),
        Case("fps 0", (2,), base + keys + ["--fps", "0"]),
        Case("fps text", (2,), base + keys + ["--fps", "fast"]),
        Case("device tpu", (2,), base + keys + ["--device", "tpu"]),
        Case("style unknown", (2,), base + keys + ["--style", "Grumpy"]),
        Case("mouth 3", (2,), base + keys + ["--mouth", "3"]),
        Case("start frame 0", (2,), base + keys + ["--start-frame", "0"]),
        Case("mode neural", (0, 3), base + ["--mode", "neural", "--resolution", "64"]),
        Case("transcript empty", (2,), base + keys + ["--transcript", " "]),
        Case("transcript wrong text", (2,), base + keys + ["--transcript", "The quick brown fox jumps over the "
                                                            "lazy dog by the river bank on Sunday."]),
        Case("transcript German", (2,), base + keys + ["--transcript", "Der schnelle braune Fuchs springt."]),
        Case("transcript with 5pm", (2,), base + keys + ["--transcript", "Hello, my name is Emma, see you at 5pm."],
             must_say="'5pm' in words"),
        Case("trust without a transcript", (2,), base + keys + ["--trust-transcript"], must_say="--transcript"),
        Case("trusted German transcript", (2,), base + keys + ["--trust-transcript", "--transcript",
                                                                "Der schnelle braune Fuchs springt."], must_say="springt"),
        Case("trusted transcript, silence", (2,), base + keys + ["--trust-transcript", "--transcript",
                                                                  "Bob made a map of the moon."],
             prepare=audio("silent.wav", lambda: np.zeros(32000, np.float32))),
        Case("listen unknown", (2,), base + keys + ["--listen", "closely"], must_say="listening mode"),
        Case("listen words, silence", (0,), base + keys + ["--listen", "words"],
             prepare=audio("silent.wav", lambda: np.zeros(32000, np.float32))),
        Case("listen words, 8 kHz", (0,), base + keys + ["--listen", "words"],
             prepare=audio("8k.wav", lambda: s()[::2], rate=8000)),
        Case("listen words with a wrong transcript", (2,), base + keys + ["--listen", "words", "--transcript",
                                                                           "Der schnelle braune Fuchs springt."]),
        Case("phone mouth 2", (2,), base + keys + ["--phone-mouth", "2"], must_say="--phone-mouth"),
        Case("heard phone mouth, silence", (0,), base + keys + ["--phone-mouth", "1", "--phone-mouth-heard"],
             prepare=audio("silent.wav", lambda: np.zeros(32000, np.float32))),
        Case("unknown flag", (2,), base + keys + ["--frobnicate"]),
        # output folders
        Case("out is a file", (2,), base + keys, prepare=lambda w: {"out": _bytes(w, "afile", b"x")}),
        Case("out under a file", (2,), base + keys,
             prepare=lambda w: {"out": os.path.join(_bytes(w, "afile", b"x"), "out")}),
        Case("re-run without --overwrite", (2,), base + keys, preexisting=True, must_say="--overwrite"),
        Case("re-run with --overwrite", (0,), base + keys + ["--overwrite"], preexisting=True),
        Case("disk full at save", (1,), base + keys + ["--overwrite"], preexisting=True,
             env={"TALKFACE_TEST_FAULT": "truncate-save"}, must_say="disk full"),
        Case("disk full at video", (1,), base + ["--resolution", "64", "--overwrite"], preexisting=True,
             env={"TALKFACE_TEST_FAULT": "truncate-video"}),
        Case("export path is a folder", (2,), base + keys + ["--export-csv", "{work}"]),
        # weights
        Case("animator damaged", (3,), base + keys + ["--overwrite"], preexisting=True,
             wrapper="animator.safetensors:flip", must_say="damaged"),
        Case("generator damaged (auto)", (3,), base + ["--resolution", "64", "--overwrite"], preexisting=True,
             wrapper="generator.safetensors:flip", must_say="damaged"),
        Case("provenance.json cut short", (3,), base + keys, wrapper="provenance.json:truncate", must_say="damaged"),
        Case("animator missing", (3,), base + keys, wrapper="animator.safetensors:remove"),
        Case("generator missing (auto)", (0,), base + ["--resolution", "64"], wrapper="generator.safetensors:remove"),
        # signals
        Case("SIGTERM during bake", (143,), base + ["--resolution", "256", "--overwrite", "--mode", "warp"],
             preexisting=True, sigterm_after="bake:"),
    ]
    return out


def _pad(img, factor):
    from PIL import Image

    canvas = Image.new("RGB", (img.width * factor, img.height * factor), (128, 128, 128))
    canvas.paste(img, (0, 0))
    return canvas


def _with_nan(x):
    x = x.copy()
    x[1000:1010] = np.nan
    return x


# --- running ----------------------------------------------------------------------------------------

def digest(folder: str) -> dict:
    out = {}
    for base, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(base, name), "rb") as fh:
                out[os.path.relpath(os.path.join(base, name), folder)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def earlier_run(scratch: str) -> str:
    folder = os.path.join(scratch, "earlier")
    if not os.path.isdir(folder):
        subprocess.run([sys.executable, SCRIPT, "--", "--photo", PORTRAIT, "--audio", SPEECH, "--out", folder,
                        "--keys-only"], check=True, capture_output=True)
    return folder


def run_case(case: Case, scratch: str) -> dict:
    work = tempfile.mkdtemp(dir=scratch, prefix="case-")
    values = {"photo": PORTRAIT, "audio": SPEECH, "out": os.path.join(work, "out"), "work": work}
    if case.prepare is not None:
        values.update(case.prepare(work))
    if case.preexisting:
        shutil.copytree(earlier_run(scratch), values["out"])
    before = digest(values["out"]) if os.path.isdir(values["out"]) else {}
    args = [a.format(**values) for a in case.args]
    if case.wrapper:
        cmd = [sys.executable, "-c", WEIGHTS_SWAP, os.path.join(work, "weights"), case.wrapper, *args]
    else:
        cmd = [sys.executable, SCRIPT, "--", *args]
    env = {**os.environ, **case.env}
    t0 = time.perf_counter()
    if case.sigterm_after:
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
        err = ""
        while True:
            line = proc.stderr.readline()
            err += line
            if not line or case.sigterm_after in line:
                break
        proc.send_signal(signal.SIGTERM)
        err += proc.stderr.read()
        status = proc.wait()
    else:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        status, err = done.returncode, done.stderr
    seconds = time.perf_counter() - t0
    after = digest(values["out"]) if os.path.isdir(values["out"]) else {}
    lines = [line for line in err.splitlines() if line.startswith("talkface:")]
    message = lines[-1][len("talkface: "):] if lines else ""
    crashed = "Traceback" in err or status not in (0, 1, 2, 3, 143)
    # the finished run's record (.talkface-done.json) is rewritten by a run that succeeds; a
    # failed run must leave it as it was
    kept = all(after.get(k) == v or (k == "scene.blend" and after.get("scene.blend1") == v)
               or (k == RECORD and status == 0 and k in after) for k, v in before.items())
    new_files = sorted(set(after) - set(before))
    leftovers = [f for f in after if os.path.basename(f).startswith(".talkface-") and f != RECORD]
    if crashed:
        verdict = "CRASH"
    elif not kept:
        verdict = "LOST"
    elif status not in case.expect or (case.must_say and case.must_say not in message) or leftovers \
            or (status != 0 and set(after) != set(before)):
        verdict = "WRONG"
    else:
        verdict = "ok"
    written = "nothing" if not new_files else f"{len(new_files)} new file(s)"
    return {"name": case.name, "exit": status, "message": message or "-", "written": written,
            "kept": "yes" if before and kept else ("-" if not before else "NO"), "verdict": verdict,
            "seconds": seconds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="run only cases whose name contains one of these")
    ap.add_argument("--keep", help="scratch folder to keep (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    scratch = args.keep or tempfile.mkdtemp(prefix="talkface-bad-inputs-")
    os.makedirs(scratch, exist_ok=True)
    selected = [c for c in cases() if not args.only or any(o.lower() in c.name.lower() for o in args.only)]
    rows = []
    print(f"{'input':<32} {'exit':>4}  {'verdict':<7} {'kept':<4} {'written':<16} message")
    try:
        for case in selected:
            r = run_case(case, scratch)
            rows.append(r)
            print(f"{r['name'][:32]:<32} {r['exit']:>4}  {r['verdict']:<7} {r['kept']:<4} {r['written']:<16} "
                  f"{r['message'][:110]}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    count = {v: sum(r["verdict"] == v for r in rows) for v in ("ok", "CRASH", "WRONG", "LOST")}
    print(f"\n{len(rows)} inputs: {count['ok']} ok, {count['CRASH']} crashes, {count['WRONG']} wrong, "
          f"{count['LOST']} data lost")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
