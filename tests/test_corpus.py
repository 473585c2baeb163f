"""Corpus: a tiny one generates in seconds, splits keep held-out voices out, augmentation is honest."""

import json

import numpy as np
import pytest
from conftest import SPEECH

from talkface.core.audio.features import frame_count
from talkface.core.audio.visemes import ARKIT_NAMES, CHANNELS, lip_gap
from talkface.training.corpus import espeak
from talkface.training.corpus.build import (
    HELD_OUT_ACCENTS,
    HELD_OUT_VARIANTS,
    Augmentation,
    add_noise,
    apply_augmentation,
    generate,
    led,
    load_shard,
    make_sentence,
    make_silence,
    make_utterance,
    mu_law,
    random_speakers,
    room_impulse,
    speaker_style,
    speakers,
)

SR = 16000
needs_espeak = pytest.mark.skipif(not espeak.available(), reason="libespeak-ng is not installed")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    manifest = generate(out, hours=0.012, seed=7, fps=25.0, heldout_fraction=0.3, shard_minutes=0.25, log=lambda *_: None)
    return out, manifest


def shards(out, split):
    return [load_shard(p) for p in sorted((out / split).glob("shard_*.npz"))]


@needs_espeak
def test_tiny_corpus_generates_fast_and_complete(tiny):
    out, m = tiny
    assert m["seconds_to_generate"] < 60
    assert json.loads((out / "manifest.json").read_text())["channels"] == list(CHANNELS)
    for split in ("train", "heldout"):
        assert m["splits"][split]["utterances"] >= 1
        for z in shards(out, split):
            n_utt = len(z["speaker"])
            assert z["features"].shape == (z["frame_offsets"][-1], 16)
            assert z["features_logmel"].shape == (z["frame_offsets"][-1], 43)
            assert z["targets"].shape == (z["frame_offsets"][-1], len(CHANNELS))
            assert np.isfinite(z["features"]).all() and np.isfinite(z["targets"]).all()
            arkit = z["targets"][:, : len(ARKIT_NAMES)]
            assert arkit.min() >= 0 and arkit.max() <= 1
            for i in range(n_utt):
                samples = z["audio_offsets"][i + 1] - z["audio_offsets"][i]
                frames = z["frame_offsets"][i + 1] - z["frame_offsets"][i]
                assert frames == frame_count(samples / SR, 25.0)
                ph = slice(z["phoneme_offsets"][i], z["phoneme_offsets"][i + 1])
                assert z["phoneme_end"][ph][-1] == pytest.approx(samples / SR, abs=0.01)


@needs_espeak
def test_held_out_voices_never_appear_in_train(tiny):
    out, m = tiny
    train = [z for z in shards(out, "train")]
    heldout = [z for z in shards(out, "heldout")]
    train_speakers = {s for z in train for s in z["speaker"]}
    assert not {a for z in train for a in z["accent"]} & set(HELD_OUT_ACCENTS)
    assert not {v for z in train for v in z["variant"]} & set(HELD_OUT_VARIANTS)
    for z in heldout:
        for a, v in zip(z["accent"], z["variant"]):
            assert a in HELD_OUT_ACCENTS or v in HELD_OUT_VARIANTS
    assert not train_speakers & {s for z in heldout for s in z["speaker"]}
    assert set(m["splits"]["train"]["speakers"]) == train_speakers


def test_speaker_pools_are_disjoint_and_cover_many_voices():
    train, held = speakers("train"), speakers("heldout")
    assert len(train) >= 100 and len(held) >= 20
    assert not set(train) & set(held)
    assert not any(a in HELD_OUT_ACCENTS or v in HELD_OUT_VARIANTS for a, v in train)


