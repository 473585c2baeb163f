"""Pure Animation helpers: resampling, per-group intensity, key reduction (smoothing: test_lipsync)."""

from __future__ import annotations

import numpy as np
import pytest

from talkface.core.animation import HEAD_CHANNELS, Animation, apply_intensity, channel_group


def make(fps=25.0, frames=100):
    t = np.arange(frames) / fps
    channels = ("jawOpen", "browInnerUp", "eyeBlinkLeft") + HEAD_CHANNELS
    values = np.zeros((frames, len(channels)), np.float32)
    values[:, 0] = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    values[:, 1] = 0.3
    values[:, 2] = (np.abs(t - 1.0) < 0.06).astype(np.float32)
    values[:, 3] = 0.05 * np.sin(2 * np.pi * 0.5 * t)
    return Animation(fps, channels, values)


def test_shape_checks():
    with pytest.raises(ValueError):
        Animation(25.0, ("a", "b"), np.zeros((10, 3)))
    with pytest.raises(ValueError):
        Animation(25.0, ("a", "a"), np.zeros((10, 2)))


@pytest.mark.parametrize("fps", [23.976, 24.0, 29.97, 30.0, 50.0, 60.0])
def test_resample_keeps_duration_and_shape(fps):
    anim = make()
    out = anim.resample(fps)
    assert abs(out.duration - anim.duration) <= 1.0 / fps
    t = np.arange(out.n_frames) / fps
    expected = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    inside = t <= (anim.n_frames - 1) / anim.fps  # after the last sample the value holds
    # linear interpolation of a 3 Hz sine sampled at 25 fps: error bounded by the chord sag
    assert np.max(np.abs(out.channel("jawOpen") - expected)[inside]) < 0.08


def test_groups():
    assert channel_group("jawOpen") == "mouth"
    assert channel_group("mouthSmileLeft") == "mouth"
    assert channel_group("browDownLeft") == "brows"
    assert channel_group("eyeBlinkRight") == "blinks"
    assert channel_group("eyeLookUpLeft") == "eyes"
    assert channel_group("head_rz") == "head"


def test_intensity_scales_groups_and_clips_weights():
    anim = make()
    out = apply_intensity(anim, mouth=0.5, brows=4.0, head=2.0, blinks=0.0)
    np.testing.assert_allclose(out.channel("jawOpen"), 0.5 * anim.channel("jawOpen"), atol=1e-6)
    assert np.all(out.channel("browInnerUp") == 1.0)  # 1.2 clipped
    assert np.all(out.channel("eyeBlinkLeft") == 0.0)
    np.testing.assert_allclose(out.channel("head_rx"), 2.0 * anim.channel("head_rx"), atol=1e-6)
    with pytest.raises(ValueError):
        apply_intensity(anim, lips=1.0)


def test_fit_keys_puts_keys_at_turning_points_and_stays_within_tolerance():
    from talkface.core.animation import extremes, fit_keys, is_flat

    rng = np.random.default_rng(3)
    t = np.arange(250) / 25.0
    speech = np.clip(0.3 + 0.25 * np.sin(2 * np.pi * 3.1 * t) * np.sin(2 * np.pi * 0.4 * t)
                     + 0.003 * rng.standard_normal(len(t)), 0, 1)
    keys = fit_keys(speech, 0.01)
    assert np.abs(keys.evaluate(len(speech)) - speech).max() <= 0.01
    assert len(keys.index) < 0.35 * len(speech)                      # far fewer keys than frames
    assert set(extremes(speech, 0.01)) <= set(keys.index)           # every opening and closure keyed
    assert keys.index[0] == 0 and keys.index[-1] == len(speech) - 1
    every = fit_keys(speech, 0.0)
    assert len(every.index) == len(speech) and np.allclose(every.evaluate(len(speech)), speech)
    assert is_flat(np.full(40, 0.004), 0.01) and not is_flat(np.full(40, 0.3), 0.01)


def test_extremes_ignore_jitter_below_the_prominence():
    from talkface.core.animation import extremes

    v = np.array([0, 0.5, 0.49, 0.5, 0.0, 0.005, 0.0, 0.8, 0.2])
    assert list(extremes(v, 0.05)) == [1, 4, 7]


@pytest.mark.parametrize("fps", [23.976, 24.0, 25.0, 30.0])
def test_contacts_land_whole_on_a_frame(fps):
    """A closure one network frame long, between two scene frames: resampling each channel on its
    own loses the relation between them (mouthClose = jawOpen), a contact keeps the whole pose."""
    n, src_fps = 200, 50.0
    t = np.arange(n) / src_fps
    jaw = 0.3 + 0.2 * np.sin(2 * np.pi * 1.3 * t)
    close = np.zeros(n)
    k = 101                                    # 2.02 s: between frames at every rate tried
    close[k] = jaw[k]
    anim = Animation(src_fps, ("jawOpen", "mouthClose"), np.stack([jaw, close], 1), contacts=(k / src_fps,))
    out = anim.resample(fps)
    frame = round(k / src_fps * fps)
    assert abs(out.channel("jawOpen")[frame] - out.channel("mouthClose")[frame]) < 1e-6
    assert out.channel("jawOpen")[frame] == pytest.approx(jaw[k])
    plain = Animation(src_fps, anim.channels, anim.values).resample(fps)   # what contacts fix:
    assert abs(plain.channel("jawOpen")[frame] - plain.channel("mouthClose")[frame]) > 0.01   # apart or through
