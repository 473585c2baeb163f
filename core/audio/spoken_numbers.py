# SPDX-License-Identifier: GPL-3.0-or-later
"""Numbers written in digits -> the words a speaker says for them (American English).

The aligner times words, not digits: a transcript's "5" or Whisper's "$5", "5:30", "50%", "11th",
"1990s" must become "five", "five dollars", "five thirty", "fifty percent", "eleventh", "nineteen
nineties" first. Whisper writes numbers in digits whenever it can, and until 2026-12-06 one token
such as "$5" or "3:30" in a chunk's text lost the chunk's words altogether (its 20 s then gave the
lips nothing to seal on).

The readings are the usual ones, not guesses at a word: a four-digit number from 1100 to 2099
written without a comma is read as a year ("1999": nineteen ninety-nine; "2005": two thousand five;
"2024": twenty twenty-four), as Whisper writes years; a count of that size it writes with a comma
("1,999"). ``said`` returns None for what it does not read ("5pm", "MP3", "3/4"): a transcript asks
for it in words, a recogniser's text leaves that token out.
"""

from __future__ import annotations

import re

ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen").split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
SCALES = ((10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"))
#: ordinals that are not the cardinal + "th" (twenty -> twentieth is made by rule)
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
            "nine": "ninth", "twelve": "twelfth"}
#: currency signs written before the amount: (one, many) of the unit, (one, many) of its hundredth
_CURRENCY = {"$": (("dollar", "dollars"), ("cent", "cents")), "£": (("pound", "pounds"), ("penny", "pence")),
             "€": (("euro", "euros"), ("cent", "cents"))}

_NUMBER = r"\d{1,3}(?:,\d{3})+|\d+"


def spell(n: int) -> list[str]:
    """0 <= n < 10**12 as words (American style, no 'and'); longer numbers digit by digit."""
    if n >= 10 ** 12:
        return [ONES[int(d)] for d in str(n)]
    if n < 20:
        return [ONES[n]]
    if n < 100:
        return [TENS[n // 10]] + ([ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [ONES[n // 100], "hundred"] + (spell(n % 100) if n % 100 else [])
    for scale, name in SCALES:
        if n >= scale:
            return spell(n // scale) + [name] + (spell(n % scale) if n % scale else [])
    raise AssertionError(n)


def year(n: int) -> list[str]:
    """A year as it is said: 1999 nineteen ninety-nine, 1900 nineteen hundred, 1905 nineteen oh five,
    2000-2009 two thousand (five), 2010 on twenty ten."""
    if 2000 <= n < 2010:
        return spell(n)
    high, low = divmod(n, 100)
    if low == 0:
        return spell(high) + ["hundred"]
    return spell(high) + (["oh", ONES[low]] if low < 10 else spell(low))


def ordinal(words: list[str]) -> list[str]:
    """The last word of a cardinal made ordinal: twenty one -> twenty first, forty -> fortieth."""
    last = words[-1]
    if last in _ORDINAL:
        last = _ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return words[:-1] + [last]


def plural(words: list[str]) -> list[str]:
    """A decade: nineteen ninety -> nineteen nineties, eighty -> eighties."""
    last = words[-1]
    return words[:-1] + [last[:-1] + "ies" if last.endswith("y") else last + "s"]


def _integer(text: str, as_year: bool = True) -> list[str]:
    if "," in text:
        return spell(int(text.replace(",", "")))
    n = int(text)
    if as_year and len(text) == 4 and 1100 <= n < 2100:
        return year(n)
    if len(text) > 1 and text.startswith("0"):            # "007", a code: digit by digit
        return [ONES[int(d)] for d in text]
    return spell(n)


def _amount(whole: str, cents: str | None, unit: tuple, hundredth: tuple) -> list[str]:
    n = int(whole.replace(",", ""))
    words = spell(n) + [unit[n != 1]]
    if cents is not None and int(cents):
        words += ["and"] + spell(int(cents)) + [hundredth[int(cents) != 1]]
    return words


def said(token: str) -> list[str] | None:
    """One whitespace-separated token holding digits (edge punctuation already stripped, bar a
    leading currency sign and a trailing %) -> its words, or None when it is not a number this
    module reads."""
    if re.fullmatch(_NUMBER, token):
        return _integer(token)
    m = re.fullmatch(r"([$£€])(" + _NUMBER + r")(?:\.(\d\d))?", token)
    if m:
        return _amount(m.group(2), m.group(3), *_CURRENCY[m.group(1)])
    m = re.fullmatch(r"(" + _NUMBER + r")(?:\.(\d+))?%", token)
    if m:
        return _decimal(m.group(1), m.group(2)) + ["percent"]
    m = re.fullmatch(r"(" + _NUMBER + r")\.(\d+)", token)
    if m:
        return _decimal(m.group(1), m.group(2))
    m = re.fullmatch(r"(\d{1,2}):(\d\d)", token)
    if m and int(m.group(2)) < 60:
        hour, minute = int(m.group(1)), int(m.group(2))
        if minute == 0:                                    # "5:00 p.m.": said "five p m"
            return spell(hour)
        return spell(hour) + (["oh", ONES[minute]] if minute < 10 else spell(minute))
    m = re.fullmatch(r"(\d+)(st|nd|rd|th)", token)
    if m:
        return ordinal(spell(int(m.group(1))))
    m = re.fullmatch(r"'?(\d+)'?s", token)
    if m and int(m.group(1)) % 10 == 0:
        return plural(_integer(m.group(1)))
    return None


def _decimal(whole: str, fraction: str | None) -> list[str]:
    words = _integer(whole, as_year=False)
    if fraction:
        words += ["point"] + [ONES[int(d)] for d in fraction]
    return words
