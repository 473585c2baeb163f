"""Phone posteriors scored from PocketSphinx's real-speech acoustic model, without its decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SPEECH

from talkface.core.audio import phones, senones
from talkface.core.audio.features import box_average, frame_count
from talkface.core.audio.loading import Audio, from_array, load_audio
from talkface.training.corpus import espeak

SAMPLE_TEXT = ("Hello! My name is Emma, and I am very happy to meet you. "
               "Today this photo will speak, in time with my voice.")


@pytest.fixture(scope="module")
def speech():
    return load_audio(SPEECH)


def test_the_model_is_read_whole():
    m = senones.acoustic_model()
    assert len(m.phones) == 42 and m.phones[0] == "+NSN+" and "ZH" in m.phones
    assert m.columns[0] == "SIL" and len(m.columns) == 40 and not set(senones.SILENCES) & set(m.columns[1:])
    assert m.mixw.shape == (3, 42, 3, 128)
    assert torch.allclose(m.mixw.sum(-1), torch.ones(3, 42, 3), atol=1e-4)   # each senone's mixture
    # the projection holds each Gaussian's log density: check one against the textbook formula
    x = torch.randn(13)
    dens = m.offset[0] + torch.cat([x * x, x]) @ m.project[0]
    inv = -2 * m.project[0][:13, 5]                  # 1 / var of codebook 0, Gaussian 5
    mean = m.project[0][13:, 5] / inv
    want = (-0.5 * torch.log(2 * torch.pi / inv) - 0.5 * (x - mean) ** 2 * inv).sum()
    assert torch.isclose(dens[5], want, rtol=1e-4, atol=1e-3)


def _bilabial_share(post: np.ndarray) -> np.ndarray:
    cols = [i for i, c in enumerate(senones.acoustic_model().columns) if phones.phone_class(c) == "bilabial"]
    return post[:, cols].sum(1)


def test_posteriors_rise_on_the_samples_bilabials(speech):
    """The sample's /m p/ as espeak timed them (same voice and rate as scripts/make_sample_audio.py):
    the model puts clearly more of each frame's posterior on P B M inside them than elsewhere."""
    spoken = espeak.synthesize(SAMPLE_TEXT, "en-us+f2", rate=160, pitch=55, pitch_range=70)
    truth = [(p.start, p.end) for p in spoken.phonemes if p.phoneme in ("m", "p", "b")]
    fps = 50.0
    post = senones.phone_posteriors(speech, fps=fps)
    assert post.shape == (frame_count(speech.duration, fps), 40)
    assert np.allclose(post.sum(1), 1.0, atol=1e-4) and (post >= 0).all()
    share = _bilabial_share(post)
    inside = np.zeros(len(post), bool)
    for s, e in truth:
        inside[int(np.floor(s * fps)):int(np.ceil(e * fps)) + 1] = True
    assert share[inside].mean() > 3 * share[~inside].mean(), (share[inside].mean(), share[~inside].mean())
    peaks = [share[int(s * fps):int(np.ceil(e * fps)) + 1].max() for s, e in truth]
    assert np.mean(np.array(peaks) > 0.3) >= 0.6, peaks


def test_silence_is_silence_and_long_audio_is_scored_in_chunks(speech, monkeypatch):
    monkeypatch.setattr(phones, "CHUNK_S", 6.0)
    monkeypatch.setattr(phones, "SEARCH_S", 1.5)
    gap = np.zeros(16000, np.float32)
    long = from_array(np.concatenate([speech.samples, gap] * 3), 16000)
    fps = 25.0
    post = senones.phone_posteriors(long, fps=fps)
    assert post.shape == (frame_count(long.duration, fps), 40) and np.allclose(post.sum(1), 1.0, atol=1e-4)
    period = speech.duration + 1.0
    for k in range(3):                                   # every copy is heard, in its own place
        copy = post[int(k * period * fps):int((k * period + speech.duration) * fps)]
        quiet = post[int((k * period + speech.duration + 0.3) * fps):int(((k + 1) * period - 0.3) * fps)]
        assert _bilabial_share(copy).max() > 0.5
        assert (quiet.argmax(1) == 0).all() and quiet[:, 0].mean() > 0.75   # the gaps: silence


def test_posteriors_are_averaged_in_blocks_exactly(speech, monkeypatch):
    """An hour's posteriors are averaged block by block (memory flat in audio length): blocks of a
    few frames give the frames one pass over the whole recording gives."""
    logliks = senones.phone_logliks(speech)
    for fps in (24.0, 25.0, 50.0):
        times = np.arange(frame_count(speech.duration, fps)) / fps - senones.CENTRE_S
        whole = box_average(senones.posteriors_of(logliks), 0, times, 0.5 / fps, senones.FRAME_S, len(logliks))
        monkeypatch.setattr(senones, "BLOCK", 1)                     # 64 frames a block
        blocks = senones.phone_posteriors(speech, fps=fps, logliks=logliks)
        monkeypatch.undo()
        assert len(times) > 2 * 64 and blocks.shape == whole.shape
        assert np.abs(blocks - whole).max() < 1e-6


def test_posteriors_need_16_khz_and_tolerate_a_click():
    with pytest.raises(ValueError, match="16 kHz"):
        senones.phone_posteriors(Audio(np.zeros(22050, np.float32), 22050, None, 22050, 1, 0.0))
    post = senones.phone_posteriors(from_array(np.zeros(100, np.float32), 16000), fps=50.0)
    assert post.shape == (1, 40) and post[0, 0] == 1.0      # shorter than one window: silence


def test_scoring_counts_its_chunks(speech, monkeypatch):
    monkeypatch.setattr(phones, "CHUNK_S", 3.0)
    monkeypatch.setattr(phones, "SEARCH_S", 1.0)
    seen = []
    senones.phone_logliks(speech, progress=lambda done, total: seen.append((done, total)))
    total = len(phones.chunk_bounds(speech.samples, speech.sample_rate))
    assert total >= 2 and seen == [(k, total) for k in range(1, total + 1)]
