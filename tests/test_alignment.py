"""Forced alignment of a transcript (core.audio.alignment, PocketSphinx)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from talkface.core.audio import alignment, sphinx_helper
from talkface.core.audio.loading import load_audio
from talkface.core.errors import InputError
from talkface.scripts.make_sample_audio import TEXT

SPEECH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples", "speech.wav")

@pytest.fixture(scope="module")
def speech():
    return load_audio(SPEECH)


@pytest.fixture(scope="module")
def result(speech):
    return alignment.align(speech, TEXT)


def test_words_in_order_and_phones_monotone_covering(result, speech):
    assert [w.text for w in result.words] == alignment.normalise(TEXT)
    starts = np.array([w.start for w in result.words])
    assert np.all(np.diff(starts) > 0)
    ph = result.phones
    assert ph[0][1] == 0.0 and abs(ph[-1][2] - speech.duration) < 1e-6
    assert all(s < e for _, s, e in ph)
    assert all(abs(a[2] - b[1]) < 1e-9 for a, b in zip(ph, ph[1:]))        # contiguous
    assert {p for p, _, _ in ph} <= set("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG "
                                        "OW OY P R S SH T TH UH UW V W Y Z ZH SIL".split())


def test_m_of_my_name_lands_in_place(result):
    words = {w.text: w for w in result.words[:4]}
    my, name = words["my"], words["name"]
    assert my.end <= name.start + 1e-9 and words["hello"].end <= my.start + 1e-9
    ms = [(s, e) for p, s, e in result.phones if p == "M" and my.start - 1e-9 <= s < name.end]
    assert len(ms) == 2                                 # the /m/ of "my" and the /m/ closing "name"
    assert abs(ms[0][0] - my.start) < 0.02 and ms[1][1] <= name.end + 1e-9
    assert 0.7 < my.start < 1.2                          # after "Hello!" and its pause


def test_score_is_well_inside_the_limit_for_the_right_text(result):
    """The sample's espeak-ng voice fits the real-speech model worse than people do (bench/alignment.py:
    its aligned phones score well below each frame's best), and its text still sits clearly below the
    refusal limits, which read how much worse the text's phones fit than the phone loop's own."""
    assert 0.5 < result.score and all(c[2] > 0 for c in result.chunk_scores)
    assert 0 < result.excess < min(result.score, alignment.MAX_EXCESS - 1.0)
    assert result.worst_window < alignment.MAX_LOCAL_EXCESS - 1.0


def test_gap_is_how_far_the_aligned_phone_scores_below_the_best(speech, result):
    """``frame_gaps`` reads the acoustic model's own phone scores: zero on a frame whose aligned
    phone is its best, the distance to the best otherwise; moving the text's phones by half a
    second makes the fit clearly worse."""
    from talkface.core.audio import senones

    logliks = senones.phone_logliks(speech)
    gap = alignment.frame_gaps(logliks, result.phones)
    assert gap.shape == (len(logliks),) and np.nanmin(gap) == 0.0
    assert abs(np.nanmean(gap) - result.score) < 1e-6
    m = next(i for i, (p, s, e) in enumerate(result.phones) if p == "M")
    frame = int(round((result.phones[m][1] + result.phones[m][2]) / 2 / alignment.FRAME_S))
    best = senones.acoustic_model().phones[int(np.nanargmax(logliks[frame]))]
    expected = 0.0 if best == "M" else float(np.nanmax(logliks[frame]) - logliks[frame, senones.acoustic_model().phones.index("M")])
    assert abs(gap[frame] - expected) < 1e-5
    shifted = [(p, s + 0.5, e + 0.5) for p, s, e in result.phones]
    assert np.nanmean(alignment.frame_gaps(logliks, shifted)) > result.score + 1.0


@pytest.mark.parametrize("wrong", [
    "hello my name is john and i am very sad to leave you tonight that radio will sing out of tune",
    "today this photo will speak in time with my voice hello my name is emma and i am very happy",
    "hello my name is emma",
])
def test_wrong_transcript_refused(speech, wrong):
    with pytest.raises(InputError, match="does not match the audio"):
        alignment.align(speech, wrong)


def test_speech_past_a_short_text_is_named_as_such(speech):
    """A text for the first words only: the speech after them is said to hold none of its words
    (not that it 'does not sound like' nothing)."""
    with pytest.raises(alignment.TextMismatch, match=r"between \d+\.\d s and \d+\.\d s holds none of the text's words"):
        alignment.align(speech, "Hello, my name is Emma.")


def test_unsaid_names_speech_the_text_leaves_without_words():
    """The phone loop hears speech from 0.1 to 1.2 s: a text whose phones cover 0.1-0.4 s leaves
    0.8 s (73 %) of it unsaid and is refused, the stretch named; one that covers it all, or leaves
    under ``MIN_UNSAID_S`` (a prompt's breath), is not."""
    heard = [("SIL", 0.0, 0.1), ("L", 0.1, 0.3), ("EH", 0.3, 0.6), ("S", 0.6, 1.2), ("SIL", 1.2, 1.5)]
    short = [("SIL", 0.0, 0.1), ("L", 0.1, 0.2), ("EH", 0.2, 0.3), ("S", 0.3, 0.4), ("SIL", 0.4, 1.5)]
    refused = alignment._unsaid(short, heard, 150)
    assert isinstance(refused, alignment.Unsaid)
    assert "0.8 s of speech (73% of what it hears)" in str(refused) and "most at 0.4-1.2 s" in str(refused)
    assert alignment._unsaid(heard, heard, 150) is None
    nearly = [("SIL", 0.0, 0.1), ("L", 0.1, 0.8), ("SIL", 0.8, 1.5)]                 # 0.4 s left: 36 %
    assert alignment._unsaid(nearly, heard, 150) is None


def test_a_half_line_the_excess_lets_through_is_refused_as_unsaid(monkeypatch):
    """flite's rms voice saying "The echo test has been completed." in white noise (20 dB) with the
    text "The echo test": the aligner calls the rest silence, and in noise the model's silence units
    fit it well enough that the excess stays under the limits (accepted with the unsaid-speech check
    off: 1.8 per frame); the check refuses it and names the speech left without words. The whole
    line is accepted; trusted, the half is kept with the check's finding
    (``unsaid_speech_rule_2026_12_08``)."""
    from conftest import HALF_LINE, HALF_LINE_SAID, half_line_in_noise

    from talkface.core.audio.loading import from_array

    audio = from_array(half_line_in_noise(), 16000)
    assert alignment.align(audio, HALF_LINE_SAID).words[-1].text == "completed"
    with pytest.raises(alignment.Unsaid, match=r"hears \d\.\d s of speech \(\d+% of what it hears\) where the text "
                                               r"has no words, most at \d\.\d-\d\.\d s"):
        alignment.align(audio, HALF_LINE)
    kept = alignment.align(audio, HALF_LINE, trusted=True)
    assert kept.trusted and "where the text has no words" in kept.check
    monkeypatch.setattr(alignment, "MAX_UNSAID_SHARE", 1.01)
    assert alignment.align(audio, HALF_LINE).words[-1].text == "test"


@pytest.mark.parametrize("text", ["", "   ", "?!"])
def test_empty_refused(speech, text):
    with pytest.raises(InputError, match="empty|no words"):
        alignment.align(speech, text)


@pytest.mark.parametrize("text", ["Привет, меня зовут Эмма, и я очень рада", "你好我的名字是艾玛",
                                  "hola me llamo emma y estoy muy contenta de conocerte"])
def test_non_english_refused(speech, text):
    with pytest.raises(InputError, match="English only"):
        alignment.align(speech, text)


def test_unknown_word_named(speech):
    with pytest.raises(InputError, match="'zxqvbn'"):
        alignment.align(speech, "Hello! My name is zxqvbn, and I am very happy to meet you.")


def test_normalise_numbers_and_punctuation():
    assert alignment.normalise("It's 2,024 \u2014 well-known “Café”!") == \
        ["it's", "two", "thousand", "twenty", "four", "well", "known", "cafe"]
    with pytest.raises(InputError, match="in words"):
        alignment.normalise("meet me at 5pm")


def test_too_long_refused():
    from talkface.core.audio.loading import Audio

    long = Audio(np.zeros(int((alignment.MAX_DURATION_S + 1) * 16000), np.float32), 16000)
    with pytest.raises(InputError, match="at most 10 minutes"):
        alignment.align(long, "hello")


def test_a_recognisers_words_find_a_path_with_wider_beams_and_a_text_does_not():
    """espeak-ng's Welsh-English accent with its 'travis' voice saying "Bob made a map of the moon.":
    PocketSphinx's word pass with its own beams finds no path through the words, so a words-mode
    chunk gave no /p b m/ at all. A recogniser's words (``wide``) are tried again with
    ``WIDE_BEAMS``: each of the six /p b m/ then overlaps the one espeak-ng said (20 ms either
    side), and the decoder's own beams are left as they were. A transcript keeps PocketSphinx's
    beams: finding no path is part of how a text for other audio is refused."""
    from talkface.core.audio.loading import from_array, resample
    from talkface.core.audio.phones import to_pcm16
    from talkface.training.corpus import espeak

    if not espeak.available():
        pytest.skip("libespeak-ng is not installed")
    text = "Bob made a map of the moon."
    words = alignment.normalise(text)
    said = espeak.synthesize(text, "en-gb-x-gbcwmd+travis")
    x = resample(said.samples, said.sample_rate, 16000)
    pcm = to_pcm16(x).tobytes()
    said_bilabials = [(e.start, e.end) for e in said.phonemes if e.phoneme.lower() in ("p", "b", "m")]
    dictionary = alignment._dictionary_file(alignment.dictionary_entries(words))
    try:
        decoders = sphinx_helper.Decoders(alignment.decoder_settings(dictionary))
        own = {name: decoders("words").config[name] for name in sphinx_helper.WIDE_BEAMS}
        assert sphinx_helper.align_chunk(decoders, words, pcm) is None
        answer = sphinx_helper.run_job(decoders, {"kind": "align", "words": words, "wide": True}, pcm)
        assert {name: decoders("words").config[name] for name in own} == own
    finally:
        os.unlink(dictionary)
    _, phones = alignment.timed_answer(answer["words"], 0.0)
    found = [(s, e) for p, s, e in phones if p in ("P", "B", "M")]
    assert len(found) == len(said_bilabials) == 6
    for (s0, e0), (s1, e1) in zip(said_bilabials, found):
        assert s1 < e0 + 0.02 and e1 > s0 - 0.02
    with pytest.raises(InputError, match="cannot be fitted.*Trust Text"):
        alignment.align(from_array(x, 16000), text)


def test_a_trusted_text_is_aligned_where_the_beams_and_the_check_refuse_it(speech, monkeypatch):
    """The same travis line with its text trusted (*Trust Text*, ``--trust-transcript``): the word
    passes are tried again unpruned, and each of the six /p b m/ lands on the one espeak-ng said
    (30 ms either side); the check still measures the fit and says what it would have refused
    (``Alignment.check``) instead of refusing. An untrusted refusal ends with how to trust it. Over
    ``TRUSTED_WIDE_S`` the whole clip is not searched unpruned: the refusal says to split it."""
    from talkface.core.audio.loading import from_array, resample
    from talkface.training.corpus import espeak

    if not espeak.available():
        pytest.skip("libespeak-ng is not installed")
    text = "Bob made a map of the moon."
    said = espeak.synthesize(text, "en-gb-x-gbcwmd+travis")
    audio = from_array(resample(said.samples, said.sample_rate, 16000), 16000)
    aligned = alignment.align(audio, text, trusted=True)
    assert aligned.trusted and [w.text for w in aligned.words] == alignment.normalise(text)
    said_bilabials = [(e.start, e.end) for e in said.phonemes if e.phoneme.lower() in ("p", "b", "m")]
    found = [(s, e) for p, s, e in aligned.phones if p in ("P", "B", "M")]
    assert len(found) == len(said_bilabials) == 6
    for (s0, e0), (s1, e1) in zip(said_bilabials, found):
        assert s1 < e0 + 0.03 and e1 > s0 - 0.03
    assert not alignment.align(speech, TEXT).trusted
    # unpruned, any text fits silence or noise: even a trusted text needs speech under its words
    for quiet in (np.zeros(32000, np.float32), np.random.default_rng(0).normal(0, 0.05, 32000).astype(np.float32)):
        with pytest.raises(alignment.TextMismatch, match="almost no speech"):
            alignment.align(from_array(quiet, 16000), text, trusted=True)
    # a text the check refuses, trusted: aligned, the refusal kept as what the check said
    half = " ".join(TEXT.split()[: len(TEXT.split()) // 2])
    with pytest.raises(alignment.TextMismatch) as refused:
        alignment.align(speech, half)
    assert str(refused.value).endswith(alignment.TRUST_ADVICE)
    kept = alignment.align(speech, half, trusted=True)
    assert kept.trusted and kept.check == str(refused.value)[: -len(alignment.TRUST_ADVICE) - 1]
    assert [w.text for w in kept.words] == alignment.normalise(half)
    # a chunk longer than TRUSTED_WIDE_S (no pause to cut at) is not searched unpruned either
    asked = []
    own = sphinx_helper.align_chunk
    monkeypatch.setattr(sphinx_helper, "align_chunk",
                        lambda d, w, p, wide=False: asked.append(wide) or own(d, w, p, wide))
    alignment.align(speech, TEXT, trusted=True)
    assert asked and all(asked)
    monkeypatch.setattr(alignment, "TRUSTED_WIDE_S", 2.0)
    asked.clear()
    alignment.align(speech, TEXT, trusted=True)             # one chunk of 7.4 s: not unpruned
    assert asked and not any(asked)
    monkeypatch.setattr(alignment, "TRUSTED_WIDE_S", 1.0)
    with pytest.raises(alignment.TextMismatch, match="split the recording") as refused:
        alignment.align(audio, text, trusted=True)          # the travis line is 1.6 s long
    assert alignment.TRUST_ADVICE not in str(refused.value)


def test_a_voice_far_from_the_model_keeps_its_right_text():
    """espeak-ng's Welsh-English accent with its 'travis' voice fits every phone of the real-speech
    model badly, the right text's too: its aligned phones score 3.4 per frame below each frame's
    best, over the 3.0 that refused the text until the check read the gap against the phone loop's
    own path. Now the right text is accepted, each /p b m/ within 40 ms of where espeak-ng said it,
    and a text for other audio is still refused."""
    from talkface.core.audio.loading import from_array, resample
    from talkface.training.corpus import espeak

    if not espeak.available():
        pytest.skip("libespeak-ng is not installed")
    text = "Please bring me the big blue book."
    said = espeak.synthesize(text, "en-gb-x-gbcwmd+travis")
    audio = from_array(resample(said.samples, said.sample_rate, 16000), 16000)
    aligned = alignment.align(audio, text)
    assert aligned.score > 3.0 and aligned.excess < alignment.MAX_EXCESS
    said_bilabials = [(e.start, e.end) for e in said.phonemes if e.phoneme.lower() in ("p", "b", "m")]
    found = [(s, e) for p, s, e in aligned.phones if p in ("P", "B", "M")]
    assert len(found) == len(said_bilabials) == 6
    for (s0, e0), (s1, e1) in zip(said_bilabials, found):
        assert s1 < e0 + 0.04 and e1 > s0 - 0.04
    with pytest.raises(InputError, match="does not match"):
        alignment.align(audio, "The weather will be cool and windy.")


def test_fallback_when_the_phone_pass_fails(speech, monkeypatch):
    """PocketSphinx's state alignment can die on real speech; the chunk is then cut at silences
    and timed by one-phone pseudo-words, whose fit is measured like any other."""
    monkeypatch.setattr(sphinx_helper, "align_chunk", lambda *a: None)
    r = alignment.align(speech, TEXT)
    assert [w.text for w in r.words] == alignment.normalise(TEXT)
    assert len(r.chunk_scores) >= 2 and all(0 < c[2] for c in r.chunk_scores) and r.excess < alignment.MAX_EXCESS
    assert all(abs(a[2] - b[1]) < 1e-9 for a, b in zip(r.phones, r.phones[1:]))
    assert r.phones[0][1] == 0.0 and abs(r.phones[-1][2] - speech.duration) < 1e-6
    my = next(w for w in r.words if w.text == "my")
    assert any(p == "M" and abs(s - my.start) < 0.03 for p, s, _ in r.phones)


def test_helper_processes_align_as_this_process_does(speech, monkeypatch, tmp_path):
    """Clips of 2 x CHUNK_S or more: helper processes (own decoders, a dictionary of the
    transcript's words only) align the chunks; the words, phones and gaps are exactly those of
    this process alone, and a helper that dies costs only time."""
    from talkface.core.audio import sphinx_pool
    from talkface.core.audio.loading import from_array

    gap = np.zeros(8000, np.float32)
    long = from_array(np.concatenate([speech.samples, gap] * 3), 16000)
    assert long.duration >= 2 * alignment.CHUNK_S
    text = " ".join([TEXT] * 3)
    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, "0")
    alone = alignment.align(long, text)
    assert len(alone.chunk_scores) >= 2
    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, "2")
    started = []
    pool = sphinx_pool.Pool
    monkeypatch.setattr(sphinx_pool, "Pool", lambda *a: started.append(pool(*a)) or started[-1])
    helped = alignment.align(long, text)
    assert len(started) == 1 and len(started[0].processes) == 2
    assert helped == alone
    dead = tmp_path / "dies.py"
    dead.write_text("import sys; sys.exit(3)\n")
    monkeypatch.setattr(sphinx_pool, "HELPER_SCRIPT", str(dead))
    assert alignment.align(long, text) == alone


def test_features_are_computed_while_the_helpers_align(speech, monkeypatch):
    """``meanwhile`` runs once: while helpers align a long clip (True), after a short one's
    alignment (False); ``align_and_listen`` hears what ``listen_to`` hears."""
    from talkface.core.audio import inference, listening, phone_loop, sphinx_pool
    from talkface.core.audio.loading import from_array

    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, "2")
    long = from_array(np.concatenate([speech.samples, np.zeros(8000, np.float32)] * 3), 16000)
    for audio, text, helped in ((long, " ".join([TEXT] * 3), True), (speech, TEXT, False)):
        calls = []
        alignment.align(audio, text, meanwhile=calls.append)
        assert calls == [helped]
    # the mismatch check reads the phone scores and loop path ``meanwhile`` hands back instead of its own
    text = " ".join([TEXT] * 3)
    own = alignment.align(long, text)
    found = phone_loop.hear(long)
    heard = alignment.Heard(found.logliks, phone_loop.as_timed(found.phones))
    assert alignment.align(long, text, meanwhile=lambda helped: heard) == own
    moved = phone_loop.hear(from_array(np.roll(long.samples, 300 * 160), 16000))     # what 3 s later sounds like
    with pytest.raises(InputError, match="does not sound like"):
        alignment.align(long, text, meanwhile=lambda helped: alignment.Heard(moved.logliks,
                                                                             phone_loop.as_timed(moved.phones)))
    net = inference.load_animator()
    aligned, heard = listening.align_and_listen(long, net, " ".join([TEXT] * 3))
    alone = listening.listen_to(long, net)
    assert np.allclose(heard.features, alone.features, atol=1e-5)
    assert np.allclose(heard.posteriors, alone.posteriors, atol=1e-5) and heard.logliks is None
    assert aligned.phones == alignment.align(long, " ".join([TEXT] * 3)).phones


