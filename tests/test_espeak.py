"""espeak-ng binding: real synthesis, timing consistent with the audio, voices and stress."""

import numpy as np
import pytest

from talkface.training.corpus import espeak

pytestmark = pytest.mark.skipif(not espeak.available(), reason="libespeak-ng is not installed")


def test_synthesize_returns_audio_and_ordered_phonemes():
    u = espeak.synthesize("Bob bought a map.", "en-us")
    assert u.sample_rate == 22050 and u.samples.dtype == np.float32
    assert 0.5 < u.duration < 3.0 and 0.05 < np.abs(u.samples).max() <= 1.0
    starts = np.array([p.start for p in u.phonemes])
    ends = np.array([p.end for p in u.phonemes])
    assert np.all(np.diff(starts) > 0) and np.all(ends > starts)
    np.testing.assert_allclose(ends[:-1], starts[1:])            # contiguous segments
    assert ends[-1] == pytest.approx(u.duration)
    spoken = [p.phoneme for p in u.phonemes if not p.is_pause]
    assert spoken.count("b") == 3 and spoken.count("m") == 1 and spoken.count("p") == 1


def test_phoneme_timing_matches_the_waveform():
    """Pauses are quiet and vowels are loud: the event positions refer to the returned samples."""
    u = espeak.synthesize("Hello there. Good morning!", "en")
    sr = u.sample_rate

    def rms(p):
        seg = u.samples[int(p.start * sr):int(p.end * sr)]
        return float(np.sqrt(np.mean(seg ** 2)))

    pauses = [rms(p) for p in u.phonemes if p.is_pause and p.end - p.start > 0.05]
    vowels = [rms(p) for p in u.phonemes if p.phoneme in {"oU", "E@", "U", "O@", "I", "O:"}]
    assert pauses and vowels
    assert max(pauses) < 0.2 * np.median(vowels)


def test_rate_pitch_and_variant_change_the_voice():
    base = espeak.synthesize("The weather is lovely today.", "en-us", rate=150)
    fast = espeak.synthesize("The weather is lovely today.", "en-us", rate=300)
    assert fast.duration < 0.7 * base.duration
    female = espeak.synthesize("The weather is lovely today.", "en-us+f3", rate=150)
    assert not np.array_equal(female.samples[:5000], base.samples[:5000])


def test_stress_is_marked_on_vowels():
    u = espeak.synthesize("Computer science is important.", "en-us")
    stressed = [p.phoneme for p in u.phonemes if p.stress == 2]
    assert len(stressed) >= 3                                     # com-PU-ter SCI-ence im-POR-tant
    consonants = {"k", "m", "p", "t", "s", "n", "z"}
    assert not any(p.stress for p in u.phonemes if p.phoneme in consonants)


def test_unknown_voice_fails_clearly():
    with pytest.raises(espeak.EspeakUnavailableError, match="no voice"):
        espeak.synthesize("hi", "xx-nonexistent-voice")


def test_english_voices_listed():
    voices = espeak.list_voices("en")
    assert "en-us" in voices and "en" in voices and "en-gb-scotland" in voices and all(not v.startswith("mb") for v in voices)


def _median_f0(u) -> float:
    import librosa

    f0 = librosa.yin(u.samples, fmin=40, fmax=500, sr=u.sample_rate)
    return float(np.median(f0))


def test_custom_variants_speak_with_their_settings_and_keep_the_stock_voices():
    """A variant file installed at run time is spoken (low vs high pitch here), with the same
    phonemes as the stock voice; stock variants still work afterwards; bad names are refused."""
    text = "My mother made warm bread."
    stock = espeak.synthesize(text, "en-us+m1")
    espeak.use_variants({"tfvlow": "language variant\npitch 60 70\n", "tfvhigh": "language variant\npitch 240 260\n"})
    low, high = espeak.synthesize(text, "en-us+tfvlow"), espeak.synthesize(text, "en-us+tfvhigh")
    assert _median_f0(low) < 100 and _median_f0(high) > 200
    names = lambda u: [p.phoneme for p in u.phonemes]  # noqa: E731
    assert names(low) == names(high) == names(stock)
    assert names(espeak.synthesize(text, "en-us+m1")) == names(stock)
    espeak.use_variants({"tfvlow": "language variant\npitch 60 70\n"})        # same again: no-op
    with pytest.raises(ValueError, match="already installed"):
        espeak.use_variants({"tfvlow": "language variant\npitch 90 100\n"})
    with pytest.raises(ValueError, match="stock variant"):
        espeak.use_variants({"m1": "language variant\n"})
    with pytest.raises(ValueError, match="at most 349"):
        espeak.use_variants({f"tfvmany{i}": "language variant\n" for i in range(400)})



_FILL_SCRIPT = """
import ctypes, json, re
from talkface.training.corpus import espeak

class Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p), ("identifier", ctypes.c_char_p),
                ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]

def languages_listed():
    lib = espeak.engine().lib
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(Voice))
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    voices, k = lib.espeak_ListVoices(None), 0
    while voices[k]:
        k += 1
    return k

out = {"stock": languages_listed()}
try:
    espeak.use_variants({f"tfvroom{i}": "language variant\\n" for i in range(400)})
except ValueError as exc:
    out["refused"] = str(exc)
room = int(re.search(r"room for (\\d+) extra", out["refused"]).group(1))
espeak.use_variants({f"tfvfill{i}": "language variant\\n" for i in range(room)})
out["full"] = languages_listed()
out["speaks"] = len(espeak.synthesize("Bob.", f"en-us+tfvfill{room - 1}").phonemes)
try:
    espeak.use_variants({"tfvonemore": "language variant\\n"})
except ValueError as exc:
    out["one_more"] = str(exc)
print(json.dumps(out))
"""


def test_as_many_variants_as_allowed_drop_no_stock_voice():
    """The room use_variants offers is real: filling it exactly still lists every language
    (espeak-ng silently drops voices once its list is full). A fresh process: the filled
    engine would leave no room for other tests."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    run = subprocess.run([sys.executable, "-c", _FILL_SCRIPT], capture_output=True, text=True, timeout=120,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert "at most 349" in out["refused"]
    assert out["full"] == out["stock"] and out["speaks"] > 0
    assert "at most 349" in out["one_more"]
