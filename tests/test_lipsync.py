"""The shipped audio-to-animation network on real inputs: speech, silence and awkward files."""

from __future__ import annotations

import resource

import numpy as np
import pytest
import soundfile as sf

from talkface.core.audio.inference import animate, load_animator
from talkface.core.audio.loading import load_audio
from talkface.core.face.model import inner_lip_gap, load_face_model


@pytest.fixture(scope="module")
def net():
    return load_animator()


@pytest.fixture(scope="module")
def face():
    return load_face_model()


def gap_mm(face, anim):
    weights = anim.values[:, :52]
    return inner_lip_gap(face, face.vertices(None, weights, None)) * 1000.0


def test_speech_moves_the_mouth_and_closes_it_on_bilabials(net, face, tmp_path):
    from talkface.training.corpus.espeak import synthesize

    utt = synthesize("Bob bought a map of my big pub.", voice="en-us+m3")
    path = tmp_path / "bob.wav"
    sf.write(path, utt.samples, utt.sample_rate)
    anim = animate(load_audio(path), net)
    gap = gap_mm(face, anim)
    assert gap.max() > 5.0  # the mouth opens on vowels
    closed = []
    for ph in utt.phonemes:
        if ph.phoneme in ("p", "b", "m"):
            a, b = int(ph.start * anim.fps), int(np.ceil(ph.end * anim.fps)) + 1
            closed.append(gap[a:b].min() <= 1.5)
    assert len(closed) >= 6 and np.mean(closed) >= 0.6


def test_silence_keeps_the_mouth_closed(net, face, tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(16000 * 3, np.float32), 16000)
    anim = animate(load_audio(path), net)
    assert anim.n_frames == 150
    assert np.percentile(gap_mm(face, anim), 95) <= 2.0
    assert np.all(np.isfinite(anim.values))
    # heard phones asked for, none heard: nothing of the mouth came from phones, and the take says so
    heard = animate(load_audio(path), net, heard_phone_mouth=True)
    assert heard.phone_mouth == 0.0 and np.array_equal(heard.values, anim.values)