@needs_espeak
def test_targets_follow_the_phonemes(tiny):
    """Mouth closes on /p b m/ in the stored targets, and the mouth moves only while speaking."""
    out, _ = tiny
    z = shards(out, "train")[0]
    jaw = z["targets"][:, CHANNELS.index("jawOpen")]
    close = z["targets"][:, CHANNELS.index("mouthClose")]
    fps = 25.0
    checked = 0
    for i in range(len(z["speaker"])):
        f0 = z["frame_offsets"][i]
        ph = slice(z["phoneme_offsets"][i], z["phoneme_offsets"][i + 1])
        for name, start, end in zip(z["phoneme"][ph], z["phoneme_start"][ph], z["phoneme_end"][ph]):
            if name in ("p", "b", "m"):
                k = f0 + min(int(round((start + end) / 2 * fps)), z["frame_offsets"][i + 1] - f0 - 1)
                assert jaw[k] <= 0.08 + 1e-6 and close[k] == pytest.approx(jaw[k])
                checked += 1
    assert checked >= 3


@needs_espeak
def test_espeak_lead_moves_the_targets_earlier_and_nothing_else(tmp_path):
    """``--espeak-lead-ms``: espeak-ng's phoneme events, and the mouth targets made from them, come
    that much earlier; the speech, every random draw and the other targets stay as they were; the
    manifest records it."""
    from talkface.core.audio.visemes import PhonemeEvent

    events = [PhonemeEvent("_", 0.0, 0.03), PhonemeEvent("m", 0.03, 0.1), PhonemeEvent("a", 0.1, 0.2, 2, 0)]
    moved = led(events, 0.04)
    assert [(p.phoneme, p.start, p.end) for p in moved] == [("m", 0.0, pytest.approx(0.06)),
                                                           ("a", pytest.approx(0.06), pytest.approx(0.16))]
    assert moved[1].stress == 2 and led(events, 0.0) == events
    fps, lead = 50.0, 0.04                                     # two frames
    plain = make_utterance("en-us", "", np.random.default_rng(4), fps)
    early = make_utterance("en-us", "", np.random.default_rng(4), fps, lead_s=lead)
    assert plain.text == early.text and plain.settings == early.settings
    assert len(plain.targets) == len(early.targets)
    pairs = list(zip(reversed(plain.phonemes), reversed(early.phonemes)))   # an event led past 0 is dropped
    assert len(pairs) >= len(plain.phonemes) - 1 and all(p.phoneme == q.phoneme for p, q in pairs)
    # libespeak-ng's hidden state moves a second synthesis by a millisecond or two
    assert all(abs(q.start - max(p.start - lead, 0.0)) < 0.005 for p, q in pairs)
    jaw = CHANNELS.index("jawOpen")
    a, b = plain.targets[:, jaw], early.targets[:, jaw]
    shifts = {k: float(np.abs(a[k:] - b[:len(b) - k]).mean()) for k in range(0, 5)}
    assert min(shifts, key=shifts.get) == 2 and shifts[2] < 0.25 * shifts[0], shifts
    # a corpus with the lead is the same corpus (same draws, same audio) but for its mouth targets;
    # fresh processes, as libespeak-ng carries hidden state within one
    import subprocess
    import sys

    for name, ms in (("plain", "0"), ("led", "15")):
        subprocess.run([sys.executable, "-m", "talkface.training.corpus.build", "--out", str(tmp_path / name),
                        "--hours", "0.006", "--seed", "3", "--fps", "50", "--shard-minutes", "1",
                        "--random-voices", "4", "--espeak-lead-ms", ms], check=True, capture_output=True, timeout=300)
    za, zb = (load_shard(tmp_path / name / "train/shard_00000.npz") for name in ("plain", "led"))
    np.testing.assert_array_equal(za["text"], zb["text"])
    np.testing.assert_array_equal(za["features_logmel"], zb["features_logmel"])
    mouth = [i for i, c in enumerate(CHANNELS) if c.startswith(("jaw", "mouth", "tongue", "cheek"))]
    rest = [i for i in range(len(CHANNELS)) if i not in mouth]
    np.testing.assert_array_equal(za["targets"][:, rest], zb["targets"][:, rest])
    assert not np.array_equal(za["targets"][:, mouth], zb["targets"][:, mouth])
    assert json.loads((tmp_path / "led" / "manifest.json").read_text())["espeak_lead_ms"] == 15.0
    with pytest.raises(ValueError, match="espeak_lead_ms"):
        generate(tmp_path / "x", hours=0.001, espeak_lead_ms=-5.0, log=lambda *_: None)


