"""Piper (joe) speech with phone timings from forced alignment."""

from __future__ import annotations

import numpy as np
import pytest

from talkface.training.corpus import piper

pytestmark = pytest.mark.skipif(not piper.available(), reason="piper-tts / joe voice / pocketsphinx missing")


def test_synthesize_returns_audio_and_phones_covering_it():
    samples, phones = piper.synthesize("Bob made a map of the pub.")
    assert samples.dtype == np.float32 and samples.ndim == 1
    dur = len(samples) / piper.SAMPLE_RATE
    assert 0.5 < dur < 5.0 and 0.01 < np.abs(samples).max() <= 1.0
    starts = np.array([s for _, s, _ in phones])
    ends = np.array([e for _, _, e in phones])
    assert starts[0] == 0.0 and np.all(ends > starts) and np.allclose(starts[1:], ends[:-1])
    assert abs(ends[-1] - dur) < 1e-6
    names = [p for p, _, _ in phones]
    assert names.count("B") >= 2 and names.count("M") >= 2 and "P" in names


def test_unknown_voice_refused():
    with pytest.raises(ValueError, match="unknown piper voice"):
        piper.synthesize("hello", voice="kal")
