"""How well a transcript's words agree with the words a recogniser heard: the second opinion on a
text the acoustic mismatch check refuses (``core.audio.alignment.align``'s ``second_opinion``).

The two word lists are lined up by the fewest edits (Levenshtein over words, each word kept as the
aligner normalises it). What counts:
  - ``said_found``: the share of the text's words the recogniser heard where the text has them;
  - ``heard_found``: the share of the heard words the text has (a text for half the line hears a
    second half it lacks);
  - ``said_missed``, ``heard_extra``: the longest run of the text's words not heard, and of heard
    words not in the text: a replaced phrase is a run, a misheard word here and there is not.

A recogniser trained on real speech mishears some words of a made-up voice, but seldom a whole
phrase of them; a text for other audio, for half the line or with a phrase replaced leaves a run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Agreement:
    said: int               # words in the text
    heard: int              # words heard
    matched: int            # words lined up with the same word
    said_missed: int        # longest run of the text's words not matched
    heard_extra: int        # longest run of heard words not matched

    @property
    def said_found(self) -> float:
        return self.matched / self.said if self.said else 0.0

    @property
    def heard_found(self) -> float:
        return self.matched / self.heard if self.heard else 0.0


@dataclass(frozen=True)
class Limits:
    """When a recogniser's words vouch for a text: at least ``share`` of each list found in the
    other, and no run of more than ``run`` words unmatched on either side."""
    share: float
    run: int

    def agree(self, a: Agreement) -> bool:
        return (a.said > 0 and a.said_found >= self.share and a.heard_found >= self.share
                and a.said_missed <= self.run and a.heard_extra <= self.run)


def agreement(said: list[str], heard: list[str]) -> Agreement:
    """``said`` and ``heard`` (normalised words) lined up by the fewest substitutions, insertions
    and deletions; matches counted and the longest unmatched runs on each side."""
    n, m = len(said), len(heard)
    cost = np.zeros((n + 1, m + 1), np.int32)
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        same = np.array([said[i - 1] == h for h in heard], bool)
        for j in range(1, m + 1):
            cost[i, j] = min(cost[i - 1, j - 1] + (0 if same[j - 1] else 1), cost[i - 1, j] + 1, cost[i, j - 1] + 1)
    said_hit, heard_hit = np.zeros(n, bool), np.zeros(m, bool)
    i, j = n, m
    while i > 0 and j > 0:                       # back through the table, matches first
        if said[i - 1] == heard[j - 1] and cost[i, j] == cost[i - 1, j - 1]:
            said_hit[i - 1] = heard_hit[j - 1] = True
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j - 1] + 1:
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return Agreement(n, m, int(said_hit.sum()), _longest_miss(said_hit), _longest_miss(heard_hit))


def _longest_miss(hit: np.ndarray) -> int:
    longest = run = 0
    for h in hit:
        run = 0 if h else run + 1
        longest = max(longest, run)
    return longest