@needs_espeak
def test_same_seed_same_corpus(tmp_path):
    """Fresh processes (libespeak-ng carries hidden state within one) give identical corpora."""
    import subprocess
    import sys

    for name in ("a", "b"):
        subprocess.run([sys.executable, "-m", "talkface.training.corpus.build", "--out", str(tmp_path / name), "--hours", "0.002",
                        "--seed", "3", "--shard-minutes", "1"], check=True, capture_output=True, timeout=120)
    za, zb = load_shard(tmp_path / "a/train/shard_00000.npz"), load_shard(tmp_path / "b/train/shard_00000.npz")
    np.testing.assert_array_equal(za["targets"], zb["targets"])
    np.testing.assert_array_equal(za["features"], zb["features"])
    np.testing.assert_array_equal(za["text"], zb["text"])


def test_sentences_vary():
    rng = np.random.default_rng(0)
    texts = {make_sentence(rng) for _ in range(200)}
    assert len(texts) > 180
    assert any("?" in t for t in texts) and any("!" in t for t in texts)


def test_speaker_style_is_stable_per_speaker():
    assert speaker_style("en-us+m1") == speaker_style("en-us+m1")
    assert speaker_style("en-us+m1") != speaker_style("en-us+f2")


def voice_like(seconds=2.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    env = (np.sin(2 * np.pi * 2.5 * t) > 0).astype(np.float32)          # syllable-like bursts
    x = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 20)) * env * 0.2
    return (x + 0.01 * rng.standard_normal(len(t)) * env).astype(np.float32)


def lag_of(a, b):
    c = np.correlate(a[4000:12000], b[4000 - 200:12000 + 200], mode="valid")
    return int(np.argmax(np.abs(c))) - 200


def test_augmentations_keep_length_and_timing():
    x = voice_like()
    rng = np.random.default_rng(1)
    for aug in (Augmentation(rt60=0.6), Augmentation(band=(300.0, 3400.0)), Augmentation(via_rate=8000),
                Augmentation(codec_bits=8), Augmentation(clip_at=0.4), Augmentation(snr_db=10.0, gain_db=-12)):
        y = apply_augmentation(x, SR, aug, rng)
        assert y.shape == x.shape and y.dtype == np.float32 and np.abs(y).max() <= 1.0
        assert lag_of(y, x) == 0, aug


def test_noise_hits_the_requested_snr():
    x = voice_like(seed=2)
    y = add_noise(x, np.random.default_rng(2), 10.0)
    active = np.abs(x) > 0.05 * np.abs(x).max()
    snr = 10 * np.log10(np.mean(x[active] ** 2) / np.mean((y - x) ** 2))
    assert snr == pytest.approx(10.0, abs=0.5)


def test_room_impulse_decays_at_its_rt60():
    ir = room_impulse(np.random.default_rng(3), SR, 0.5)
    edc = np.cumsum(ir[::-1] ** 2)[::-1]                                 # Schroeder energy decay
    edc_db = 10 * np.log10(edc / edc[0] + 1e-12)
    tail = (edc_db < -15) & (edc_db > -45)                                # past the direct path
    slope = np.polyfit(np.nonzero(tail)[0] / SR, edc_db[tail], 1)[0]      # dB per second
    assert -60 / slope == pytest.approx(0.5, rel=0.2)
    assert np.argmax(np.abs(ir)) == 0                                     # direct path first: no delay


def test_band_limits_remove_out_of_band_energy():
    x = (0.1 * np.random.default_rng(4).standard_normal(SR * 2)).astype(np.float32)
    for aug, cut in ((Augmentation(via_rate=8000), 4200), (Augmentation(band=(300.0, 3400.0)), 4500)):
        y = apply_augmentation(x, SR, aug, np.random.default_rng(5))
        spec = np.abs(np.fft.rfft(y)) ** 2
        f = np.fft.rfftfreq(len(y), 1 / SR)
        assert spec[f > cut].sum() < 0.01 * spec[f < 3000].sum()


