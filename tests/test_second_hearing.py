"""Whisper hears a transcript's take beside the aligner (``alignment.align(second_hearing=)``,
``recognition.SecondHearing``; rule whisper_objects_rule_2026_12_07b): a text the acoustic check
accepts is refused where Whisper, sure of a stretch's words, heard other sounds there
(``recognition.objection``, ``core/audio/phone_match.py``); a right text, one misheard short word,
and an unsure or looping hearing refuse nothing; a refusal's "Whisper heard instead" comes from
the same hearing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import SPEECH

from talkface.core.audio import alignment, phone_match, phones, recognition, whisper
from talkface.core.audio.alignment import Word
from talkface.core.audio.loading import load_audio
from talkface.core.errors import InputError
from talkface.scripts.make_sample_audio import TEXT

pytestmark = pytest.mark.skipif(not whisper.available(), reason="Whisper's packages are not installed")

SR = recognition.SAMPLE_RATE


@pytest.fixture(scope="module")
def speech():
    return load_audio(SPEECH, sr=SR)


def test_phone_edits_are_the_fewest():
    """``edits`` against the textbook table, on every pair of short strings over three letters."""
    def table(a, b):
        d = np.zeros((len(a) + 1, len(b) + 1), int)
        d[:, 0], d[0, :] = np.arange(len(a) + 1), np.arange(len(b) + 1)
        for i, j in itertools.product(range(1, len(a) + 1), range(1, len(b) + 1)):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (a[i - 1] != b[j - 1]))
        return d[-1, -1]

    words = ["".join(w) for n in range(5) for w in itertools.product("abc", repeat=n)]
    for a, b in itertools.combinations(words[::3], 2):
        assert phone_match.edits(list(a), list(b)) == table(a, b), (a, b)


def test_sounds_are_compared_not_spellings():
    """Homophones cost nothing, an acronym Whisper writes in capitals is spelt as its letters, and
    words the dictionary lacks give no phones."""
    said = phone_match.pronunciations(["to", "two", "call", "m", "f", "a", "zxqvbn"])
    assert phone_match.edits(phone_match.phones(["to"], said), phone_match.phones(["two"], said)) == 0
    assert phone_match.phones(["call"], said) == ["K", "AO", "L"] and phone_match.phones(["zxqvbn"], said) == []
    assert phone_match.spelt("MFA is like NASA") == "m f a is like NASA"
    assert phone_match.compression("very, " * 40) > recognition.MAX_COMPRESSION > phone_match.compression(TEXT)


def _words(text: str, t0: float, t1: float) -> list[Word]:
    names = alignment.normalise(text)
    step = (t1 - t0) / len(names)
    return [Word(w, t0 + k * step, t0 + (k + 1) * step) for k, w in enumerate(names)]


def _heard(text: str, score: float = -0.1) -> whisper.Heard:
    return whisper.Heard(text, 1.0, 0.0, score)


def test_what_whisper_heard_objects_only_where_it_is_sure_and_the_sounds_differ():
    said = "Tom remembered Tom and Anna by the fireplace."
    words = _words(said, 0.5, 3.0)
    other = "Tom remembered the small bicycle by the fireplace."
    found = [((0, 4 * SR), _heard(other))]
    refused = recognition.objection(words, found)
    # the stretch that differs, timed by the text's words there
    assert refused == ('Whisper, sure of what it heard, heard "the small bicycle" at 1.1-2.1 s where the text says '
                       '"tom and anna"')
    assert recognition.objection(words, [((0, 4 * SR), _heard(said))]) is None                  # what was said
    assert recognition.objection(words, [((0, 4 * SR), _heard(other, score=-0.8))]) is None     # unsure
    assert recognition.objection(words, [((0, 4 * SR), _heard("Tom, " * 60))]) is None           # looping
    assert recognition.objection(words, [((0, 4 * SR), _heard(""))]) is None                    # no speech
    # one short word misheard ("To" heard as "Do you"): 3 phone edits, under OBJECT_PHONES
    assert recognition.objection(_words("To call this number.", 0.0, 1.5),
                                 [((0, 2 * SR), _heard("Do you call this number?"))]) is None
    # each chunk is compared with the text's words aligned in it (by their middles)
    two = _words(said, 0.5, 3.0) + _words(said, 4.5, 7.0)
    assert recognition.objection(two, [((0, 4 * SR), _heard(said)), ((4 * SR, 8 * SR), _heard(said))]) is None
    late = recognition.objection(two, [((0, 4 * SR), _heard(said)), ((4 * SR, 8 * SR), _heard(other))])
    assert late is not None and "at 5.1-6.1 s" in late
    # a text that leaves heard words out: timed by the chunk
    assert recognition.objection(_words("Tom remembered", 0.5, 1.2), [((0, 4 * SR), _heard(other))]) == (
        'Whisper, sure of what it heard, heard "the small bicycle by the fireplace" at 0.0-4.0 s where the text '
        'has no words')


@pytest.fixture
def lenient(monkeypatch):
    """The acoustic check's limits out of the way: what is refused is refused by Whisper."""
    monkeypatch.setattr(alignment, "MAX_EXCESS", 1e9)
    monkeypatch.setattr(alignment, "MAX_LOCAL_EXCESS", 1e9)