@pytest.mark.parametrize("helpers", ["0", "2"])
def test_alignment_can_be_cancelled_between_chunks(speech, monkeypatch, helpers):
    """Esc while a long take's text is aligned: it stops after the whole-clip pass, at the chunks
    (in this process, or while the helpers work), and nothing is returned."""
    from talkface.core.audio import sphinx_pool
    from talkface.core.audio.loading import from_array

    monkeypatch.setenv(sphinx_pool.HELPERS_ENV, helpers)
    long = from_array(np.concatenate([speech.samples, np.zeros(8000, np.float32)] * 3), 16000)
    asked = []
    with pytest.raises(InterruptedError):
        alignment.align(long, " ".join([TEXT] * 3), cancelled=lambda: asked.append(1) or True)
    assert asked


def test_a_recognisers_misheard_words_find_a_path_without_pruning():
    """espeak-ng's Scottish voice saying "Have you seen the muddy bicycle that Sophie borrowed?",
    heard by Whisper as "Have you seen the mother my second husband, Marion": no path survives
    beams of 1e-100 (what ``WIDE_BEAMS`` were), so the words mode gave the line's three /m b/ nothing.
    Searched without pruning the words fit, and "mother" and "my" seal the lips where "muddy" and
    "bicycle" open them."""
    from talkface.core.audio.loading import resample
    from talkface.core.audio.phones import to_pcm16
    from talkface.training.corpus import espeak

    if not espeak.available():
        pytest.skip("libespeak-ng is not installed")
    said = espeak.synthesize("Have you seen the muddy bicycle that Sophie borrowed?", "en-gb-scotland")
    pcm = to_pcm16(resample(said.samples, said.sample_rate, 16000)).tobytes()
    words = alignment.normalise("Have you seen the mother my second husband, Marion")
    decoders = sphinx_helper.Decoders(alignment.decoder_settings())
    assert sphinx_helper.WIDE_BEAMS == {"beam": 0.0, "pbeam": 0.0, "wbeam": 0.0}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sphinx_helper, "WIDE_BEAMS", {"beam": 1e-100, "pbeam": 1e-100, "wbeam": 1e-80})
        assert sphinx_helper.align_chunk(decoders, words, pcm, wide=True) is None
    answer = sphinx_helper.align_chunk(decoders, words, pcm, wide=True)
    assert answer is not None
    timed_words, phones = alignment.timed_answer(answer["words"], 0.0)
    assert [w.text for w in timed_words] == words
    found = [(s, e) for p, s, e in phones if p in ("P", "B", "M")]
    muddy, bicycle = [(e.start, e.end) for e in said.phonemes if e.phoneme.lower() in ("m", "b")][:2]
    for s0, e0 in (muddy, bicycle):
        assert any(s1 < e0 + 0.03 and e1 > s0 - 0.03 for s1, e1 in found), (s0, found)