def test_mu_law_is_coarse_but_faithful():
    x = np.linspace(-0.9, 0.9, 5000).astype(np.float32)
    y = mu_law(x, 8)
    assert 10 < len(np.unique(y)) <= 256
    assert np.max(np.abs(y - x)) < 0.05


def test_silence_utterances_keep_the_mouth_shut():
    from talkface.core.audio.visemes import MOUTH_CHANNELS

    mouth = [CHANNELS.index(c) for c in MOUTH_CHANNELS]
    levels = set()
    for seed in range(6):
        utt = make_silence("en-us", "m1", np.random.default_rng(seed), 30.0)
        assert np.all(utt.targets[:, mouth] == 0)
        assert np.isfinite(utt.features).all() and len(utt.features) == len(utt.targets)
        assert np.abs(utt.targets[:, CHANNELS.index("head_ry")]).max() > 0       # the head still lives
        levels.add(bool(np.any(utt.audio)))
    assert levels == {True, False}                                                 # both noise and pure silence


@needs_espeak
def test_made_up_voices_train_only_and_are_recorded(tmp_path):
    """Random variant files join the training pool only; the manifest keeps their text, so the
    corpus can be rebuilt; each voice is its own file, drawn from a broad range."""
    m = generate(tmp_path, hours=0.01, seed=5, fps=25.0, heldout_fraction=0.3, shard_minutes=1.0,
                 random_voices=3, random_voice_share=0.9, log=lambda *_: None)
    made_up = set(m["random_voices"])
    assert len(made_up) == 3 and len(set(m["random_voices"].values())) == 3
    train = {s for z in shards(tmp_path, "train") for s in z["speaker"]}
    heldout = {s for z in shards(tmp_path, "heldout") for s in z["speaker"]}
    assert train & made_up and not heldout & made_up
    assert all(v.startswith("language variant") and "formant 1" in v for v in m["random_voices"].values())
    assert random_speakers(3, 5) == {tuple(k.split("+")): v for k, v in m["random_voices"].items()}


@needs_espeak
def test_heldout_from_links_another_corpus_split(tiny, tmp_path):
    """A second training corpus is measured on exactly the first one's held-out utterances."""
    first, _ = tiny
    m2 = generate(tmp_path / "second", hours=0.004, seed=8, fps=25.0, heldout_from=first, log=lambda *_: None)
    assert m2["splits"]["heldout"] == json.loads((first / "manifest.json").read_text())["splits"]["heldout"]
    a, b = shards(first, "heldout"), shards(tmp_path / "second", "heldout")
    assert len(a) == len(b) >= 1
    np.testing.assert_array_equal(a[0]["targets"], b[0]["targets"])
    assert m2["splits"]["train"]["utterances"] >= 1
    with pytest.raises(ValueError, match="fps"):
        generate(tmp_path / "third", hours=0.001, fps=30.0, heldout_from=first, log=lambda *_: None)
    with pytest.raises(ValueError, match="no readable manifest"):
        generate(tmp_path / "fourth", hours=0.001, fps=25.0, heldout_from=tmp_path / "nowhere", log=lambda *_: None)


