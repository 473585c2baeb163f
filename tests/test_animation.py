"""Pure Animation helpers: resampling, per-group intensity, smoothing, key reduction."""

from __future__ import annotations

import numpy as np
import pytest

from talkface.core.animation import HEAD_CHANNELS, Animation, apply_intensity, channel_group, reduce_keys, smooth


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


def test_smoothing_is_fps_independent():
    a25 = smooth(make(25.0, 100), 0.1)
    a50 = smooth(make(50.0, 200), 0.1)
    # the same time constant gives the same curve at both rates
    # away from the clip ends (where padding differs) the curves agree
    np.testing.assert_allclose(a25.channel("jawOpen")[5:-5], a50.channel("jawOpen")[::2][5:-5], atol=0.01)
    assert np.ptp(a25.channel("jawOpen")) < np.ptp(make().channel("jawOpen"))


def test_reduce_keys_within_tolerance():
    values = make().channel("jawOpen").astype(np.float64)
    keep = reduce_keys(values, 0.01)
    assert keep[0] == 0 and keep[-1] == len(values) - 1
    assert len(keep) < len(values)
    rebuilt = np.interp(np.arange(len(values)), keep, values[keep])
    assert np.max(np.abs(rebuilt - values)) <= 0.01
    # a hold needs only its ends
    assert len(reduce_keys(np.full(50, 0.3), 0.01)) == 2


@pytest.mark.parametrize("fps", [23.976, 24.0, 25.0, 29.97, 30.0])
def test_a_closure_shorter_than_a_scene_frame_still_lands_on_a_frame(fps):
    """A 50 fps curve whose lips close for one frame between two scene frames: linear resampling
    would keep it half open; the turning point is kept instead, within half a frame of its time."""
    values = np.full((100, 1), 0.4, np.float32)
    for k in (17, 41, 66, 90):
        values[k, 0] = 0.0
    anim = Animation(50.0, ("jawOpen",), values)
    out = anim.resample(fps).channel("jawOpen")
    for k in (17, 41, 66, 90):
        near = int(round(k / 50.0 * fps))
        assert out[near] == 0.0, (k, near, out[near - 1:near + 2])
    plain = anim.resample(fps, keep_extremes=False).channel("jawOpen")
    # what linear interpolation alone does: some of those closures stay half open
    assert any(plain[int(round(k / 50.0 * fps))] > 0.1 for k in (17, 41, 66, 90)) or fps == 25.0
    assert np.all((out == 0.0) | (out == np.float32(0.4)) | (np.abs(out - plain) < 1e-6))