def test_a_text_whisper_objects_to_is_refused_and_the_right_one_kept(speech, lenient):
    """On the sample line (a voice Whisper is sure of), its text with the second sentence replaced
    is refused by Whisper's objection (an ``InputError``, so the operator reports it and headless
    exits 2, with how to trust the text); the right text is kept, and so is the wrong one when
    trusted (the user vouches: Whisper is not asked)."""
    wrong = ("Hello! My name is Emma, and I am very happy to meet you. "
             "Tomorrow the bottle will break, in line with the boys.")
    with pytest.raises(alignment.Objected) as refused:
        alignment.align(speech, wrong, second_hearing=recognition.second_hearing)
    message = str(refused.value)
    assert isinstance(refused.value, InputError) and "\n" not in message
    assert message.startswith("The transcript does not match the audio: Whisper, sure of what it heard, heard")
    assert '"tomorrow the bottle will break in line with the boys"' in message
    assert '"today this photo will speak in time with my voice"' in message
    assert message.endswith(alignment.TRUST_ADVICE)
    assert alignment.align(speech, wrong).words              # the acoustic check alone (limits lifted) keeps it
    assert alignment.align(speech, TEXT, second_hearing=recognition.second_hearing).words
    asked = []
    trusted = alignment.align(speech, wrong, trusted=True,
                              second_hearing=lambda *args: asked.append(args) or recognition.second_hearing(*args))
    assert trusted.words and trusted.trusted and not asked
    with pytest.raises(InputError, match="does not know 'zxqvbn'"):     # refused before the aligner starts:
        alignment.align(speech, "Hello! My name is zxqvbn.",             # Whisper is not woken
                        second_hearing=lambda *args: asked.append(args) or recognition.second_hearing(*args))
    assert not asked


def test_a_refusal_quotes_the_same_hearing(speech, monkeypatch):
    """A text the acoustic check refuses ends with what the second hearing heard; Whisper hears the
    take once (its chunks as SecondHearing cuts them), not again for the message."""
    heard = []
    transcribe = whisper.Whisper.transcribe_many

    def counted(self, xs, *args, **kwargs):
        heard.append(len(xs))
        return transcribe(self, xs, *args, **kwargs)

    monkeypatch.setattr(whisper.Whisper, "transcribe_many", counted)
    with pytest.raises(alignment.TextMismatch, match='Whisper heard instead: "Hello, my name is Emma') as refused:
        alignment.align(speech, "Today this photo will speak, in time with my voice. Hello! My name is Emma.",
                        second_hearing=recognition.second_hearing, heard_instead=lambda *a: pytest.fail("heard twice"))
    assert not isinstance(refused.value, alignment.Objected)
    assert sum(heard) == len(phones.chunk_bounds(speech.samples, SR, recognition.PAUSE_S, recognition.SECOND_CHUNK_S))


def test_a_take_said_three_times_is_quoted_not_called_wordless(speech):
    """Three takes of a line in one file compress like a loop; the second hearing keeps the words
    (its objection counts them unsure), so a refusal quotes them rather than saying Whisper heard
    none, and Trust Text's pins leave them out."""
    part = speech.samples[: int(3.6 * SR)]                    # "Hello, my name is Emma and ..."
    x = np.concatenate([part, np.zeros(SR // 2, np.float32)] * 3)
    with recognition.SecondHearing(x, chunk_s=recognition.SECOND_CHUNK_S) as hearing:
        found = hearing.found()
        assert len(found) == 1 and phone_match.compression(found[0][1].text) > recognition.MAX_COMPRESSION
        assert hearing.instead(["goodbye"]).lower().startswith('whisper heard instead: "hello, my name is emma')
        assert hearing.objection(_words("goodbye", 0.5, 1.0)) is None
    assert [words for _, _, words in recognition.heard_stretches(x)] == [[]]


def test_a_cancelled_alignment_stops_whisper(speech):
    """Cancelling while the aligner works stops the second hearing too (InterruptedError, its
    thread told to stop)."""
    made = []

    def hearing(x, cancelled):
        made.append(recognition.SecondHearing(x, cancelled))
        return made[-1]

    with pytest.raises(InterruptedError):
        alignment.align(speech, TEXT, cancelled=lambda: True, second_hearing=hearing)
    assert made and made[0].hearing.stopped.is_set()
