"""Whisper's words against a dialog text (core.audio.word_match): the second opinion on a text the
acoustic check refuses vouches for a right text heard with a word wrong here and there, never for a
text for half the line, with a phrase replaced, or for other audio."""

from __future__ import annotations

from talkface.core.audio import word_match
from talkface.core.audio.recognition import TEXT_VOUCHED

SAID = "bob made a map of the moon and then he put it in a box by the bed".split()


def test_the_same_words_agree_whole():
    a = word_match.agreement(SAID, SAID)
    assert (a.matched, a.said_missed, a.heard_extra) == (len(SAID), 0, 0)
    assert a.said_found == a.heard_found == 1.0 and TEXT_VOUCHED.agree(a)


def test_a_few_misheard_words_here_and_there_still_agree():
    heard = list(SAID)
    heard[1], heard[9], heard[14] = "maid", "put", "buy"       # three words misheard, one heard that was not said
    heard.insert(5, "uh")
    a = word_match.agreement(SAID, heard)
    assert a.matched == len(SAID) - 3 and a.said_missed == 1 and a.heard_extra == 1
    assert TEXT_VOUCHED.agree(a)


def test_half_the_line_leaves_a_run_of_heard_words_the_text_lacks():
    a = word_match.agreement(SAID[: len(SAID) // 2], SAID)
    assert a.said_found == 1.0 and a.heard_extra == len(SAID) - len(SAID) // 2
    assert not TEXT_VOUCHED.agree(a)


def test_a_replaced_third_leaves_a_run_of_the_texts_words_unheard():
    other = "the weather will be cool and windy".split()
    n = len(SAID)
    text = SAID[: n // 3] + other[: n // 3] + SAID[2 * n // 3:]
    a = word_match.agreement(text, SAID)
    assert a.said_missed == n // 3 and a.heard_extra == n // 3
    assert not TEXT_VOUCHED.agree(a)


def test_other_audio_or_nothing_heard_never_agrees():
    assert not TEXT_VOUCHED.agree(word_match.agreement(SAID, "the weather will be cool and windy today".split()))
    assert not TEXT_VOUCHED.agree(word_match.agreement(SAID, []))
    assert not TEXT_VOUCHED.agree(word_match.agreement([], SAID))
