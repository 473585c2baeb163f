"""bench/adaptation.py: its MLLR files are what PocketSphinx reads, and it scores /p b m/ as it says."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT

from talkface.bench import adaptation
from talkface.core.audio import phones
from talkface.core.audio.loading import from_array, load_audio

pytestmark = pytest.mark.skipif(not phones.available(), reason="needs the pocketsphinx wheel")


def _sample_line() -> np.ndarray:
    audio = load_audio(f"{ROOT}/samples/speech.wav", sr=16000)
    return np.asarray(audio.samples[:4 * 16000], np.float32)


def test_hits_counts_overlap_within_the_tolerance_and_false_ones():
    ref = [("M", 0.10, 0.18), ("AA", 0.18, 0.30), ("P", 0.50, 0.56)]
    heard = [("m", 0.20, 0.25), ("B", 0.90, 0.95), ("AH", 0.50, 0.56)]
    assert adaptation.hits(ref, heard) == (1, 2, 1)      # m starts 20 ms after M ends; B is near none


def test_identity_mllr_file_leaves_recognition_unchanged_and_a_shifted_one_changes_it(tmp_path):
    x = _sample_line()
    plain, _ = adaptation.words_phones(x, {})
    identity = tmp_path / "identity.mllr"
    adaptation.write_mllr([np.hstack([np.eye(13), np.zeros((13, 1))])] * 3, str(identity))
    assert adaptation.words_phones(x, {"mllr": str(identity)})[0] == plain
    shifted = tmp_path / "shifted.mllr"
    adaptation.write_mllr([np.hstack([np.eye(13), np.full((13, 1), 3.0)])] * 3, str(shifted))
    assert adaptation.words_phones(x, {"mllr": str(shifted)})[0] != plain


def test_mllr_estimated_on_a_line_is_near_identity_and_finite():
    x = _sample_line()
    heard, _ = adaptation.words_phones(x, {})
    rows = adaptation.mllr_transform(x, heard, diagonal=True)
    assert len(rows) == 3 and all(W.shape == (13, 14) and np.isfinite(W).all() for W in rows)
    off_diagonal = rows[0][:, :13] - np.diag(np.diag(rows[0][:, :13]))
    assert not off_diagonal.any()                         # diagonal + bias only
    assert 0.2 < np.median(np.diag(rows[0][:, :13])) < 2.0


def test_adapted_words_mode_animates_a_line_from_the_phone_loops_transform():
    from talkface.bench import lipsync

    case = lipsync.Case("sample", "emma", from_array(_sample_line(), 16000, sr=16000), [], True)
    predictor = adaptation.adapted_words_mode("loop")
    anim = predictor.predict(case)
    assert "MLLR from the loop" in predictor.name
    assert abs(len(anim.values) - 4.0 * anim.fps) <= 2
    assert anim.contacts                      # the line's "my", "meet" ... seal the lips somewhere