def test_other_engines_speak_training_utterances_only_with_their_own_phone_times(tmp_path):
    """flite's voices join the training split with targets from flite's own phone times: the lips
    close on its /p b m/; held-out utterances stay espeak; reserved voices are refused up front."""
    m = generate(tmp_path, hours=0.01, seed=3, fps=50.0, heldout_fraction=0.3, shard_minutes=1.0,
                 engines=("flite:awb",), engine_share=0.9, log=lambda *_: None)
    assert m["engines"] == ["flite:awb"] and m["engine_share"] == 0.9
    train = [z for z in shards(tmp_path, "train")]
    assert "flite-awb" in {s for z in train for s in z["speaker"]}
    assert "flite-awb" not in {s for z in shards(tmp_path, "heldout") for s in z["speaker"]}
    n_checked = 0
    for z in train:
        for i, speaker in enumerate(z["speaker"]):
            if speaker != "flite-awb":
                continue
            a, b = z["frame_offsets"][i], z["frame_offsets"][i + 1]
            p0, p1 = z["phoneme_offsets"][i], z["phoneme_offsets"][i + 1]
            gap = lip_gap(z["targets"][a:b, :len(ARKIT_NAMES)])
            for ph, s, e in zip(z["phoneme"][p0:p1], z["phoneme_start"][p0:p1], z["phoneme_end"][p0:p1]):
                if ph in ("p", "b", "m"):
                    k = min(int(round((s + e) / 2 * 50)), len(gap) - 1)
                    assert gap[k] < 0.02 < gap.max(), (ph, s, e)
                    n_checked += 1
    assert n_checked >= 3
    with pytest.raises(ValueError, match="reserved"):
        generate(tmp_path / "x", hours=0.001, engines=("flite:slt",), engine_share=1.0, log=lambda *_: None)
    assert not (tmp_path / "x").exists()


def test_engine_speed_makes_more_vocal_tracts_whose_lips_close_on_the_sped_up_phones(tmp_path):
    """--engine-speed: each engine utterance at its own speed within 1 +- S (pitch, formants and phone
    times move together), the lips still shut on every /p b m/; a bad S is refused before any work."""
    m = generate(tmp_path / "c", hours=0.008, seed=5, fps=50.0, heldout_fraction=0.0, shard_minutes=1.0,
                 engines=("flite:awb",), engine_share=1.0, engine_speed=0.15, silence_fraction=0.0,
                 log=lambda *_: None)
    assert m["engine_speed"] == 0.15
    speeds, n_checked = [], 0
    for z in shards(tmp_path / "c", "train"):
        for i, settings in enumerate(z["settings"]):
            speed = json.loads(settings)["speed"]
            speeds.append(speed)
            a, b = z["frame_offsets"][i], z["frame_offsets"][i + 1]
            p0, p1 = z["phoneme_offsets"][i], z["phoneme_offsets"][i + 1]
            ends = z["phoneme_end"][p0:p1]
            # the phone times were scaled with the audio: the last phone ends where the audio does
            assert abs(ends.max() - (z["audio_offsets"][i + 1] - z["audio_offsets"][i]) / 16000) < 0.05
            gap = lip_gap(z["targets"][a:b, :len(ARKIT_NAMES)])
            for ph, s, e in zip(z["phoneme"][p0:p1], z["phoneme_start"][p0:p1], ends):
                if ph in ("p", "b", "m"):
                    assert gap[min(int(round((s + e) / 2 * 50)), len(gap) - 1)] < 0.02 < gap.max()
                    n_checked += 1
    assert len(speeds) >= 3 and len(set(speeds)) == len(speeds) and all(0.85 <= f <= 1.15 for f in speeds)
    assert n_checked >= 3
    plain = generate(tmp_path / "p", hours=0.001, seed=5, fps=50.0, engines=("flite:awb",), engine_share=1.0,
                     log=lambda *_: None)
    assert plain["engine_speed"] == 0.0
    assert "speed" not in json.loads(next(iter(shards(tmp_path / "p", "train")))["settings"][0])
    with pytest.raises(ValueError, match="engine speed"):
        generate(tmp_path / "x", hours=1.0, engines=("flite:awb",), engine_speed=0.5, log=lambda *_: None)
    assert not (tmp_path / "x").exists()


