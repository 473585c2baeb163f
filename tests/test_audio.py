"""Every bad-input case from the issue, on files written into tmp_path."""

import os
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from talkface.core.audio.loading import (
    AudioEmptyError,
    AudioError,
    AudioMissingError,
    AudioTooShortError,
    AudioTruncatedError,
    AudioUnreadableError,
    NotAudioError,
    from_array,
    load_audio,
)
from talkface.core.errors import InputError


def tone(sr, seconds, freq=440.0, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(audio):
    spec = np.abs(np.fft.rfft(audio.samples * np.hanning(len(audio.samples))))
    return np.argmax(spec) * audio.sample_rate / len(audio.samples)


@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")])
def test_formats_round_trip(tmp_path, fmt, ext):
    if fmt not in sf.available_formats():
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}")
    p = tmp_path / f"a.{ext}"
    sf.write(p, tone(22050, 1.0), 22050, format=fmt)
    a = load_audio(p)
    assert a.sample_rate == 16000 and a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert abs(a.duration - 1.0) < 0.08          # mp3 adds encoder delay / padding
    assert abs(peak_hz(a) - 440) < 3
    assert a.source_sample_rate == 22050 and not a.clipped


def test_missing_file(tmp_path):
    with pytest.raises(AudioMissingError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")


def test_error_hierarchy_is_user_facing():
    assert issubclass(AudioError, InputError)


def test_folder_is_unreadable(tmp_path):
    with pytest.raises(AudioUnreadableError):
        load_audio(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without permission bits")
def test_no_permission(tmp_path):
    p = tmp_path / "a.wav"
    sf.write(p, tone(16000, 1), 16000)
    p.chmod(0)
    with pytest.raises(AudioUnreadableError):
        load_audio(p)


def test_not_audio(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("this is a text file pretending to be a wav\n" * 20)
    with pytest.raises(NotAudioError, match="not a sound file"):
        load_audio(p)


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioEmptyError):
        load_audio(p)


def test_zero_length_wav(tmp_path):
    p = tmp_path / "zero.wav"
    sf.write(p, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioEmptyError, match="zero length"):
        load_audio(p)


@pytest.mark.parametrize("fmt,ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")])
def test_truncated(tmp_path, fmt, ext):
    full = tmp_path / f"full.{ext}"
    sf.write(full, tone(16000, 2.0) + 0.01 * np.random.default_rng(0).standard_normal(32000).astype(np.float32),
             16000, format=fmt)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioTruncatedError):
        load_audio(cut)


def test_silence_loads(tmp_path):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(16000 * 2, np.float32), 16000)
    a = load_audio(p)
    assert a.duration == pytest.approx(2.0) and a.peak == 0.0 and not a.clipped


def test_too_short(tmp_path):
    p = tmp_path / "short.wav"
    sf.write(p, tone(16000, 0.15), 16000)
    with pytest.raises(AudioTooShortError, match="0.15 s"):
        load_audio(p)
    sf.write(p, tone(16000, 0.25), 16000)
    assert load_audio(p).duration == pytest.approx(0.25)


@pytest.mark.parametrize("sr", [8000, 96000])
def test_resampled_rates(tmp_path, sr):
    p = tmp_path / f"r{sr}.wav"
    sf.write(p, tone(sr, 1.5, freq=300), sr)
    a = load_audio(p)
    assert a.sample_rate == 16000 and a.source_sample_rate == sr
    assert len(a.samples) == pytest.approx(24000, abs=2)
    assert abs(peak_hz(a) - 300) < 2
    assert 0.45 < np.abs(a.samples[1000:-1000]).max() < 0.55   # amplitude survives resampling
    narrow = [n for n in a.notes if "narrower band" in n]
    assert (len(narrow), sr < 16000) in ((1, True), (0, False))     # 8 kHz is said, not refused
    assert not narrow or "sampled at 8 kHz" in narrow[0]


def test_stereo_is_mixed_to_mono(tmp_path):
    p = tmp_path / "st.wav"
    left = tone(16000, 1.0, 440)
    right = tone(16000, 1.0, 1000)
    sf.write(p, np.stack([left, right], 1), 16000)
    a = load_audio(p)
    assert a.source_channels == 2 and a.samples.ndim == 1
    np.testing.assert_allclose(a.samples, (left + right) / 2, atol=1e-4)


def test_clipping_detected(tmp_path):
    p = tmp_path / "clip.wav"
    sf.write(p, np.clip(tone(16000, 1.0, amp=3.0), -1, 1), 16000, subtype="PCM_16")
    assert load_audio(p).clipped
    sf.write(p, tone(16000, 1.0, amp=0.9), 16000, subtype="PCM_16")
    assert not load_audio(p).clipped


def test_from_array_matches_file(tmp_path):
    x = tone(22050, 1.0)
    p = tmp_path / "a.wav"
    sf.write(p, x, 22050, subtype="FLOAT")
    np.testing.assert_allclose(from_array(x, 22050).samples, load_audio(p).samples, atol=2e-3)


def test_one_hour_memory_is_bounded(tmp_path):
    """1 h at 8 kHz: peak memory is the 16 kHz output plus small blocks, not the whole source twice."""
    sr, seconds = 8000, 3600
    p = tmp_path / "hour.wav"
    block = tone(sr, 60, freq=200, amp=0.3)
    with sf.SoundFile(p, "w", sr, 1, subtype="PCM_16") as f:
        for _ in range(seconds // 60):
            f.write(block)
    tracemalloc.start()
    a = load_audio(p)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert a.duration == pytest.approx(seconds, abs=0.01)
    assert peak < a.samples.nbytes * 1.1 + 20e6, f"peak {peak / 1e6:.0f} MB for {a.samples.nbytes / 1e6:.0f} MB output"
