"""What the words mode hears where nobody speaks: Whisper writes words ("you", "Thank you.") on
silence and noise, and their /p b m/ would seal the lips. The silence check
(``core.audio.recognition``: a chunk Whisper gives more than ``NO_SPEECH`` odds of holding no speech,
and in which the phone loop heard under ``MIN_SOUNDING_S`` of phones, gives no words) is scored
here with and without it (``NO_SPEECH`` above 1: never silent), on made-up clips of no speech and
on the sample line with a long pause of room tone in the middle.

    .venv/bin/python bench/silence.py [--seconds 20] [--seed 0]

Columns per clip and setting:
  words        words recognised (in the pause only, for the clip with speech)
  /p b m/      /p b m/ of those words, each a closure the lips make where nothing was said
  sealed/min   runs of sealed lips (inner-lip gap <= 1 mm) a minute in the take, outside speech
  text         what was heard (first 60 characters)
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from talkface.bench.lipsync import settings
from talkface.core.audio import inference, listening, phones, recognition
from talkface.core.audio.loading import from_array, load_audio
from talkface.core.face.model import load_face_model
from talkface.training.lip_metrics import gap_mm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SR = 16000


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pink (1/f) noise of unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= np.sqrt(np.maximum(np.arange(len(spec)), 1.0))
    x = np.fft.irfft(spec, n)
    return x / np.sqrt(np.mean(x ** 2))


def at_db(x: np.ndarray, dbfs: float) -> np.ndarray:
    return (x * 10.0 ** (dbfs / 20.0)).astype(np.float32)


def clips(seconds: float, seed: int) -> list[tuple[str, np.ndarray, tuple[float, float]]]:
    """(name, 16 kHz samples, (start_s, end_s) where no one speaks)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    hum = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3, 5))
    taps = np.zeros(n)
    taps[rng.integers(0, n - 200, int(seconds))] = 1.0
    taps = np.convolve(taps, np.exp(-np.arange(200) / 30.0) * rng.standard_normal(200), "same")
    out = [("digital silence", np.zeros(n, np.float32)),
           ("hiss -60 dBFS", at_db(rng.standard_normal(n), -60)),
           ("room tone -45 dBFS (pink)", at_db(pink(n, rng), -45)),
           ("loud noise -25 dBFS (pink)", at_db(pink(n, rng), -25)),
           ("mains hum -30 dBFS", at_db(hum / np.sqrt(np.mean(hum ** 2)), -30)),
           ("taps and clicks", at_db(taps / np.abs(taps).max(), -12))]
    out = [(name, x, (0.0, seconds)) for name, x in out]
    line = load_audio(os.path.join(ROOT, "samples", "speech.wav"), sr=SR).samples.astype(np.float32)
    pause = at_db(pink(n, rng), -45)
    out.append((f"sample line, {seconds:g} s of room tone, the line again",
                np.concatenate([line, pause, line]), (len(line) / SR, (len(line) + n) / SR)))
    return out


def run(x, quiet, net, face, no_speech: float) -> dict:
    """The words mode on samples ``x`` with the silence check at ``no_speech``: what it heard and
    sealed inside ``quiet`` (start_s, end_s)."""
    a, b = quiet
    audio = from_array(x, SR)
    with settings(recognition, NO_SPEECH=no_speech):
        recognised, listened = listening.recognise_and_listen(audio, net)
    inside = [w for w in recognised.words if a - 0.05 <= w.start and w.end <= b + 0.05]
    closures = [p for p in recognised.phones if phones.phone_class(p[0]) == "bilabial" and a <= p[1] < b]
    anim = inference.animate(audio, net, "Neutral", listened=listened, recognised=recognised)
    g = gap_mm(face, anim.values[:, :52])
    frames = np.arange(len(g)) / anim.fps
    sealed = g <= 1.0
    starts, _ = inference._runs(sealed)
    # a sealed run counts where it starts inside the quiet stretch (rest at the clip's edges aside)
    runs = sum(1 for s in starts if a + 0.3 <= frames[s] < b - 0.3)
    minutes = max(b - a - 0.6, 1e-6) / 60.0
    return {"words": len(inside), "pbm": len(closures), "sealed": runs / minutes,
            "text": " ".join(w.text for w in inside)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if recognition.WORD_SOURCE != "whisper":
        print("bench/silence.py scores Whisper's words: TALKFACE_WORD_SOURCE is set to another recogniser",
              file=sys.stderr)
        return 2
    net, face = inference.load_animator(), load_face_model()
    print(f"{'clip':58s} {'silence check':14s} {'words':>5s} {'/p b m/':>7s} {'sealed/min':>10s}  text")
    for name, x, quiet in clips(args.seconds, args.seed):
        for label, threshold in (("on (shipped)", recognition.NO_SPEECH), ("off", 1.01)):
            r = run(x, quiet, net, face, threshold)
            print(f"{name:58s} {label:14s} {r['words']:5d} {r['pbm']:7d} {r['sealed']:10.1f}  {r['text'][:60]}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