def test_phone_evidence_is_added_to_every_shard_and_read_by_the_trainer(tmp_path):
    """training.corpus.evidence: one row per target frame (class shares summing to 1), computed from
    the stored audio, skipped on a second run; the trainer's loader appends it or says what to run."""
    from talkface.training.animator import load_corpus
    from talkface.training.corpus.evidence import add_evidence

    generate(tmp_path, hours=0.004, seed=2, fps=50.0, heldout_fraction=0.3, shard_minutes=0.1, log=lambda *_: None)
    with pytest.raises(ValueError, match="training.corpus.evidence"):
        load_corpus(str(tmp_path), "train", evidence="phone_evidence")
    lines = []
    n = add_evidence(str(tmp_path), workers=1, log=lines.append)
    assert n == len(lines) >= 2 and not any("already" in l for l in lines)
    for split in ("train", "heldout"):
        for z in shards(tmp_path, split):
            ev = z["phone_evidence"].astype(np.float32)
            assert ev.shape == (len(z["targets"]), 10) and np.allclose(ev.sum(1), 1.0, atol=2e-3)
    assert max(z["phone_evidence"][:, 1].max() for z in shards(tmp_path, "train")) > 0.5   # /p b m/ heard
    again = []
    add_evidence(str(tmp_path), workers=1, log=again.append)
    assert all("already" in l for l in again)
    plain, heard = load_corpus(str(tmp_path), "train"), load_corpus(str(tmp_path), "train", evidence="phone_evidence")
    assert heard[0].features.shape[1] == plain[0].features.shape[1] + 10


def test_phone_posteriors_go_from_corpus_to_trained_weights_to_a_take(tmp_path):
    """--kind phone_posteriors: 40 columns a frame (posteriors summing to 1), read by the trainer
    with --phone-posteriors, saved in the weights' config, and computed again for a new recording
    at inference so the network reads the same columns."""
    from dataclasses import replace

    from talkface.core.audio import inference, senones
    from talkface.core.audio.loading import load_audio
    from talkface.training.animator import AnimatorTrainConfig, load_corpus, train
    from talkface.training.corpus.evidence import add_evidence

    generate(tmp_path, hours=0.004, seed=3, fps=50.0, heldout_fraction=0.3, shard_minutes=0.1, log=lambda *_: None)
    with pytest.raises(ValueError, match="--kind phone_posteriors"):
        load_corpus(str(tmp_path), "train", evidence="phone_posteriors")
    add_evidence(str(tmp_path), workers=1, log=lambda *_: None, kind="phone_posteriors")
    for z in shards(tmp_path, "train"):
        post = z["phone_posteriors"].astype(np.float32)
        assert post.shape == (len(z["targets"]), 40) and np.allclose(post.sum(1), 1.0, atol=5e-3)
        assert "phone_evidence" not in z                             # only the kind asked for
    train_clips = load_corpus(str(tmp_path), "train", evidence="phone_posteriors")
    cfg = replace(AnimatorTrainConfig(), steps=3, batch=2, window_s=1.0, phone_posteriors=True, evidence_dropout=0.5)
    out = str(tmp_path / "post.safetensors")
    train(train_clips, train_clips[:1], out, cfg, log=lambda *_: None)
    net = inference.load_animator_file(out)
    assert net.cfg.phone_posteriors and not net.cfg.phone_evidence
    speech = load_audio(SPEECH)
    feats = inference.features_for(speech, net)
    assert feats.shape[1] == net.cfg.n_features
    assert np.allclose(feats[:, -40:], senones.phone_posteriors(speech, len(feats), net.cfg.fps))
    take = inference.animate(speech, net)
    assert take.values.shape[0] == len(feats) and np.isfinite(take.values).all()


def test_posterior_weights_still_animate_without_pocketsphinx(monkeypatch):
    """The 'audio features' path: no recogniser, so the posteriors read as silence (what the
    shipped weights saw on a fifth of their training windows) and the network alone animates."""
    from talkface.core.audio import inference, phones
    from talkface.core.audio.loading import load_audio

    net = inference.load_animator()
    assert net.cfg.phone_posteriors                       # the shipped weights read them
    monkeypatch.setattr(phones, "available", lambda: False)
    speech = load_audio(SPEECH)
    feats = inference.features_for(speech, net)
    assert (feats[:, -40] == 1.0).all() and (feats[:, -39:] == 0.0).all()
    take = inference.animate(speech, net)
    jaw = take.values[:, take.channels.index("jawOpen")]
    assert np.isfinite(take.values).all() and jaw.max() > 0.15 and jaw.std() > 0.03   # the mouth still moves