@pytest.mark.parametrize("rate,channels", [(8000, 1), (96000, 1), (44100, 2)])
def test_any_rate_and_channel_count(net, tmp_path, rate, channels):
    t = np.arange(int(1.5 * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 200 * t) * (np.sin(2 * np.pi * 3 * t) > 0)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    path = tmp_path / f"a{rate}.wav"
    sf.write(path, data.astype(np.float32), rate)
    anim = animate(load_audio(path), net)
    assert anim.n_frames == 75
    weights = anim.values[:, :52]
    assert weights.min() >= 0.0 and weights.max() <= 1.0


def test_clipped_audio(net, tmp_path):
    t = np.arange(16000 * 2) / 16000
    loud = np.clip(3.0 * np.sin(2 * np.pi * 150 * t), -1, 1)
    path = tmp_path / "clipped.wav"
    sf.write(path, loud.astype(np.float32), 16000)
    audio = load_audio(path)
    assert audio.clipped
    anim = animate(audio, net)
    assert np.all(np.isfinite(anim.values)) and anim.n_frames == 100


def test_one_hour_runs_in_bounded_memory(net, tmp_path):
    sr = 16000
    minute = (0.05 * np.random.default_rng(0).standard_normal(60 * sr)).astype(np.float32)
    path = tmp_path / "hour.wav"
    with sf.SoundFile(path, "w", sr, 1, subtype="PCM_16") as fh:
        for _ in range(60):
            fh.write(minute)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # the network's chunked path (the recogniser's memory over an hour is bench/lipsync.py --speed)
    anim = animate(load_audio(path), net, listen=False)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert anim.n_frames == 180_000
    # audio (230 MB at 16 kHz) + animation (42 MB) + bounded chunks; not a full-length graph
    assert grown_mb < 1200


def test_styles_change_head_motion(net, tmp_path):
    from talkface.core.audio.inference import style_names
    from talkface.training.corpus.espeak import synthesize

    assert {"Calm", "Neutral", "Lively"} <= set(style_names(net))
    utt = synthesize("Well, I really did not expect that at all, did you?", voice="en-us")
    path = tmp_path / "s.wav"
    sf.write(path, utt.samples, utt.sample_rate)
    audio = load_audio(path)
    calm = animate(audio, net, "Calm").values[:, 52:]
    lively = animate(audio, net, "Lively").values[:, 52:]
    assert not np.allclose(calm, lively)


def test_timed_phones_seal_every_bilabial_and_leave_the_rest(net, face):
    """A transcript's phones (as the aligner gives them) seal the lips on each /p b m/, even on
    audio the network would not close on; elsewhere the network's output stands."""
    from talkface.training.corpus import flite

    samples, timed = flite.synthesize("Bob made a map, pam.", "rms")
    audio = load_audio_array(samples)
    free = animate(audio, net, listen=False)
    told = animate(audio, net, timed_phones=[(p.upper(), s, e) for p, s, e in timed], phone_mouth=0.0)
    g_free, g_told = gap_mm(face, free), gap_mm(face, told)
    bilabials = [(s, e) for p, s, e in timed if p in ("p", "b", "m")]
    assert len(bilabials) >= 6
    for s, e in bilabials:
        a, b = int(np.floor(s * told.fps + 0.5)), max(int(np.ceil(e * told.fps - 0.5)), int(np.floor(s * told.fps + 0.5)) + 1)
        assert g_told[a:b].max() <= 1.0, (s, e, g_told[a:b])
    inside = np.zeros(len(g_told), bool)
    for s, e in bilabials:
        inside[int(np.floor(s * told.fps + 0.5)):int(np.ceil(e * told.fps - 0.5)) + 1] = True
    jaw = list(free.channels).index("jawOpen")
    assert np.allclose(free.values[:, jaw], told.values[:, jaw]) or net.cfg.phone_evidence
    assert np.allclose(g_free[~inside], g_told[~inside], atol=1e-4) or net.cfg.phone_evidence


def load_audio_array(samples):
    from talkface.core.audio.loading import from_array

    return from_array(samples, 16000)


def test_listening_seals_the_bilabials_the_recogniser_hears(net, face):
    """Without a transcript the real-speech recogniser's /p b m/ seal the lips: every one it hears
    is closed, the take closes at least as many of the spoken ones as the network alone, and
    sealing never opens a mouth."""
    from talkface.bench.lipsync import bilabial_closed
    from talkface.core.audio.listening import heard_closures
    from talkface.training.corpus import flite

    samples, timed = flite.synthesize("Bob made a map, pam. My mum put the pumpkin by the bamboo.", "awb")
    audio = load_audio_array(samples)
    alone, sealed = animate(audio, net, listen=False), animate(audio, net)
    heard = animate(audio, net, heard_phone_mouth=True)
    g_alone, g_sealed, g_heard = gap_mm(face, alone), gap_mm(face, sealed), gap_mm(face, heard)
    recognised = [(s, e) for p, s, e in heard_closures(audio) if p in ("P", "B", "M")]
    assert len(recognised) >= 6
    for s, e in recognised:
        a = int(np.floor(s * heard.fps + 0.5))
        b = max(int(np.ceil(e * heard.fps - 0.5)), a + 1)
        assert g_heard[a:b].max() <= 1.0 and g_sealed[a:b].max() <= 1.0, (s, e, g_heard[a:b])
    bilabials = [(s, e) for p, s, e in timed if p in ("p", "b", "m")]
    closed = [sum(bilabial_closed(g, s, e, heard.fps) for s, e in bilabials) for g in (g_alone, g_sealed, g_heard)]
    assert min(closed[1:]) >= closed[0] and min(closed[1:]) >= 0.8 * len(bilabials), closed
    assert np.all(g_sealed <= g_alone + 1e-3)       # sealing only ever closes

@pytest.mark.parametrize("scene_fps", [24.0, 25.0, 30.0])
def test_every_sealed_closure_is_still_closed_as_keyed(net, face, scene_fps):
    """A closure the take makes (here from a transcript's /p b m/, some one network frame long)
    is still closed on the curves as keyed into a 24, 25 or 30 fps scene with the default key
    reduction: the closed pose lands whole on a scene frame."""
    from talkface.bench.lipsync import keyed
    from talkface.core.audio.inference import lip_contacts
    from talkface.training.corpus import flite

    samples, timed = flite.synthesize("Bob made a map, pam. My mum put the pumpkin by the bamboo.", "awb")
    told = animate(load_audio_array(samples), net, timed_phones=[(p.upper(), s, e) for p, s, e in timed])
    assert told.contacts == lip_contacts(net, told.values, told.fps) and len(told.contacts) >= 8
    g_keyed = inner_lip_gap(face, face.vertices(None, keyed(told, scene_fps), None)) * 1000.0
    for t in told.contacts:
        k = min(round(t * scene_fps), len(g_keyed) - 1)
        assert g_keyed[k] <= 1.0, (t, scene_fps, g_keyed[max(k - 1, 0):k + 2])


def test_the_phones_give_their_share_of_the_mouth_and_keep_its_closures(net):
    """``mix_phone_mouth``: a share of every mouth and jaw channel from the viseme model on the
    take's phones, the rest the network's; brows, eyes and head untouched. Phones a recogniser
    guessed (``guessed``) mix only where both mouths are open (``open_only_share``): every frame
    where the network's mouth is near sealed, or the phones' (a pause), stays the network's, so its
    closures and near-closures are its own, none opened and none made. A transcript's phones mix
    everywhere, a near-sealed run keeping its most closed frame sealed only where the text lets the
    lips close (a /p b m/ with a little slack either side, or a pause)."""
    from talkface.core.audio import visemes
    from talkface.core.audio.inference import CHANNELS, NEAR_SEALED, SEALED, _opening, mix_phone_mouth, open_only_share

    fps, n = 50.0, 100
    rng = np.random.default_rng(0)
    values = rng.uniform(0.2, 0.6, (n, len(CHANNELS))).astype(np.float32)
    col = {c: i for i, c in enumerate(CHANNELS)}
    values[:, col["mouthClose"]] = np.minimum(values[:, col["mouthClose"]], values[:, col["jawOpen"]])  # as the net
    values[40:44, col["jawOpen"]], values[40:44, col["mouthClose"]] = 0.2, 0.12   # near sealed, 40-43
    values[42, col["mouthClose"]] = 0.19                                             # its most closed frame
    for c in net.cfg.seal_open_channels:
        values[40:44, col[c]] = 0.0
        values[70:79, col[c]] = 0.0
    # one near-sealed run (70-78) with two closures the network made: 71 (its most closed) and 77
    values[70:79, col["jawOpen"]], values[70:79, col["mouthClose"]] = 0.2, 0.1
    values[71, col["mouthClose"]], values[77, col["mouthClose"]] = 0.2, 0.17
    heard = [("SIL", 0.0, 0.3), ("AA", 0.3, 1.6), ("SIL", 1.6, 2.0)]
    share = 0.4
    mixed = mix_phone_mouth(net, values, heard, fps, share, guessed=True)
    mouth = [i for i, c in enumerate(CHANNELS) if c.startswith(("jaw", "mouth"))]
    others = [i for i in range(len(CHANNELS)) if i not in mouth]
    assert np.array_equal(mixed[:, others], values[:, others])
    shapes = visemes.mouth_weights(visemes.arpabet_events(heard), fps, n)
    net_open, phones_open = _opening(net, values), _opening(net, shapes)
    w = open_only_share(net_open, phones_open, share)
    assert np.isclose(w.max(), share) and w.min() == 0.0 and ((w > 0) & (w < share - 1e-6)).any()   # a ramp
    expected = values.copy()
    expected[:, mouth] = (1 - w[:, None]) * values[:, mouth] + w[:, None] * shapes[:, mouth]
    expected[:, col["mouthClose"]] = np.minimum(expected[:, col["mouthClose"]], expected[:, col["jawOpen"]])
    assert np.allclose(mixed, expected, atol=1e-6)
    kept = (net_open <= NEAR_SEALED) | (phones_open <= NEAR_SEALED)
    assert kept[40:44].all() and kept[70:79].all() and kept[:10].all() and kept[90:].all()    # runs, pauses
    assert np.array_equal(mixed[kept], values[kept])              # the network's own there, to the bit
    assert np.array_equal(_opening(net, mixed) <= SEALED, net_open <= SEALED)   # no closure opened or made
    assert np.abs(mixed[~kept] - values[~kept]).max() > 0.05      # and the phones shape the open mouth
    # a transcript's phones: its /m/ at 1.42-1.46 s lets the second run close, nothing lets the first
    text = [("SIL", 0.0, 0.3), ("AA", 0.3, 1.42), ("M", 1.42, 1.46), ("AA", 1.46, 1.6), ("SIL", 1.6, 2.0)]
    told = mix_phone_mouth(net, values, text, fps, share)
    assert _opening(net, told)[71] == 0.0 and _opening(net, told)[77] > SEALED   # its most closed frame only
    assert _opening(net, told)[42] > SEALED        # a closure on "ah" the text does not allow is opened
    text_shapes = visemes.mouth_weights(visemes.arpabet_events(text), fps, n)
    expected[:, mouth] = (1 - share) * values[:, mouth] + share * text_shapes[:, mouth]
    expected[:, col["mouthClose"]] = np.minimum(expected[:, col["mouthClose"]], expected[:, col["jawOpen"]])
    assert np.allclose(np.delete(told, 71, 0), np.delete(expected, 71, 0), atol=1e-6)
    assert np.array_equal(mix_phone_mouth(net, values, heard, fps, 0.0), values)
    assert np.array_equal(mix_phone_mouth(net, values, [], fps, share), values)


@pytest.mark.parametrize("fps", [24.0, 25.0, 50.0])
def test_the_text_lets_the_lips_close_on_its_bilabials_and_pauses_only(fps):
    """``closed_lips_allowed``: the frames of a pause and of a /p b m/ with ``TEXT_CLOSURE_SLACK_S``
    either side, at any frame rate; never a vowel or another consonant away from them."""
    from talkface.core.audio.inference import TEXT_CLOSURE_SLACK_S, closed_lips_allowed

    said = [("SIL", 0.0, 0.2), ("AH0", 0.2, 0.6), ("M", 0.6, 0.68), ("AA1", 0.68, 1.2), ("N", 1.2, 1.3),
            ("sil", 1.3, 1.5)]
    n = int(1.5 * fps)
    allowed = closed_lips_allowed(said, fps, n)
    t = np.arange(n) / fps
    slack = TEXT_CLOSURE_SLACK_S
    assert allowed[t < 0.2 - 1 / fps].all() and allowed[t >= 1.3].all()            # the pauses
    assert allowed[(t >= 0.6 - slack) & (t < 0.68 + slack)].all()                   # the /m/ and its slack
    assert not allowed[(t >= 0.2) & (t < 0.6 - slack - 1 / fps)].any()              # "ah" before it
    assert not allowed[(t >= 0.68 + slack + 1 / fps) & (t < 1.3 - 1 / fps)].any()   # "aa n" after it
    assert not closed_lips_allowed([], fps, n).any()


def test_smoothing_calms_every_channel_and_keeps_every_sealed_frame(net):
    """``smooth_keeping_closures``: every channel smoothed over time by a Gaussian, mouthClose kept at
    most jawOpen, every frame whose lips were sealed still sealed; a run that only came near sealing
    is smoothed like the rest; 0 leaves the values as they were."""
    from scipy.ndimage import gaussian_filter1d

    from talkface.core.audio.inference import CHANNELS, NEAR_SEALED, SEALED, _opening, smooth_keeping_closures

    fps, n, sigma_s = 50.0, 120, 0.04
    values = np.random.default_rng(1).uniform(0.2, 0.6, (n, len(CHANNELS))).astype(np.float32)   # jittery
    col = {c: i for i, c in enumerate(CHANNELS)}
    for c in net.cfg.seal_open_channels:
        values[30:34, col[c]] = 0.0
        values[80:83, col[c]] = 0.0
    values[30:34, col["jawOpen"]], values[30:34, col["mouthClose"]] = 0.3, 0.3     # sealed, 30-33
    values[80:83, col["jawOpen"]], values[80:83, col["mouthClose"]] = 0.3, 0.2     # near sealed, 80-82
    opening = _opening(net, values)
    assert opening[30:34].max() <= SEALED and SEALED < opening[80:83].min() <= NEAR_SEALED
    smooth = smooth_keeping_closures(net, values, fps, sigma_s)
    expected = gaussian_filter1d(values, sigma_s * fps, axis=0, mode="nearest")
    sealed = np.isin(np.arange(n), [30, 31, 32, 33])
    free = [i for i, c in enumerate(CHANNELS) if c != "mouthClose"]
    assert np.allclose(smooth[~sealed][:, free], expected[~sealed][:, free], atol=1e-6)
    assert np.all(smooth[:, col["mouthClose"]] <= smooth[:, col["jawOpen"]])
    assert _opening(net, smooth)[sealed].max() == 0.0                   # every closure stays
    assert _opening(net, smooth)[80:83].min() > SEALED                  # a near one is not made one
    jitter = [np.abs(np.diff(v[40:75], axis=0)).mean() for v in (values, smooth)]   # away from them
    assert jitter[1] < 0.5 * jitter[0]
    assert smooth_keeping_closures(net, values, fps, 0.0) is values


def test_take_smoothing_keeps_every_closure_and_is_fps_independent(net, face):
    """The user's Smoothing (``smooth_take``) calms every curve and keeps every closure of the take
    (plain Gaussian smoothing of the same strength parts the lips on some); its time constant
    gives the same curve at 25 and 50 fps."""
    from scipy.ndimage import gaussian_filter1d

    from talkface.core.animation import Animation
    from talkface.core.audio.inference import CHANNELS, smooth_take
    from talkface.training.corpus import flite

    samples, _ = flite.synthesize("Bob made a map, pam. My mum put the pumpkin by the bamboo.", "awb")
    take = animate(load_audio_array(samples), net)
    smooth = smooth_take(net, take, 0.06)
    frames = [int(round(c * take.fps)) for c in take.contacts]
    assert len(frames) >= 6
    assert gap_mm(face, smooth)[frames].max() <= 1.0
    assert set(take.contacts) <= set(smooth.contacts)
    plain = Animation(take.fps, take.channels, gaussian_filter1d(take.values, 0.06 * take.fps, axis=0, mode="nearest"))
    assert gap_mm(face, plain)[frames].max() > 1.0             # what the seals keep from happening
    jaw = CHANNELS.index("jawOpen")
    assert np.abs(np.diff(smooth.values[:, jaw])).mean() < 0.7 * np.abs(np.diff(take.values[:, jaw])).mean()
    assert smooth_take(net, take, 0.0) is take

    def sine(fps, frames):                   # a jaw opening three times a second, lips never sealed
        values = np.zeros((frames, len(CHANNELS)), np.float32)
        values[:, jaw] = 0.5 + 0.4 * np.sin(2 * np.pi * 3 * np.arange(frames) / fps)
        return Animation(fps, CHANNELS, values)

    a25, a50 = smooth_take(net, sine(25.0, 100), 0.1), smooth_take(net, sine(50.0, 200), 0.1)
    np.testing.assert_allclose(a25.values[5:-5, jaw], a50.values[::2, jaw][5:-5], atol=0.01)   # ends pad apart
    assert np.ptp(a25.values[:, jaw]) < np.ptp(sine(25.0, 100).values[:, jaw])


@pytest.mark.parametrize("told_as", ["recognised", "timed_phones"])
def test_a_phone_mouth_brings_the_take_nearer_to_the_phones(net, face, told_as):
    """The phones give ``PHONE_MOUTH`` of the mouth: told a flite line's own phones as a transcript
    (by default) or as the words heard (when asked: ``heard_phone_mouth``), the gap curve follows
    those phones' visemes more closely than the network's mouth does, and every /p b m/ still
    closes. Heard phones are not used unless asked, or unless Whisper heard the words
    (``MOUTH_FROM_WORDS_OF``)."""
    from talkface.bench.lipsync import bilabial_closed, viseme_reference
    from talkface.core.audio.inference import PHONE_MOUTH
    from talkface.core.audio.recognition import Recognised
    from talkface.training.corpus import flite

    samples, timed = flite.synthesize("Bob made a map, pam. My mum put the pumpkin by the bamboo.", "rms")
    audio = load_audio_array(samples)
    phones_said = [(p.upper(), s, e) for p, s, e in timed]
    heard_by = {source: Recognised("", [], phones_said, [], source) for source in ("pocketsphinx", "whisper")}
    said = heard_by["pocketsphinx"] if told_as == "recognised" else phones_said
    reference = viseme_reference(phones_said, audio.duration)
    g_ref = inner_lip_gap(face, face.vertices(None, reference, None)) * 1000.0
    asked = {"heard_phone_mouth": True} if told_as == "recognised" else {}
    takes = {"network": animate(audio, net, **{told_as: said}, phone_mouth=0.0),
             "default": animate(audio, net, **{told_as: said}),
             "phones": animate(audio, net, **{told_as: said}, **asked)}
    r = {}
    for name, take in takes.items():
        g = gap_mm(face, take)
        m = min(len(g), len(g_ref))
        r[name] = np.corrcoef(g[:m], g_ref[:m])[0, 1]
        assert all(bilabial_closed(g, s, e, take.fps) for p, s, e in timed if p in ("p", "b", "m"))
    assert PHONE_MOUTH > 0 and r["phones"] > r["network"] + 0.02, r
    if told_as == "recognised":           # heard phones only when asked, or when Whisper heard the words
        assert np.array_equal(takes["default"].values, takes["network"].values)
        by_whisper = animate(audio, net, recognised=heard_by["whisper"])
        by_sphinx = animate(audio, net, recognised=heard_by["pocketsphinx"])
        assert np.array_equal(by_whisper.values, takes["phones"].values) and by_whisper.phone_mouth == PHONE_MOUTH
        assert np.array_equal(by_sphinx.values, takes["network"].values) and by_sphinx.phone_mouth == 0.0
    else:
        assert np.array_equal(takes["default"].values, takes["phones"].values)
    # each take says what share of its mouth its phones gave (the Action records it)
    assert takes["network"].phone_mouth == 0.0 and takes["phones"].phone_mouth == PHONE_MOUTH
    assert takes["default"].phone_mouth == (0.0 if told_as == "recognised" else PHONE_MOUTH)
