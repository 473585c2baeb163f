"""bench/languages.py: other languages' /p b m/ are counted as espeak-ng times them, and every path runs."""

from __future__ import annotations

import os
import sys

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "bench"))

import languages  # noqa: E402


def test_only_closures_count_and_every_path_is_scored(monkeypatch, capsys):
    # Spanish b between vowels is a fricative (espeak-ng's 'B'): not a closure, not counted
    monkeypatch.setitem(languages.SENTENCES, "es", ["Pablo bebe mucho vino blanco."])
    made = languages.cases(["es"], ["m3"], seed=0)
    assert len(made) == 2 and made[0].clean and not made[1].clean          # played clean and degraded
    named = [p for p, _, _ in made[0].phones]
    assert named.count("p") == 1 and named.count("m") == 1 and "B" in named
    assert languages.main(["--languages", "es", "--voices", "m3"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    for path in ("words (default)", "phones", "network alone", "audio features"):
        assert sum(line.startswith(path) for line in rows) == 2          # es, all
    assert {line.split()[-1] for line in rows} == {"4"}     # p and m, clean and degraded; not the B's
