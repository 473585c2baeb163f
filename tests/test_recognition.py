"""The 'words' listening mode: word recognition without a transcript, its words aligned, the lips
sealed on their /p b m/ as well as the phone loop's."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import SPEECH

from talkface.core.audio import alignment, inference, listening, phone_loop, phones, recognition
from talkface.core.audio.loading import from_array, load_audio
from talkface.core.face.model import inner_lip_gap, load_face_model

SAMPLE_TEXT = ("Hello! My name is Emma, and I am very happy to meet you. "
               "Today this photo will speak, in time with my voice.")


@pytest.fixture(autouse=True)
def pocketsphinx_hears(monkeypatch):
    """These tests are of PocketSphinx's word search (the words mode without Whisper): test_whisper.py
    has Whisper's."""
    monkeypatch.setattr(recognition, "WORD_SOURCE", "pocketsphinx")


@pytest.fixture(scope="module")
def speech():
    return load_audio(SPEECH)


@pytest.fixture(scope="module")
def truth():
    """The sample's /p b m/ as espeak-ng timed them (same voice and rate as the sample)."""
    from talkface.training.corpus import espeak

    spoken = espeak.synthesize(SAMPLE_TEXT, "en-us+f2", rate=160, pitch=55, pitch_range=70)
    return [(p.start, p.end) for p in spoken.phonemes if p.phoneme in ("m", "p", "b")]


def hits(truth, heard) -> int:
    return sum(any(h0 < e + 0.03 and h1 > s - 0.03 for h0, h1 in heard) for s, e in truth)


def test_recognised_words_are_aligned_and_find_the_bilabials(speech, truth):
    found = recognition.recognise(speech)
    words = found.text.split()
    # the opening sentence is clear speech: its words come back as said (the model adapted to
    # this synthetic voice hears "hello" as "the low")
    assert "my name is emma" in found.text, found.text
    assert recognition.recognise(speech, adapt=False).text.startswith("hello my name is emma and")
    assert [w.text for w in found.words] == words and not found.unaligned
    assert all(a.end <= b.start + 1e-6 for a, b in zip(found.words, found.words[1:]))
    assert found.phones[-1][2] <= speech.duration + 0.02
    lips = [(s, e) for p, s, e in found.phones if phones.phone_class(p) == "bilabial"]
    loop = [(p.start, p.end) for p in phone_loop.hear(speech).closures]
    assert hits(truth, lips) >= 0.6 * len(truth), (hits(truth, lips), len(truth))
    # the two listen differently: together they find more than the loop alone
    assert hits(truth, lips + loop) > hits(truth, loop), (hits(truth, lips + loop), hits(truth, loop))


def test_the_recogniser_reads_the_shipped_dictionary_of_the_likeliest_words(speech, tmp_path):
    """The words mode's dictionary is weights/recognition.dict: the wheel's, cut to the words its
    language model finds likeliest, every pronunciation kept; what it recognises is in it, and the
    training tool rebuilds it byte for byte (and records it)."""
    from talkface.core.weights import read_provenance, sha256_file, weights_path
    from talkface.training import vocabulary

    settings = recognition.decoder_settings()
    path = settings["recognise"]["dict"]
    assert path == str(weights_path(recognition.DICTIONARY)) == settings["words"]["dict"]    # the aligning pass too
    with open(path, encoding="utf-8") as fh:
        kept = fh.readlines()
    words = set(alignment.headword(line) for line in kept)
    record = read_provenance()[recognition.DICTIONARY]
    assert len(words) == record["words"] == 10000
    with open(f"{phones.model_dir()}/{vocabulary.DICTIONARY}", encoding="utf-8") as fh:
        whole = [line for line in fh if alignment.headword(line) in words]
    assert kept == whole and len(kept) > len(words)      # every pronunciation of a kept word, in the wheel's order
    assert set(recognition.recognise(speech).text.split()) <= set(words)
    ranked = vocabulary.ranked_words()
    assert ranked[:3] == ["the", "to", "i"] and set(ranked[:10000]) == set(words)
    assert "emma" in words and "zyuganov" in ranked and "zyuganov" not in words
    assert vocabulary.main(["--words", "10000", "--out", str(tmp_path / "recognition.dict")]) == 0
    assert sha256_file(tmp_path / "recognition.dict") == read_provenance(tmp_path)["recognition.dict"]["sha256"] \
        == record["sha256"]


def test_helpers_and_this_process_recognise_alike(speech, monkeypatch):
    """Chunks go to helper processes when there are CPUs for them; a chunk gives the same words
    and phones whichever process recognised it."""
    long = from_array(np.tile(speech.samples, 4), speech.sample_rate)     # 29 s: two chunks
    assert len(phones.chunk_bounds(long.samples, long.sample_rate)) == 2
    found, counted = {}, {}
    for helpers in ("0", "2"):
        monkeypatch.setenv("TALKFACE_PHONE_HELPERS", helpers)
        counted[helpers] = []
        count = counted[helpers].append
        found[helpers] = recognition.recognise(long, progress=lambda done, total, count=count: count((done, total)))
    assert found["0"] == found["2"]
    # both adapted the model to the take: the helpers' decoders read its transform
    assert found["2"] != recognition.recognise(long, adapt=False)
    # progress counts each chunk once, in order, from either process
    assert counted["0"] == counted["2"] == [(1, 2), (2, 2)]
    assert len(found["0"].text.split()) > 30


