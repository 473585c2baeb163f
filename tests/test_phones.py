"""Phone evidence from PocketSphinx's real-speech model: the network's second ear."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SPEECH

from talkface.core.audio import phones, sphinx_pool
from talkface.core.audio.loading import Audio, from_array, load_audio
from talkface.training.corpus import espeak

BILABIAL = phones.CLASS_INDEX["bilabial"]


def test_evidence_is_the_share_of_each_frame_a_class_occupies():
    ph = [phones.Phone("SIL", 0.0, 0.1), phones.Phone("M", 0.1, 0.2), phones.Phone("AA", 0.2, 0.25)]
    ev = phones.phone_evidence(ph, 20, 50.0)   # frame k covers [k - 0.5, k + 0.5] / 50 s
    assert ev.shape == (20, len(phones.CLASSES)) and np.allclose(ev.sum(1), 1.0)
    assert np.allclose(ev[6:10, BILABIAL], 1.0)                      # 0.11-0.19 s: inside the /m/
    assert np.isclose(ev[5, BILABIAL], 0.5) and np.isclose(ev[10, BILABIAL], 0.5)  # frames it half covers
    assert np.allclose(ev[11:13, phones.CLASS_INDEX["open"]], 1.0)   # 0.21-0.25 s: the /aa/
    assert np.allclose(ev[13:, phones.CLASS_INDEX["silence"]], 1.0)  # nothing heard: silence


def test_classes_follow_the_lips_place_of_articulation():
    assert {phones.phone_class(p) for p in ("P", "b", "M", "m1")} == {"bilabial"}
    assert phones.phone_class("F") == phones.phone_class("v") == "labiodental"
    assert phones.phone_class("UW") == "rounded" and phones.phone_class("IY") == "spread"
    assert phones.phone_class("+NOISE+") == phones.phone_class("SIL") == "silence"


@pytest.fixture(scope="module")
def speech():
    return load_audio(SPEECH)


def test_recogniser_hears_the_samples_bilabials_where_espeak_said_them(speech):
    """Sample text: 'Hello! My name is Emma, and I am very happy to meet you. Today this photo will
    speak, in time with my voice.' -- its /m/ and /p/ as espeak timed them (same voice and rate)."""
    spoken = espeak.synthesize("Hello! My name is Emma, and I am very happy to meet you. "
                               "Today this photo will speak, in time with my voice.", "en-us+f2",
                               rate=160, pitch=55, pitch_range=70)
    truth = [(p.start, p.end) for p in spoken.phonemes if p.phoneme in ("m", "p", "b")]
    assert len(truth) >= 8
    heard = [p for p in phones.recognise_phones(speech) if phones.phone_class(p.phone) == "bilabial"]
    hits = sum(any(h.start < e + 0.03 and h.end > s - 0.03 for h in heard) for s, e in truth)
    assert hits >= 0.6 * len(truth), (hits, len(truth))   # 6 of 9 when written (phone loop, no words)
    assert len(heard) <= len(truth) + 3          # not a recogniser that says /m/ everywhere


def test_long_audio_is_decoded_in_chunks_cut_at_quiet_frames(speech, monkeypatch):
    monkeypatch.setattr(phones, "CHUNK_S", 6.0)
    monkeypatch.setattr(phones, "SEARCH_S", 1.5)
    gap = np.zeros(8000, np.float32)
    long = from_array(np.concatenate([speech.samples, gap] * 3), 16000)
    bounds = phones.chunk_bounds(long.samples, 16000)
    assert len(bounds) >= 4 and bounds[0][0] == 0 and bounds[-1][1] == len(long.samples)
    assert all(b - a <= 6 * 16000 for a, b in bounds)
    assert len(bounds) % 2 == 0                               # two helpers finish together
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1.5 * 16000             # near-equal shares (cut within SEARCH_S)
    heard = phones.recognise_phones(long)
    assert all(a.end <= b.start + 1e-6 for a, b in zip(heard, heard[1:]))   # one time line
    per_copy = [sum(1 for p in heard if phones.phone_class(p.phone) == "bilabial"
                    and k * (speech.duration + 0.5) <= p.start < (k + 1) * (speech.duration + 0.5))
                for k in range(3)]
    assert min(per_copy) >= 5, per_copy


def test_recogniser_needs_16_khz():
    with pytest.raises(ValueError, match="16 kHz"):
        phones.recognise_phones(Audio(np.zeros(22050, np.float32), 22050, None, 22050, 1, 0.0))


@pytest.fixture()
def long_speech(speech, monkeypatch):
    """The sample three times over with pauses, cut into 6-s chunks (five or more)."""
    monkeypatch.setattr(phones, "CHUNK_S", 6.0)
    monkeypatch.setattr(phones, "SEARCH_S", 1.5)
    return from_array(np.concatenate([speech.samples, np.zeros(8000, np.float32)] * 3), 16000)


def test_helper_processes_hear_what_this_process_hears(long_speech):
    """Chunks go to helper processes (the decoder holds the GIL; processes decode beside the
    features); each chunk is decoded from the model's initial state, so the phones are the same
    whoever decoded it -- and the same twice over in one process (no state carried from the last
    chunk or the last recording)."""
    inline = phones.recognise_phones(long_speech, helpers=0)
    assert phones.recognise_phones(long_speech, helpers=0) == inline
    rec = phones.Recognition(long_speech, helpers=2)
    assert rec.helpers == 2
    helped = rec.result()
    assert rec.helpers == 0 and helped == inline


def test_a_helper_that_dies_costs_only_time(long_speech, monkeypatch, tmp_path):
    inline = phones.recognise_phones(long_speech, helpers=0)
    for name, body in (("exits", "import sys; sys.exit(3)\n"),
                       ("babbles", "import sys\nsys.stdin.buffer.read(8)\nprint('not json')\n"),
                       ("missing", None)):
        script = tmp_path / f"{name}.py"
        if body is not None:
            script.write_text(body)
        monkeypatch.setattr(sphinx_pool, "HELPER_SCRIPT", str(script))
        assert phones.recognise_phones(long_speech, helpers=2) == inline, name


def test_helpers_follow_the_cpu_setting(long_speech, monkeypatch):
    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, "0")
    assert sphinx_pool.helper_count() == 0 and phones.Recognition(long_speech).helpers == 0
    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, "1")
    assert sphinx_pool.helper_count() == 1
    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, "9")
    assert sphinx_pool.helper_count() == sphinx_pool.MAX_HELPERS
    monkeypatch.delenv(sphinx_pool.HELPERS_ENV)
    short = from_array(long_speech.samples[:16000 * 4], 16000)     # one chunk: no helper
    assert phones.Recognition(short, helpers=2).helpers == 0


def test_cancel_ends_the_helpers(long_speech):
    rec = phones.Recognition(long_speech, helpers=2)
    processes = list(rec._pool.processes)
    assert rec.helpers == 2 and len(processes) == 2
    rec.cancel()
    assert rec.helpers == 0 and all(p.poll() is not None for p in processes)
