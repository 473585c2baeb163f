"""How far apart two word sequences sound: each word as its CMU dictionary phones, compared by the
fewest phone edits. For ``core.audio.recognition.objection``: a transcript's words against what
Whisper heard, where homophones and spellings ("Catherine", "Kathryn") must not count as
differences and a replaced phrase must."""

from __future__ import annotations

import functools
import re
import zlib

import numpy as np

from .alignment import dictionary_lines, headword


@functools.lru_cache(maxsize=1)
def known_words() -> frozenset:
    """The words the aligner's dictionary can pronounce."""
    return frozenset(headword(line) for line in dictionary_lines())


def pronunciations(words) -> dict[str, list[str]]:
    """Each of ``words`` the dictionary knows -> its first pronunciation (ARPAbet, stress dropped);
    one pass over the dictionary file (``alignment.dictionary_lines``), nothing kept."""
    found: dict[str, list[str]] = {}
    for line in dictionary_lines(words):
        found.setdefault(headword(line), [p.rstrip("012") for p in line.split()[1:]])
    return found


def phones(words: list[str], said: dict[str, list[str]]) -> list[str]:
    """The words' phones one after the other, from ``said`` (``pronunciations``; words it lacks
    give none)."""
    return [p for w in words for p in said.get(w, ())]


def spelt(text: str) -> str:
    """``text`` with each word of 2-5 capitals the dictionary lacks (a plural 's' allowed) spelt as its
    letters: recognisers write "MFA" where a transcript says "m f a"."""
    known = known_words()
    return re.sub(r"\b([A-Z]{2,5})s?\b",
                  lambda m: m.group(0) if m.group(1).lower() in known else " ".join(m.group(1).lower()), text)


def edits(a: list[str], b: list[str]) -> int:
    """The fewest insertions, deletions and substitutions that make ``a`` into ``b``."""
    row = np.arange(len(b) + 1)
    if not b:
        return len(a)
    bs = np.array(b, dtype=object)
    steps = np.arange(len(b) + 1)
    for i, p in enumerate(a, 1):
        # deletion (from above) or substitution (diagonal); then insertions along the row: D[j] =
        # min over k <= j of (candidate[k] + j - k)
        candidate = np.empty_like(row)
        candidate[0] = i
        candidate[1:] = np.minimum(row[1:] + 1, row[:-1] + (bs != p))
        row = np.minimum.accumulate(candidate - steps) + steps
    return int(row[-1])


def compression(text: str) -> float:
    """``text``'s length over its zlib-compressed length: Whisper's own test for a hallucination that
    repeats itself (its decoder refuses a window above 2.4)."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0
