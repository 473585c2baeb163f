"""Numbers written in digits are read as they are said (core/audio/spoken_numbers.py), for a transcript
and for Whisper's words, which it writes in digits whenever it can."""

from __future__ import annotations

import pytest

from talkface.core.audio import alignment, phone_match, recognition, spoken_numbers
from talkface.core.errors import InputError


@pytest.mark.parametrize("token, words", [
    ("5", "five"), ("1,000", "one thousand"), ("2,024", "two thousand twenty four"),
    ("1999", "nineteen ninety nine"), ("1900", "nineteen hundred"), ("1905", "nineteen oh five"),
    ("2005", "two thousand five"), ("2024", "twenty twenty four"),
    ("3,250,000,000", "three billion two hundred fifty million"),
    ("$5", "five dollars"), ("$1", "one dollar"), ("$5.50", "five dollars and fifty cents"), ("£3", "three pounds"),
    ("€1.01", "one euro and one cent"), ("50%", "fifty percent"), ("2.5%", "two point five percent"),
    ("3.14", "three point one four"), ("3:30", "three thirty"), ("5:05", "five oh five"), ("5:00", "five"),
    ("11th", "eleventh"), ("21st", "twenty first"), ("2nd", "second"), ("3rd", "third"), ("40th", "fortieth"),
    ("12th", "twelfth"), ("100th", "one hundredth"), ("1990s", "nineteen nineties"), ("80s", "eighties"),
    ("007", "zero zero seven"),
])
def test_a_number_is_read_as_it_is_said(token, words):
    assert spoken_numbers.said(token) == words.split()


@pytest.mark.parametrize("token", ["5pm", "mp3", "3/4", "25:99", "1985s", "4x4"])
def test_what_is_not_a_number_is_not_read(token):
    assert spoken_numbers.said(token) is None


def test_every_word_a_number_reads_to_is_in_the_dictionary():
    known = phone_match.known_words()
    tokens = [str(n) for n in range(0, 1000)] + [f"{n}th" for n in range(1, 200)] + [
        "1,234,567,890", "$2.22", "£1.01", "€3.33", "1980s", "'20s", "12:45", "99.9%", "1066", "2099"]
    missing = {w for t in tokens for w in spoken_numbers.said(t.strip("'")) if w not in known}
    assert not missing


def test_a_transcript_and_whispers_text_read_numbers_alike():
    text = "It costs $5.50 at 3:30, 50% off since the 1990s; track 7 (the 2nd)."
    said = ("it costs five dollars and fifty cents at three thirty fifty percent off since the nineteen "
            "nineties track seven the second").split()
    assert alignment.normalise(text) == said
    assert recognition.aligned_words(text) == said[:-2]          # what Whisper writes in brackets is left out
    # a token that is no number: a transcript asks for it in words, a recogniser's text leaves it out
    with pytest.raises(InputError, match="'5pm' in words"):
        alignment.normalise("meet me at 5pm")
    assert recognition.aligned_words("Meet me at 5pm, $5 each.") == "meet me at five dollars each".split()
