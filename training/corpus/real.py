"""Real human recordings with phone timings, for TESTING ONLY.

These recordings are never trained on, tuned on or used to pick checkpoints: they exist to measure
how the animator does on real voices (issue 12). Nothing in the training corpus may import this
module. The audio comes from the ``moonshine-voice`` wheel (``moonshine_voice/assets/``, MIT; the
package is located, never imported, so its native library is not loaded); the transcripts we could
establish are in ``real_transcripts.json`` with their source (only public-domain texts), and the
phone timing comes from ``core.audio.alignment.align`` on that transcript.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from functools import lru_cache

import numpy as np

from ...core.audio.alignment import Alignment, align
from ...core.audio.loading import load_audio
from ...core.errors import TalkFaceError

SAMPLE_RATE = 16000
TRANSCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "real_transcripts.json")
TEST_ONLY = True


class RealRecordingsUnavailableError(TalkFaceError):
    """The moonshine-voice wheel (which holds the recordings) is not installed."""


def _assets_dir() -> str | None:
    spec = importlib.util.find_spec("moonshine_voice")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "assets")


def available() -> bool:
    """True when the recordings can be found."""
    d = _assets_dir()
    return d is not None and all(os.path.exists(os.path.join(d, r["file"])) for r in _table().values())


@lru_cache(maxsize=1)
def _table() -> dict:
    with open(TRANSCRIPTS, encoding="utf-8") as f:
        return json.load(f)["recordings"]


def names() -> list[str]:
    """Recordings with an established transcript."""
    return sorted(_table())


def transcript(name: str) -> str:
    return _table()[name]["transcript"]


def path(name: str) -> str:
    d = _assets_dir()
    if d is None:
        raise RealRecordingsUnavailableError("the moonshine-voice package is not installed (pip install -r requirements.txt)")
    return os.path.join(d, _table()[name]["file"])


@lru_cache(maxsize=8)
def aligned(name: str = "two_cities") -> tuple[np.ndarray, Alignment]:
    """(float32 mono samples at 16 kHz, the transcript's Alignment). Checks the file's sha256."""
    p = path(name)
    with open(p, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != _table()[name]["sha256"]:
        raise RealRecordingsUnavailableError(f"{p} is not the recording the transcript was written for")
    audio = load_audio(p, sr=SAMPLE_RATE)
    return audio.samples, align(audio, transcript(name))


def load(name: str = "two_cities") -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """(float32 mono samples at 16 kHz, phones as (ARPAbet phone, start_s, end_s), 'SIL' silence).
    TESTING ONLY: never train on these."""
    samples, al = aligned(name)
    return samples, al.phones
