"""Asterisk's G.722 prompts decoded to 16 kHz WAV (training data only, never shipped).

Debian ships each Asterisk prompt set twice over the same master recordings: ``-wav`` is 8 kHz
telephone band (up to 4 kHz), ``-g722`` is G.722 wideband (16 kHz, up to about 7 kHz), the band a
voice actor's microphone gives and the other recorded people of the bench have. The prompts line
up sample for sample with the 8 kHz ones (same length), so the same names, texts and dev/train
split apply. PyAV (already a dependency, for video) has FFmpeg's G.722 decoder.

Usage: python -m talkface.training.corpus.g722 SRC_DIR DEST_DIR
  decodes every ``*.g722`` under SRC_DIR to ``DEST_DIR/<same relative path>.wav`` (16-bit PCM).
"""

from __future__ import annotations

import os
import sys

import numpy as np

SAMPLE_RATE = 16000


def decode(path: str) -> np.ndarray:
    """int16 mono samples at 16 kHz of a raw G.722 file."""
    import av
    with av.open(path, format="g722") as container:
        stream = container.streams.audio[0]
        if stream.codec_context.name != "g722" or stream.rate != SAMPLE_RATE:
            raise ValueError(f"{path}: not 16 kHz G.722 ({stream.codec_context.name}, {stream.rate} Hz)")
        frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
    return np.concatenate(frames).astype(np.int16) if frames else np.zeros(0, np.int16)


def decode_tree(src: str, dest: str) -> int:
    """Decode every .g722 under ``src`` into ``dest`` as .wav; returns how many."""
    import soundfile as sf
    n = 0
    for folder, _, files in os.walk(src):
        for name in sorted(files):
            if not name.endswith(".g722"):
                continue
            rel = os.path.relpath(os.path.join(folder, name[:-5] + ".wav"), src)
            out = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            sf.write(out, decode(os.path.join(folder, name)), SAMPLE_RATE, subtype="PCM_16")
            n += 1
    return n


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("Usage: ")[1])
    print(f"{sys.argv[2]}: {decode_tree(sys.argv[1], sys.argv[2])} recordings decoded from G.722")
