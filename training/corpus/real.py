"""Real human recordings with phone timings, for TESTING ONLY (and a dev set, never trained on).

These recordings are never trained on, tuned on or used to pick checkpoints: they exist to measure
how the animator does on real voices (issue 12). Nothing in the training corpus may import this
module. The exception is the recordings marked ``"role": "dev"`` (``dev_names``: the Montreal
Forced Aligner's, fetched into ``bench/speech/mfa/``): a second real-speech dev set beside Allison
Smith's prompts (``training/corpus/asterisk.py``), which may choose between settings or weights
but is never trained on; ``names()`` lists the test recordings only. ``real_transcripts.json``
lists each recording with its transcript, source, speaker and licence. Two locations:
  moonshine  the ``moonshine-voice`` wheel's assets (``moonshine_voice/assets/``, MIT; the package
             is located, never imported, so its native library is not loaded): installed with
             the requirements;
  fetched    files that ``bench/fetch_speech.sh`` fetches from the package registries into
             ``bench/speech/`` (a LibriVox sonnet, JFK, praatio's examples, Asterisk's prompts).
A recording that is not on this machine is simply not listed by ``names()``. The phone timing
comes from ``core.audio.alignment.align`` on the recording's ``spoken`` text (its transcript with
words the dictionary lacks respelled).
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
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_ONLY = True


class RealRecordingsUnavailableError(TalkFaceError):
    """The moonshine-voice wheel (which holds the recordings) is not installed."""


def _assets_dir() -> str | None:
    spec = importlib.util.find_spec("moonshine_voice")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "assets")


def available(name: str = "two_cities") -> bool:
    """True when the recording can be found on this machine."""
    try:
        return os.path.exists(path(name))
    except RealRecordingsUnavailableError:
        return False


@lru_cache(maxsize=1)
def _table() -> dict:
    with open(TRANSCRIPTS, encoding="utf-8") as f:
        return json.load(f)["recordings"]


def _names(role: str) -> list[str]:
    """The recordings of ``role`` ('test' unless an entry says otherwise) on this machine."""
    return sorted(n for n, entry in _table().items() if entry.get("role", "test") == role and available(n))


def names() -> list[str]:
    """Test recordings with an established transcript that are on this machine."""
    return _names("test")


def dev_names() -> list[str]:
    """Dev recordings (``"role": "dev"``) with an established transcript that are on this machine."""
    return _names("dev")


def transcript(name: str) -> str:
    """What is said, as the source writes it."""
    return _table()[name]["transcript"]


def spoken(name: str) -> str:
    """The transcript as the aligner is given it (dictionary words only)."""
    entry = _table()[name]
    return entry.get("spoken", entry["transcript"])


def path(name: str) -> str:
    entry = _table()[name]
    if entry.get("location") == "fetched":
        return os.path.join(ROOT, entry["file"])
    d = _assets_dir()
    if d is None:
        raise RealRecordingsUnavailableError("the moonshine-voice package is not installed (pip install -r requirements.txt)")
    return os.path.join(d, entry["file"])


@lru_cache(maxsize=8)
def aligned(name: str = "two_cities") -> tuple[np.ndarray, Alignment]:
    """(float32 mono samples at 16 kHz, the transcript's Alignment). Checks the file's sha256."""
    p = path(name)
    with open(p, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != _table()[name]["sha256"]:
        raise RealRecordingsUnavailableError(f"{p} is not the recording the transcript was written for")
    audio = load_audio(p, sr=SAMPLE_RATE)
    return audio.samples, align(audio, spoken(name))


def load(name: str = "two_cities") -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """(float32 mono samples at 16 kHz, phones as (ARPAbet phone, start_s, end_s), 'SIL' silence).
    TESTING ONLY: never train on these."""
    samples, al = aligned(name)
    return samples, al.phones
