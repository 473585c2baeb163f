"""bench/adaptation.py: it scores /p b m/ as it says, and its unadapted words mode runs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT

from talkface.bench import adaptation
from talkface.core.audio import phones
from talkface.core.audio.loading import from_array, load_audio

pytestmark = pytest.mark.skipif(not phones.available(), reason="needs the pocketsphinx wheel")


def test_hits_counts_overlap_within_the_tolerance_and_false_ones():
    ref = [("M", 0.10, 0.18), ("AA", 0.18, 0.30), ("P", 0.50, 0.56)]
    heard = [("m", 0.20, 0.25), ("B", 0.90, 0.95), ("AH", 0.50, 0.56)]
    assert adaptation.hits(ref, heard) == (1, 2, 1)      # m starts 20 ms after M ends; B is near none


def test_unadapted_words_mode_animates_a_line():
    from talkface.bench import lipsync

    audio = load_audio(f"{ROOT}/samples/speech.wav", sr=16000)
    case = lipsync.Case("sample", "emma", from_array(np.asarray(audio.samples[:4 * 16000]), 16000, sr=16000),
                        [], True)
    predictor = adaptation.unadapted_words_mode()
    anim = predictor.predict(case)
    assert "not adapted" in predictor.name
    assert abs(len(anim.values) - 4.0 * anim.fps) <= 2
    assert anim.contacts                      # the line's "my", "meet" ... seal the lips somewhere


def test_word_errors_count_edits_between_word_lists():
    assert adaptation.words_of("Hello, my name's Emma!") == ["hello", "my", "name's", "emma"]
    assert adaptation.word_errors(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert adaptation.word_errors(["hello", "my", "name"], ["the", "low", "my", "name"]) == 2   # one swap, one extra
    assert adaptation.word_errors(["a", "b", "c"], []) == 3
    assert adaptation.word_errors([], ["a"]) == 1


def test_an_mllr_variant_scores_every_case():
    """run_variant adapts each case to its own first pass and gives one row per case."""
    audio = load_audio(f"{ROOT}/samples/speech.wav", sr=16000)
    x = np.asarray(audio.samples[:4 * 16000], np.float32)
    cases = [("sample", "emma", x, [("M", 0.5, 0.6)]), ("sample", "emma", x[16000:], [("P", 0.2, 0.3)])]
    _, plain = adaptation.run_variant("as shipped", cases)
    name, rows = adaptation.run_variant("mllr unsup full", cases, None, ("unsup", False, 300.0),
                                        [r[5] for r in plain])
    assert name == "mllr unsup full" and len(rows) == len(cases)
    assert all(len(r) == 6 and r[0] == "sample" and r[2] == 1 for r in rows)   # (set, hits, of, false, score, phones)
    assert all(r[5] for r in rows)
