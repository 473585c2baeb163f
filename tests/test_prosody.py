"""Blinks at a human rate and shape, brows on pitch accents, head nods and stillness in pauses."""

import numpy as np
import pytest

from talkface.core.audio.visemes import ARKIT_INDEX
from talkface.training.corpus.espeak import PhonemeEvent
from talkface.training.corpus.prosody import (
    HEAD_SLICE,
    ProsodyStyle,
    accents,
    blink_curve,
    phrase_boundaries,
    prosody_targets,
    sample_blinks,
)


def test_blink_rate_and_duration():
    rng = np.random.default_rng(0)
    blinks = sample_blinks(600.0, rng, rate_per_min=17.0)
    rate = len(blinks) / 10.0
    assert 14 <= rate <= 20
    gaps = np.diff([b.peak for b in blinks])
    assert gaps.min() >= 0.4 and 0.4 < gaps.std() / gaps.mean() < 1.0     # irregular, not a metronome
    durs = np.array([b.duration for b in blinks])
    assert durs.min() >= 0.1 and durs.max() <= 0.15


def test_more_blinks_at_phrase_boundaries():
    rng = np.random.default_rng(1)
    bounds = np.arange(2.0, 600.0, 4.0)
    peaks = np.array([b.peak for b in sample_blinks(600.0, rng, 17.0, bounds, 0.5)])
    after = ((peaks[:, None] - bounds[None, :] > 0) & (peaks[:, None] - bounds[None, :] < 0.35)).any(1)
    chance = 0.35 / 4.0                                   # share of time within 0.35 s after a boundary
    assert after.mean() > 2.5 * chance
    assert 14 <= len(peaks) / 10 <= 22


@pytest.mark.parametrize("fps", [23.976, 24, 30, 60])
def test_every_blink_fully_closes_at_any_fps(fps):
    blinks = sample_blinks(60.0, np.random.default_rng(2))
    lid = blink_curve(blinks, int(60 * fps), fps)
    t = np.arange(len(lid)) / fps
    for b in blinks:
        near = np.abs(t - b.peak) < 0.08
        assert lid[near].max() == 1.0
    closed = (lid > 0.5).mean()
    assert 0.005 < closed < 0.05                           # eyes open almost all the time


def synthetic_prosody(fps=30, seconds=6.0):
    n = int(seconds * fps)
    t = np.arange(n) / fps
    voicing = np.where((t % 2.0) < 1.6, 0.9, 0.0)          # speech with a pause every 2 s
    log_f0 = np.where(voicing > 0.45, 0.05 * np.sin(2 * np.pi * t), 0.0)
    accent_t = [0.8, 2.8, 4.8]
    for a in accent_t:                                     # pitch accents: +25 % f0 for 150 ms
        log_f0 = np.where(np.abs(t - a) < 0.075, np.log(1.25), log_f0)
    log_energy = np.where(voicing > 0.45, -3.0, -18.0)
    phonemes = []
    for start in np.arange(0.0, seconds, 2.0):
        phonemes.append(PhonemeEvent("a", start, start + 0.7, stress=0))
        phonemes.append(PhonemeEvent("a", start + 0.7, start + 0.9, stress=2))
        phonemes.append(PhonemeEvent("a", start + 0.9, start + 1.6, stress=0))
        phonemes.append(PhonemeEvent("_:", start + 1.6, start + 2.0))
    return log_f0, voicing, log_energy, phonemes, accent_t


def test_brows_rise_on_pitch_accents():
    fps = 30
    log_f0, voicing, log_energy, phonemes, accent_t = synthetic_prosody(fps)
    acc = accents(phonemes, log_f0, voicing, fps)
    assert len(acc) == 3 and all(s > 1.0 for _, s in acc)
    out, _ = prosody_targets(log_f0, voicing, log_energy, phonemes, fps, np.random.default_rng(3))
    brow = out[:, ARKIT_INDEX["browInnerUp"]]
    t = np.arange(len(brow)) / fps
    for a in accent_t:
        at = brow[np.abs(t - a) < 0.15].max()
        before = brow[(t > a - 0.6) & (t < a - 0.35)].max()
        assert at > 0.2 and at > before + 0.1
    assert np.all(out[:, ARKIT_INDEX["jawOpen"]] == 0)     # prosody never touches the mouth


def test_head_nods_on_accents_and_calms_in_pauses():
    fps = 30
    log_f0, voicing, log_energy, phonemes, accent_t = synthetic_prosody(fps, 30.0)
    runs = [prosody_targets(log_f0, voicing, log_energy, phonemes, fps, np.random.default_rng(s))[0] for s in range(8)]
    head = np.stack([r[:, HEAD_SLICE] for r in runs])      # [runs, F, 6]
    t = np.arange(head.shape[1]) / fps
    rx = head[:, :, 0].mean(0)                             # nods survive averaging out the random sway
    on_accent = np.isin(np.round(t * fps), np.round(np.array([a for a in np.arange(0.8, 30, 2.0)]) * fps))
    assert rx[on_accent].mean() > rx.mean() + 0.5 * np.pi / 180
    speed = np.abs(np.diff(head[:, :, 1], axis=1)).mean(0)
    pause = (t[1:] % 2.0) > 1.75
    assert speed[pause].mean() < 0.8 * speed[~pause].mean()
    assert np.abs(head[:, :, :3]).max() < 12 * np.pi / 180 and np.abs(head[:, :, 3:]).max() < 0.02


def test_style_scales_motion():
    log_f0, voicing, log_energy, phonemes, _ = synthetic_prosody()
    calm = ProsodyStyle(brow_gain=0.3, head_gain=0.3, nod_gain=0.3)
    a, _ = prosody_targets(log_f0, voicing, log_energy, phonemes, 30, np.random.default_rng(4))
    b, _ = prosody_targets(log_f0, voicing, log_energy, phonemes, 30, np.random.default_rng(4), calm)
    assert np.abs(b[:, HEAD_SLICE]).mean() < 0.5 * np.abs(a[:, HEAD_SLICE]).mean()
    assert b[:, ARKIT_INDEX["browInnerUp"]].max() < 0.5 * a[:, ARKIT_INDEX["browInnerUp"]].max()


def test_phrase_boundaries_skip_leading_silence():
    ph = [PhonemeEvent("_", 0.0, 0.3), PhonemeEvent("a", 0.3, 0.5), PhonemeEvent("_:", 0.5, 0.8),
          PhonemeEvent("a", 0.8, 0.9), PhonemeEvent("_", 0.9, 0.95)]
    np.testing.assert_allclose(phrase_boundaries(ph), [0.5])
