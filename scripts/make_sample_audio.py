"""Write samples/speech.wav, the README's demo clip, with espeak-ng (no recording, no licence).

    .venv/bin/python scripts/make_sample_audio.py [--out samples/speech.wav]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from talkface.training.corpus import espeak

TEXT = ("Hello! My name is Emma, and I am very happy to meet you. "
        "Today this photo will speak, in time with my voice.")
VOICE, RATE, PITCH, RANGE = "en-us+f2", 160, 55, 70


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "samples" / "speech.wav"))
    out = Path(ap.parse_args().out)
    utt = espeak.synthesize(TEXT, VOICE, rate=RATE, pitch=PITCH, pitch_range=RANGE)
    x = utt.samples
    loud = np.nonzero(np.abs(x) > 0.01 * np.abs(x).max())[0]
    pad = int(0.2 * utt.sample_rate)                         # keep 0.2 s of silence at each end
    x = x[max(loud[0] - pad, 0):loud[-1] + pad]
    x = (0.8 * x / np.abs(x).max()).astype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, x, utt.sample_rate, subtype="PCM_16")
    print(f"{out}: {len(x) / utt.sample_rate:.2f} s, {utt.sample_rate} Hz, mono 16-bit, voice {VOICE}")


if __name__ == "__main__":
    main()