def test_the_helpers_and_decoders_are_kept_for_the_next_take(speech, monkeypatch):
    """A second take reuses the first's helper processes and decoders (and recognises the same);
    a helper that died, or another helper count, gets a new pool; letting go ends the helpers, and
    so does the timer once the kept pool has been idle ``KEEP_S``."""
    from talkface.core.audio import sphinx_pool

    kept = sphinx_pool.RECOGNITION
    kept.let_go()
    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, "2")
    first = recognition.recognise(speech)
    pool, decoders = kept.pool, kept.decoders
    assert pool is not None and len(pool.processes) == 2
    assert all(p.poll() is None for p in pool.processes)          # still running between takes
    assert recognition.recognise(speech) == first
    assert kept.pool is pool and kept.decoders is decoders
    pool.processes[0].kill()
    pool.processes[0].wait()
    assert recognition.recognise(speech) == first and kept.pool is not pool
    assert all(p.poll() is not None for p in pool.processes)      # the broken pool was closed
    pool = kept.pool
    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, "0")
    assert recognition.recognise(speech) == first and kept.pool is None
    assert all(p.poll() is not None for p in pool.processes)
    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, "2")
    monkeypatch.setattr(sphinx_pool, "KEEP_S", 0.2)
    assert recognition.recognise(speech) == first
    pool = kept.pool
    kept.timer.join(5)
    assert kept.pool is None and kept.decoders is None
    assert all(p.wait(timeout=5) is not None for p in pool.processes)


def test_recognition_can_be_cancelled(speech):
    with pytest.raises(InterruptedError):
        recognition.recognise(speech, cancelled=lambda: True)


def test_a_cancel_stops_the_helpers_chunks_without_waiting_for_them_all(speech, monkeypatch):
    """Esc on a long words-mode take: the chunks no helper has started are dropped, so the take
    stops within a chunk or two instead of after the whole recording."""
    from talkface.core.audio import sphinx_pool

    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, "2")
    monkeypatch.setattr(phones, "CHUNK_S", 3.0)
    monkeypatch.setattr(phones, "SEARCH_S", 1.0)
    long = from_array(np.tile(speech.samples, 4), speech.sample_rate)       # 29 s: about ten chunks
    done = []
    with pytest.raises(InterruptedError):
        recognition.recognise(long, progress=lambda d, t: done.append((d, t)), cancelled=lambda: bool(done))
    total = done[0][1]
    time.sleep(3.0)                       # what the helpers were running when it stopped finishes
    assert total >= 8 and done[-1][0] <= 4, done


@pytest.fixture(scope="module")
def net():
    return inference.load_animator()


def test_recognised_bilabials_seal_the_lips_on_top_of_the_loop(net, speech):
    """A /p b m/ of the recognised words seals the lips where the phone loop's take leaves them
    open; everywhere else the take is the phone loop's."""
    face = load_face_model()

    def gap(anim):
        return inner_lip_gap(face, face.vertices(None, anim.values[:, :52], None)) * 1000.0

    heard = inference.animate(speech, net)
    g = gap(heard)
    widest = int(np.argmax(g))
    assert g[widest] > 5.0
    at = widest / heard.fps
    heard_m = [("SIL", 0.0, at - 0.05), ("M", at - 0.01, at + 0.05)]
    told = inference.animate(speech, net, recognised=recognition.Recognised("", [], heard_m, []))
    g_told = gap(told)
    assert g_told[widest] <= 1.0
    away = np.abs(np.arange(len(g)) - widest) > 5
    assert np.allclose(g[away], g_told[away], atol=1e-4)
    # a transcript's phones decide alone
    timed = [("SIL", 0.0, speech.duration)]
    heard = recognition.Recognised("", [], heard_m[1:], [])
    both = inference.animate(speech, net, timed_phones=timed, recognised=heard)
    assert np.allclose(both.values, inference.animate(speech, net, timed_phones=timed).values)


def test_recognise_and_listen_hears_what_listening_alone_hears(net, speech):
    found, listened = listening.recognise_and_listen(speech, net)
    alone = listening.listen_to(speech, net, hear=True)
    assert found.text
    assert np.allclose(listened.features, alone.features) and listened.closures == alone.closures


def test_a_line_of_one_chunk_is_recognised_in_two_cut_at_a_pause():
    """A line of 4 to 18 s (one chunk) is recognised as two, one for each helper, cut in the
    quietest 200 ms near its middle, not in a shorter silence nearer the middle; shorter lines
    stay whole, longer ones keep the chunks every pass uses."""
    sr = 16000
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(8 * sr)).astype(np.float32)
    x[int(3.9 * sr):int(3.96 * sr)] = 0.0             # a stop's 60 ms closure at the middle
    x[int(3.3 * sr):int(3.6 * sr)] *= 0.01            # a 300 ms pause 0.6 s before it
    (a0, cut), (c1, b1) = recognition.recognition_bounds(x, sr)
    assert a0 == 0 and cut == c1 and b1 == len(x) and 3.3 * sr < cut < 3.6 * sr
    assert recognition.recognition_bounds(x[:3 * sr], sr) == [(0, 3 * sr)]
    long = np.tile(x, 4)
    assert recognition.recognition_bounds(long, sr) == phones.chunk_bounds(long, sr)
