"""Real human recordings (test-only) load with transcript-aligned phones."""

from __future__ import annotations

import json

import numpy as np
import pytest

from talkface.core.audio import alignment
from talkface.training.corpus import real


def test_transcripts_have_sources():
    with open(real.TRANSCRIPTS, encoding="utf-8") as f:
        table = json.load(f)["recordings"]
    assert "two_cities" in table
    for rec in table.values():
        assert rec["transcript"] and rec["source"] and rec.get("licence", "public domain" in rec["source"])
        assert len(rec["sha256"]) == 64 and rec.get("location", "moonshine") in ("moonshine", "fetched")
        assert rec.get("role", "test") in ("test", "dev")


def test_dev_recordings_are_not_test_recordings():
    """The dev set may choose between settings or weights: it must never be in the test rows."""
    with open(real.TRANSCRIPTS, encoding="utf-8") as f:
        table = json.load(f)["recordings"]
    dev = {n for n, rec in table.items() if rec.get("role") == "dev"}
    assert dev and not dev & set(real.names())
    assert set(real.dev_names()) <= dev
    assert all(table[n]["speaker"] != table[t].get("speaker") for n in dev for t in table if t not in dev)


@pytest.mark.parametrize("name", real.names() + real.dev_names())
def test_recording_loads_with_phones(name):
    samples, phones = real.load(name)
    assert samples.dtype == np.float32 and samples.ndim == 1
    dur = len(samples) / real.SAMPLE_RATE
    assert phones[0][1] == 0.0 and abs(phones[-1][2] - dur) < 1e-6
    assert all(s < e for _, s, e in phones)
    assert all(abs(a[2] - b[1]) < 1e-9 for a, b in zip(phones, phones[1:]))
    _, al = real.aligned(name)
    assert [w.text for w in al.words] == alignment.normalise(real.spoken(name))
    assert al.excess < alignment.MAX_EXCESS
    speech = sum(e - s for p, s, e in phones if p != alignment.SILENCE)
    assert 0.12 * len(al.words) < speech < dur    # (short test clips pause for seconds)


def test_two_cities_starts_with_it_was():
    _, al = real.aligned("two_cities")
    first = [w.text for w in al.words[:6]]
    assert first == ["it", "was", "the", "best", "of", "times"]
    assert 0.8 < al.words[0].start < 1.6          # ~1.2 s of silence before the reading


def test_one_replaced_sentence_is_caught_on_real_speech():
    from talkface.core.audio.loading import load_audio
    from talkface.core.errors import InputError

    text = real.transcript("two_cities").replace(
        "we had everything before us, we had nothing before us", "we had a cat and a dog and a cow in the house")
    with pytest.raises(InputError, match="does not match the audio: the speech between 2[0-3]"):
        alignment.align(load_audio(real.path("two_cities")), text)
