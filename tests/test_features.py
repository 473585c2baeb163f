"""Features: pitch accuracy, frame timing at every scene fps, chunk invariance, silence, speed."""

import time

import numpy as np
import pytest

from talkface.core.audio.features import F0_REF_HZ, FeatureConfig, compute_features, frame_count
from talkface.core.audio.loading import from_array

SR = 16000
FPS_LIST = [23.976, 24, 25, 29.97, 30, 50, 60]


def glide(seconds=2.0, f_lo=110.0, f_hi=260.0):
    t = np.arange(int(SR * seconds)) / SR
    f0 = f_lo + (f_hi - f_lo) * t / seconds
    ph = 2 * np.pi * np.cumsum(f0) / SR
    # a buzzy harmonic-rich source like a voice, not a pure sine
    x = sum(np.sin(k * ph) / k for k in range(1, 8)) * 0.2
    return x.astype(np.float32), f0


def test_pitch_tracks_a_glide():
    x, f0 = glide()
    feats = compute_features(from_array(x, SR), FeatureConfig(fps=25))
    est = np.exp(feats.column("log_f0")) * F0_REF_HZ
    truth = f0[(np.arange(len(est)) / 25 * SR).astype(int)]
    inner = slice(2, -2)
    assert np.all(np.abs(est[inner] / truth[inner] - 1) < 0.03)
    assert np.all(feats.column("voicing")[inner] > 0.9)


def test_noise_is_unvoiced():
    x = (0.1 * np.random.default_rng(0).standard_normal(SR)).astype(np.float32)
    feats = compute_features(from_array(x, SR))
    assert np.mean(feats.column("voicing") < 0.45) > 0.9
    assert np.mean(feats.column("log_f0") == 0) > 0.9


@pytest.mark.parametrize("fps", FPS_LIST)
def test_any_fps_frame_count_and_timing(fps):
    """A tone starting at 1.0 s switches the energy on at frame round(fps), for every fps."""
    x = np.zeros(int(SR * 2.5), np.float32)
    t = np.arange(int(SR * 0.8)) / SR
    x[SR:SR + len(t)] = 0.3 * np.sin(2 * np.pi * 220 * t)
    feats = compute_features(from_array(x, SR), fps=fps)
    assert feats.values.shape == (frame_count(2.5, fps), 16)
    assert feats.values.shape[0] == int(np.ceil(2.5 * fps - 1e-6))
    energy = feats.column("log_energy")
    mid = (energy.max() + energy.min()) / 2
    onset = int(np.argmax(energy > mid))
    assert abs(onset - 1.0 * fps) <= 1.0


@pytest.mark.parametrize("kind", ["mfcc", "logmel"])
def test_chunked_equals_unchunked(kind):
    x, _ = glide(seconds=7.3)
    x = x + 0.01 * np.random.default_rng(1).standard_normal(len(x)).astype(np.float32)
    audio = from_array(x, SR)
    whole = compute_features(audio, FeatureConfig(kind=kind, fps=29.97, chunk_s=1000.0))
    chunked = compute_features(audio, FeatureConfig(kind=kind, fps=29.97, chunk_s=0.7))
    assert whole.values.shape == chunked.values.shape
    np.testing.assert_allclose(chunked.values, whole.values, rtol=1e-4, atol=1e-4)


def test_dimensions_and_names():
    audio = from_array(glide(1.0)[0], SR)
    mfcc = compute_features(audio, FeatureConfig(kind="mfcc"))
    mel = compute_features(audio, FeatureConfig(kind="logmel", n_mels=40))
    assert mfcc.values.shape[1] == 16 and mfcc.names[:2] == ("mfcc_0", "mfcc_1")
    assert mel.values.shape[1] == 43 and mel.names[-3:] == ("log_f0", "voicing", "log_energy")
    assert compute_features(audio, FeatureConfig(pitch=False)).values.shape[1] == 13


def test_silence_is_finite_and_unvoiced():
    feats = compute_features(from_array(np.zeros(SR, np.float32), SR))
    assert np.isfinite(feats.values).all()
    assert np.all(feats.column("voicing") == 0) and np.all(feats.column("log_f0") == 0)
    # quiet room noise at -60 dBFS lands near digital silence, far from speech
    quiet = compute_features(from_array((1e-3 * np.random.default_rng(2).standard_normal(SR)).astype(np.float32), SR))
    speech = compute_features(from_array(glide(1.0)[0], SR))
    c0 = lambda f: np.median(f.column("mfcc_0"))  # noqa: E731
    assert abs(c0(quiet) - c0(feats)) < 0.25 * abs(c0(speech) - c0(feats))


def test_gain_moves_only_the_level_terms():
    x, _ = glide(1.0)
    x = x + 0.05 * np.random.default_rng(4).standard_normal(len(x)).astype(np.float32)  # energy in every band
    a = compute_features(from_array(x, SR)).values
    b = compute_features(from_array(0.25 * x, SR)).values
    np.testing.assert_allclose(a[2:-2, 1:13], b[2:-2, 1:13], atol=0.1)       # spectral shape unchanged
    # c0 (ortho DCT of log-mel) carries the level: ln(1/0.25^2) * sqrt(n_mels)
    np.testing.assert_allclose(a[2:-2, 0] - b[2:-2, 0], np.log(16) * np.sqrt(40), rtol=0.05)


def test_speed_is_far_above_real_time():
    x = (0.1 * np.random.default_rng(3).standard_normal(SR * 60)).astype(np.float32)
    audio = from_array(x, SR)
    start = time.perf_counter()
    compute_features(audio, FeatureConfig(fps=30))
    elapsed = time.perf_counter() - start
    assert 60.0 / elapsed > 50, f"only {60.0 / elapsed:.0f}x real time"


def test_memory_is_flat_in_audio_length():
    """Working memory is per chunk: 4 min of audio peaks no higher than 1 min (beyond the output)."""
    import tracemalloc

    def peak_for(seconds):
        x = (0.1 * np.random.default_rng(5).standard_normal(SR * seconds)).astype(np.float32)
        audio = from_array(x, SR)
        tracemalloc.start()
        feats = compute_features(audio, FeatureConfig(fps=30, chunk_s=10.0))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak - feats.values.nbytes

    short, long = peak_for(60), peak_for(240)
    assert long < short * 1.15 + 2e6, (short / 1e6, long / 1e6)


def test_mfcc_from_logmel_equals_direct_mfcc():
    from talkface.core.audio.features import mfcc_from_logmel

    audio = from_array(glide(2.0)[0], SR)
    direct = compute_features(audio, FeatureConfig(kind="mfcc", fps=29.97))
    derived = mfcc_from_logmel(compute_features(audio, FeatureConfig(kind="logmel", fps=29.97)))
    assert derived.names == direct.names
    np.testing.assert_allclose(derived.values, direct.values, rtol=1e-4, atol=1e-3)


def test_mel_filter_bank_matches_librosa():
    """The add-on's own Slaney mel filters (so it ships without librosa) are librosa's, to float32."""
    import librosa

    from talkface.core.audio.features import FeatureConfig
    from talkface.core.audio.mel import mel_basis, mel_frequencies

    cfg = FeatureConfig(kind="logmel")
    for sr, n_fft, n_mels, fmin, fmax in ((cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax),
                                          (22050, 1024, 80, 0.0, 11025.0), (16000, 400, 40, 300.0, 900.0)):
        ours = mel_basis(sr, n_fft, n_mels, fmin, fmax)
        theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax).T
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(mel_frequencies(n_mels, fmin, fmax),
                                   librosa.mel_frequencies(n_mels, fmin=fmin, fmax=fmax), rtol=1e-9)
