"""The word recogniser adapted to a take (core.audio.adaptation): the transform raises the take's
likelihood, stays near no change on little speech, is read by PocketSphinx as written, and its
statistics are gathered chunk by chunk as the recogniser hears the chunks."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SPEECH

from talkface.core.audio import adaptation, phone_loop, phones, recognition, senones, sphinx_helper
from talkface.core.audio.loading import from_array, load_audio

pytestmark = pytest.mark.skipif(not phones.available(), reason="needs the pocketsphinx wheel")

IDENTITY = np.hstack([np.eye(13), np.zeros((13, 1))])


@pytest.fixture(scope="module")
def line():
    """The sample line's first 4 s (one chunk) and the phones the phone loop hears in it."""
    audio = load_audio(SPEECH, sr=16000)
    short = from_array(np.asarray(audio.samples[:4 * 16000]), 16000, sr=16000)
    return short.samples, [(p.phone, p.start, p.end) for p in phone_loop.hear(short).phones]


def mean_loglik(samples: np.ndarray, heard: list, rows: list[np.ndarray]) -> float:
    """Mean over the speech frames of log sum_j w_j N(o; A mu_j + b, v_j) summed over the streams,
    each frame in its phone's best state: what the transform is estimated to raise."""
    means, var, log_w, _ = adaptation._model()
    feats = senones.streams(senones.cepstra(phones.to_pcm16(samples))).numpy().astype(np.float64)
    label = adaptation._labels(heard, feats.shape[1])
    t = np.flatnonzero(label >= 0)
    total = np.zeros(len(t))
    for s, W in enumerate(rows):
        mu = means[s, label[t]] @ W[:, :13].T + W[:, 13]                            # [T, 128, 13]
        v = var[s, label[t]]
        dens = -0.5 * (np.log(2 * np.pi * v) + (feats[s, t][:, None] - mu) ** 2 / v).sum(-1)
        total += np.logaddexp.reduce(log_w[s, label[t]] + dens[:, None], -1).max(-1)
    return float(total.mean())


def test_the_transform_raises_the_likelihood_of_the_take(line):
    samples, heard = line
    full = adaptation.estimate(samples, 16000, heard, tau=0.0)
    diagonal = adaptation.estimate(samples, 16000, heard, tau=0.0, diagonal=True)
    assert len(full) == 3 and all(W.shape == (13, 14) and np.isfinite(W).all() for W in full)
    off = diagonal[0][:, :13] - np.diag(np.diag(diagonal[0][:, :13]))
    assert not off.any() and (full[0][:, :13] - np.diag(np.diag(full[0][:, :13]))).any()
    plain = mean_loglik(samples, heard, [IDENTITY] * 3)
    assert mean_loglik(samples, heard, diagonal) > plain + 0.5
    assert mean_loglik(samples, heard, full) > mean_loglik(samples, heard, diagonal)


def test_the_prior_pulls_a_short_take_towards_no_change(line):
    samples, heard = line
    free = adaptation.estimate(samples, 16000, heard, tau=0.0)
    pulled = adaptation.estimate(samples, 16000, heard)                  # TAU_FRAMES
    frames = adaptation.statistics(samples, 16000, heard)[2]
    assert 100 < frames < 400
    share = frames / (frames + adaptation.TAU_FRAMES)
    for W, P in zip(free, pulled):
        assert np.allclose(P, share * W + (1 - share) * IDENTITY)
    assert np.allclose(adaptation.estimate(samples, 16000, []), IDENTITY)   # no speech heard: no change
    # under 0.2 s of speech heard: no change either
    a, b = next((s, e) for p, s, e in heard if p != "SIL" and e - s < 0.15)
    assert adaptation.statistics(samples, 16000, [("AA", a, b)])[2] < adaptation.MIN_FRAMES
    assert np.allclose(adaptation.estimate(samples, 16000, [("AA", a, b)], tau=0.0), IDENTITY)


def test_silence_is_recognised_as_no_words(monkeypatch):
    quiet = from_array(np.zeros(2 * 16000, np.float32), 16000, sr=16000)
    assert recognition.recognise(quiet).text == ""                      # Whisper (test_whisper.py has noise)
    monkeypatch.setattr(recognition, "WORD_SOURCE", "pocketsphinx")
    assert recognition.recognise(quiet).text == ""


def test_statistics_are_gathered_per_chunk_with_each_chunks_own_mean(line):
    samples, heard = line
    long = np.tile(samples, 7)                                           # 28 s: two chunks
    (a, cut), (cut_, b) = phones.chunk_bounds(long, 16000)
    assert cut == cut_
    spans = [(p, s + k * 4.0, e + k * 4.0) for k in range(7) for p, s, e in heard]
    occ, first, frames = adaptation.statistics(long, 16000, spans)
    parts = [adaptation.statistics(long[a:cut], 16000, spans),
             adaptation.statistics(long[cut:], 16000, [(p, s - cut / 16000, e - cut / 16000) for p, s, e in spans])]
    # the second chunk's frames sit on the 10 ms grid from its own start, labelled from the whole's
    assert frames == pytest.approx(sum(p[2] for p in parts), abs=25)
    assert np.allclose(occ.sum(), sum(p[0].sum() for p in parts), rtol=0.02)
    assert np.allclose(first[0].sum(), sum(p[1][0].sum() for p in parts), rtol=0.05)


def test_pocketsphinx_reads_the_transform_as_written(line):
    samples, _ = line
    pcm = phones.to_pcm16(samples).tobytes()
    decoders = sphinx_helper.Decoders(recognition.decoder_settings())
    plain = sphinx_helper.recognise_chunk(decoders, pcm)
    decoders.adapt(adaptation.mllr_text([IDENTITY] * 3))
    assert sphinx_helper.recognise_chunk(decoders, pcm) == plain
    shifted = np.hstack([np.eye(13), np.full((13, 1), 3.0)])
    decoders.adapt(adaptation.mllr_text([shifted] * 3))
    assert sphinx_helper.recognise_chunk(decoders, pcm) != plain
    decoders.adapt("")
    assert sphinx_helper.recognise_chunk(decoders, pcm) == plain


def test_a_transform_that_fails_to_load_leaves_the_decoders_as_they_were(line):
    samples, _ = line
    pcm = phones.to_pcm16(samples).tobytes()
    decoders = sphinx_helper.Decoders(recognition.decoder_settings())
    plain = sphinx_helper.recognise_chunk(decoders, pcm)
    with pytest.raises(Exception):
        decoders.adapt("1\n3\nnot a number\n")
    assert decoders.mllr == "" and sphinx_helper.recognise_chunk(decoders, pcm) == plain
