"""CMU Flite through its command line: speech from a synthesis engine the animator never trained on.

The animator is trained and benchmarked on espeak-ng voices only; ``bench/lipsync.py --engine
flite:awb,...`` uses this module to test it on another engine. ``flite -psdur`` prints every
phone with its end time in seconds, so the phone timing comes from the synthesizer itself (no
forced alignment), like the espeak corpus.

Reserved: the flite voices kal, kal16 and slt are kept for a final, untouched evaluation and are
refused here whatever the caller wants.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile as sf

from ...core.errors import TalkFaceError

SAMPLE_RATE = 16000
RESERVED_VOICES = frozenset({"kal", "kal16", "slt"})
DEFAULT_VOICES = ("awb", "rms")


class FliteUnavailableError(TalkFaceError):
    """The flite binary is missing or fails."""


def _binary() -> str | None:
    return shutil.which("flite")


def available() -> bool:
    """True when the ``flite`` command is on PATH."""
    return _binary() is not None


def check_voice(voice: str) -> str:
    if voice in RESERVED_VOICES:
        raise ValueError(
            f"flite voice '{voice}' is reserved (kal, kal16 and slt are never used for training, "
            f"tuning or benchmarking): use {' or '.join(DEFAULT_VOICES)}")
    return voice


def parse_psdur(text: str) -> list[tuple[str, float, float]]:
    """``pau:0.249 b:0.309 ...`` (phone:END time) -> [(phone, start_s, end_s)], starting at 0."""
    phones, start = [], 0.0
    for token in text.split():
        name, sep, end = token.rpartition(":")
        if not sep:
            continue
        try:
            t = float(end)
        except ValueError:
            continue
        phones.append((name, start, max(t, start)))
        start = max(t, start)
    return phones


def synthesize(text: str, voice: str = "awb") -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """Speech of ``text`` in flite ``voice``: (float32 mono samples at 16 kHz, phones as
    (phone, start_s, end_s), contiguous from 0; 'pau' is silence)."""
    check_voice(voice)
    exe = _binary()
    if exe is None:
        raise FliteUnavailableError(
            "The 'flite' command is not installed: run scripts/setup.sh (or apt-get install flite)")
    with tempfile.TemporaryDirectory(prefix="talkface-flite-") as tmp:
        wav = os.path.join(tmp, "out.wav")
        res = subprocess.run([exe, "-voice", voice, "-psdur", "-t", text, "-o", wav],
                             check=False, capture_output=True, text=True, timeout=120)
        if res.returncode != 0 or not os.path.exists(wav):
            raise FliteUnavailableError(
                f"flite failed for voice '{voice}' (exit {res.returncode}): {res.stderr.strip()[:300]}")
        samples, sr = sf.read(wav, dtype="float32", always_2d=True)
    samples = samples.mean(axis=1).astype(np.float32)
    if sr != SAMPLE_RATE:
        from ...core.audio.loading import resample

        samples = resample(samples, sr, SAMPLE_RATE).astype(np.float32)
    phones = parse_psdur(res.stdout)
    if not phones:
        raise FliteUnavailableError(f"flite printed no phone timing for voice '{voice}': {res.stdout[:200]!r}")
    return samples, phones
