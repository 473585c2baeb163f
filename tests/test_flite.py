"""Flite speech (an engine the animator never trained on) and the lip-sync bench's --engine mode.

flite is a set-up requirement (scripts/setup.sh installs it), so these tests do not skip."""

from __future__ import annotations

import os

import numpy as np
import pytest

from talkface.training.corpus import flite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_flite_is_installed():
    assert flite.available(), "flite is missing: run scripts/setup.sh"


@pytest.mark.parametrize("voice", ["awb", "rms"])
def test_synthesize_returns_audio_and_monotone_phones_covering_it(voice):
    samples, phones = flite.synthesize("Bob made a map of the pub.", voice)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert 0.5 < len(samples) / flite.SAMPLE_RATE < 5.0
    assert 0.01 < np.abs(samples).max() <= 1.0
    starts = np.array([s for _, s, _ in phones])
    ends = np.array([e for _, _, e in phones])
    assert starts[0] == 0.0 and np.all(ends >= starts) and np.all(np.diff(ends) >= 0)
    assert np.allclose(starts[1:], ends[:-1])                    # contiguous
    assert abs(ends[-1] - len(samples) / flite.SAMPLE_RATE) < 0.05   # covers the audio
    names = [p for p, _, _ in phones]
    assert names.count("b") >= 2 and names.count("m") >= 2 and "p" in names


def test_parse_psdur():
    assert flite.parse_psdur("pau:0.249 b:0.309 aa:0.415\n") == [
        ("pau", 0.0, 0.249), ("b", 0.249, 0.309), ("aa", 0.309, 0.415)]


@pytest.mark.parametrize("voice", ["kal", "kal16", "slt"])
def test_reserved_voices_are_refused(voice):
    with pytest.raises(ValueError, match="reserved"):
        flite.synthesize("Hello.", voice)