def test_a_refused_text_says_what_whisper_heard(speech, monkeypatch):
    """A text refused as not matching ends with what Whisper heard (``heard_instead``), so a text
    given for another take's audio shows as such; a text the check accepts never wakes Whisper, a
    text refused for other reasons (unknown words) is not heard, and a farm that chose PocketSphinx
    gets the refusal alone."""
    from talkface.core.audio import recognition, whisper

    if not whisper.available():
        pytest.skip("Whisper's packages are not installed")
    monkeypatch.setattr(recognition, "WORD_SOURCE", "whisper")
    asked = []

    def counted(x, said, cancelled=None):
        asked.append(said)
        return recognition.heard_instead(x, said, cancelled)

    assert alignment.align(speech, TEXT, heard_instead=counted).words and not asked
    with pytest.raises(InputError, match="'zxqvbn'"):
        alignment.align(speech, "Hello! My name is zxqvbn.", heard_instead=counted)
    assert not asked
    words = TEXT.split()
    n = len(words)
    for wrong in ("The quick brown fox jumps over the lazy dog by the river bank on Sunday.",
                  " ".join(words[: n // 2])):
        with pytest.raises(alignment.TextMismatch, match="does not match the audio") as refused:
            alignment.align(speech, wrong, heard_instead=counted)
        message = str(refused.value)
        assert message.endswith('" ' + alignment.TRUST_ADVICE) and "\n" not in message
        assert 'Whisper heard instead: "Hello, my name is Emma and I\'m very happy to meet you.' in message
    assert asked == [alignment.normalise(wrong) for wrong in (
        "The quick brown fox jumps over the lazy dog by the river bank on Sunday.", " ".join(words[: n // 2]))]

    # a Whisper that cannot run (a damaged install) leaves the refusal as it was
    def damaged():
        raise ValueError("The Whisper model's packages do not make the expected model file")

    own_model = whisper.model
    monkeypatch.setattr(whisper, "model", damaged)
    with pytest.raises(alignment.TextMismatch) as refused:
        alignment.align(speech, " ".join(words[: n // 2]), heard_instead=recognition.heard_instead)
    assert "Whisper" not in str(refused.value)
    monkeypatch.setattr(whisper, "model", own_model)
    with pytest.raises(InterruptedError):                 # a cancel while Whisper listens is a cancel
        recognition.heard_instead(speech.samples, words, cancelled=lambda: True)
    # a right text the check refuses (here: its limits at nothing), heard word for word by Whisper
    monkeypatch.setattr(alignment, "MAX_EXCESS", -10.0)
    heard = "Hello, my name is Emma and I'm very happy to meet you. Today this photo will speak in time with my voice."
    with pytest.raises(alignment.TextMismatch, match="Whisper heard exactly these words, so the voice, not the text, "
                       "is what the aligner cannot fit. If the text is right .* Trust Text"):
        alignment.align(speech, heard, heard_instead=counted)
    n_asked = len(asked)
    trusted = alignment.align(speech, heard, heard_instead=counted, trusted=True)    # the user vouches for it
    assert trusted.trusted and "does not match" in trusted.check and len(asked) == n_asked
    monkeypatch.setattr(recognition, "WORD_SOURCE", "pocketsphinx")
    with pytest.raises(InputError, match="does not match the audio") as refused:
        alignment.align(speech, "The quick brown fox jumps over the lazy dog.", heard_instead=recognition.heard_instead)
    assert "Whisper" not in str(refused.value)


def test_a_long_text_is_cut_where_the_heard_words_pin_it():
    """``anchor_pieces``: the text is cut where a stretch of what was heard starts, between runs of
    at least ``ANCHOR_RUN`` words heard as written; into pieces of at most ``limit``, the farthest
    cut each time; a sentence start between the two pins is where it is cut; a stretch whose
    words near the cut were misheard gives no cut, and a text with no cut within the limit None."""
    text = ("the cat sat on the mat . a dog ran up the hill . we all went home for tea . "
            "then the rain came down hard . the end of the day was near").split(" ")
    words = [w for w in text if w != "."]
    starts = alignment.sentence_starts(" ".join(text), words)
    assert sorted(starts) == [0, 6, 12, 18, 24]
    heard = [(0.0, 20.0, words[:12]), (20.0, 40.0, words[12:18]), (40.0, 60.0, words[18:])]
    pieces = alignment.anchor_pieces(words, heard, 60.0, limit=45.0)
    assert pieces == [(0.0, 40.0, words[:18]), (40.0, 60.0, words[18:])]
    assert alignment.anchor_pieces(words, heard, 60.0, limit=60.0) == [(0.0, 60.0, words)]
    # the cut's neighbours misheard: pinned 2 words before and 1 after, the sentence start between wins
    misheard = [(0.0, 20.0, words[:10] + ["fur", "tee"]), (20.0, 40.0, ["them"] + words[13:18]),
                (40.0, 60.0, words[18:])]
    assert alignment.anchor_pieces(words, misheard, 60.0, 45.0, starts)[0] == (0.0, 40.0, words[:18])
    cut = alignment.anchor_pieces(words, misheard, 60.0, 25.0, starts)
    assert cut[0] == (0.0, 20.0, words[:12]) and cut[1][2][0] == "we"
    # without the sentence starts the unpinned words are shared as the heard ones were (2 : 1)
    assert alignment.anchor_pieces(words, misheard, 60.0, 25.0)[0] == (0.0, 20.0, words[:12])
    # a stretch heard as other words pins nothing: no cut within 25 s of the start
    lost = [(0.0, 20.0, words[:6] + ["x"] * 6), (20.0, 40.0, ["y"] * 6), (40.0, 60.0, words[18:])]
    assert alignment.anchor_pieces(words, lost, 60.0, 25.0, starts) is None
    # one common word heard alike is no pin
    chance = [(0.0, 20.0, ["x", "the", "y"]), (20.0, 40.0, ["the", "z"]), (40.0, 60.0, ["w"])]
    assert alignment.anchor_pieces(words, chance, 60.0, 25.0) is None
    assert alignment.sentence_starts("It cost 3.5 dollars. Then more.", alignment.normalise(
        "It cost 3.5 dollars. Then more.")) == frozenset()                   # a decimal point: none


def test_a_trusted_text_too_long_to_search_whole_is_aligned_in_pinned_pieces(monkeypatch):
    """A trusted text whose whole-clip pass finds no path, on a recording over ``TRUSTED_WIDE_S``:
    Whisper hears it in chunks, its words pin the text, and each piece is aligned on its own. Here
    the real two_cities reading (44 s) with the limit at 20 s and the whole-clip pass made to
    fail: the words land where the ordinary alignment puts them. Without a recogniser's words
    it is refused as before."""
    from talkface.core.audio import recognition, whisper
    from talkface.training.corpus import real

    if not whisper.hears_words(recognition.WORD_SOURCE):
        pytest.skip("Whisper is not installed")
    audio = load_audio(real.path("two_cities"))
    text = real.transcript("two_cities")
    plain = alignment.align(audio, text)
    own = sphinx_helper.word_pass
    whole = " ".join(alignment.normalise(text))

    def fails_whole(decoders, words, pcm, wide=False):        # the beams lose the whole clip's path
        return None if words == whole else own(decoders, words, pcm, wide)

    monkeypatch.setattr(sphinx_helper, "word_pass", fails_whole)
    monkeypatch.setattr(alignment, "TRUSTED_WIDE_S", 20.0)
    with pytest.raises(alignment.TextMismatch, match="split the recording"):
        alignment.align(audio, text, trusted=True)
    # heard words that pin nothing: refused, and Whisper is not asked a second time for the message
    said = []
    with pytest.raises(alignment.TextMismatch, match="pins the text to the audio too seldom"):
        alignment.align(audio, text, trusted=True, anchors=lambda x, cancelled: [(0.0, audio.duration, ["hmm"])],
                        heard_instead=lambda *args: said.append(args) or "Whisper heard instead: ...")
    assert not said
    asked = []
    pieces = alignment.align(audio, text, trusted=True,
                             anchors=lambda x, cancelled: asked.append(len(x)) or recognition.heard_stretches(x))
    assert asked == [len(audio.samples)] and pieces.trusted and pieces.pieces > 1 and plain.pieces == 1
    assert [w.text for w in pieces.words] == [w.text for w in plain.words]
    off = np.array([abs(a.start - b.start) for a, b in zip(pieces.words, plain.words)])
    assert np.median(off) < 0.015 and np.mean(off < 0.05) > 0.9, off
    ph = pieces.phones
    assert ph[0][1] == 0.0 and abs(ph[-1][2] - audio.duration) < 1e-6
    assert all(abs(a[2] - b[1]) < 1e-9 for a, b in zip(ph, ph[1:]))
    # the take's path (Animate from Audio, headless) hands Whisper's stretches to the aligner
    from talkface.core.audio import inference, listening

    aligned, _ = listening.align_and_listen(audio, inference.load_animator(), text, trusted=True)
    assert [w.text for w in aligned.words] == [w.text for w in plain.words]
