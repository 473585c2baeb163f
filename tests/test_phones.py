"""Phones heard with PocketSphinx's real-speech model (``phone_loop``): where the lips seal."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SPEECH

from talkface.core.audio import phone_loop, phones, senones
from talkface.core.audio.loading import Audio, from_array, load_audio
from talkface.training.corpus import espeak

BILABIAL = phones.CLASS_INDEX["bilabial"]


def test_evidence_is_the_share_of_each_frame_a_class_occupies():
    ph = [phones.Phone("SIL", 0.0, 0.1), phones.Phone("M", 0.1, 0.2), phones.Phone("AA", 0.2, 0.25)]
    ev = phones.phone_evidence(ph, 20, 50.0)   # frame k covers [k - 0.5, k + 0.5] / 50 s
    assert ev.shape == (20, len(phones.CLASSES)) and np.allclose(ev.sum(1), 1.0)
    assert np.allclose(ev[6:10, BILABIAL], 1.0)                      # 0.11-0.19 s: inside the /m/
    assert np.isclose(ev[5, BILABIAL], 0.5) and np.isclose(ev[10, BILABIAL], 0.5)  # frames it half covers
    assert np.allclose(ev[11:13, phones.CLASS_INDEX["open"]], 1.0)   # 0.21-0.25 s: the /aa/
    assert np.allclose(ev[13:, phones.CLASS_INDEX["silence"]], 1.0)  # nothing heard: silence


def test_classes_follow_the_lips_place_of_articulation():
    assert {phones.phone_class(p) for p in ("P", "b", "M", "m1")} == {"bilabial"}
    assert phones.phone_class("F") == phones.phone_class("v") == "labiodental"
    assert phones.phone_class("UW") == "rounded" and phones.phone_class("IY") == "spread"
    assert phones.phone_class("+NOISE+") == phones.phone_class("SIL") == "silence"


@pytest.fixture(scope="module")
def speech():
    return load_audio(SPEECH)


def test_recogniser_hears_the_samples_bilabials_where_espeak_said_them(speech):
    """Sample text: 'Hello! My name is Emma, and I am very happy to meet you. Today this photo will
    speak, in time with my voice.' -- its /m/ and /p/ as espeak timed them (same voice and rate)."""
    spoken = espeak.synthesize("Hello! My name is Emma, and I am very happy to meet you. "
                               "Today this photo will speak, in time with my voice.", "en-us+f2",
                               rate=160, pitch=55, pitch_range=70)
    truth = [(p.start, p.end) for p in spoken.phonemes if p.phoneme in ("m", "p", "b")]
    assert len(truth) >= 8
    heard = [p for p in phone_loop.recognise_phones(speech) if phones.phone_class(p.phone) == "bilabial"]
    hits = sum(any(h.start < e + 0.03 and h.end > s - 0.03 for h in heard) for s, e in truth)
    assert hits >= 0.6 * len(truth), (hits, len(truth))   # 6 of 9 when written (phone loop, no words)
    assert len(heard) <= len(truth) + 3          # not a recogniser that says /m/ everywhere


def test_a_cut_can_be_asked_to_fall_in_a_pause_not_a_closure():
    """Loud noise 25 s long with 30 ms of silence where the cut is due (a stop's closure inside a
    word) and a 300 ms quiet run 0.7 s away (a pause between words): the quietest frame is the
    closure; with ``pause_s`` the cut lands in the middle of the pause (Whisper's chunks)."""
    sr = 16000
    x = np.random.default_rng(0).normal(0, 0.3, 25 * sr).astype(np.float32)
    due = len(x) // 2
    x[due - 240:due + 240] = 0.0                                 # a 30 ms closure
    x[due + int(0.7 * sr):due + int(1.0 * sr)] *= 0.01           # a 300 ms pause
    (_, frame_cut), _ = phones.chunk_bounds(x, sr)
    (_, pause_cut), _ = phones.chunk_bounds(x, sr, pause_s=0.2)
    assert abs(frame_cut - due) <= 240
    assert due + 0.7 * sr + 0.1 * sr - 160 <= pause_cut <= due + 1.0 * sr - 0.1 * sr + 160


def test_long_audio_is_decoded_in_chunks_cut_at_quiet_frames(speech, monkeypatch):
    monkeypatch.setattr(phones, "CHUNK_S", 6.0)
    monkeypatch.setattr(phones, "SEARCH_S", 1.5)
    gap = np.zeros(8000, np.float32)
    long = from_array(np.concatenate([speech.samples, gap] * 3), 16000)
    bounds = phones.chunk_bounds(long.samples, 16000)
    assert len(bounds) >= 4 and bounds[0][0] == 0 and bounds[-1][1] == len(long.samples)
    assert all(b - a <= 6 * 16000 for a, b in bounds)
    assert len(bounds) % 2 == 0                               # the cuts the posteriors trained on
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1.5 * 16000             # near-equal shares (cut within SEARCH_S)
    heard = phone_loop.recognise_phones(long)
    assert all(a.end <= b.start + 1e-6 for a, b in zip(heard, heard[1:]))   # one time line
    per_copy = [sum(1 for p in heard if phones.phone_class(p.phone) == "bilabial"
                    and k * (speech.duration + 0.5) <= p.start < (k + 1) * (speech.duration + 0.5))
                for k in range(3)]
    assert min(per_copy) >= 5, per_copy


def test_recogniser_needs_16_khz():
    with pytest.raises(ValueError, match="16 kHz"):
        phone_loop.recognise_phones(Audio(np.zeros(22050, np.float32), 22050, None, 22050, 1, 0.0))


def test_viterbi_finds_the_path_the_scores_draw():
    """Three phones of two frames per state: the loop gives back each phone and its frames."""
    n_phones, n_states = 4, 3
    stay, leave = np.full((n_phones, n_states), np.log(0.5)), np.full((n_phones, n_states), np.log(0.5))
    truth = [(2, 0, 5), (0, 6, 11), (3, 12, 17)]
    scores = np.full((18, n_phones, n_states), -20.0)
    for phone, first, last in truth:
        for t in range(first, last + 1):
            scores[t, phone, (t - first) // 2] = 0.0
    assert phone_loop.decode(scores, stay, leave) == truth
    # a phone lasts at least a frame per state: a better frame elsewhere cannot make one
    flicker = scores.copy()
    flicker[8, 1, :] = 1.0                       # one frame better in another phone
    assert phone_loop.decode(flicker, stay, leave) == truth
    assert phone_loop.decode(scores[:0], stay, leave) == []


def test_the_loop_decodes_the_scores_the_posteriors_come_from(speech):
    heard = phone_loop.hear(speech)
    assert np.array_equal(heard.logliks, senones.phone_logliks(speech), equal_nan=True)
    assert heard.phones[0].start == 0.0 and all(a.end == b.start for a, b in zip(heard.phones, heard.phones[1:]))
    assert {p.phone for p in heard.phones} <= set(senones.acoustic_model().columns)
    assert phone_loop.recognise_phones(speech) == heard.phones          # the same every time


def test_chunks_decoded_together_get_each_chunks_own_path_and_posteriors():
    """decode_many and posteriors_many stack chunks of different lengths (an empty one too) on a batch
    axis: each chunk gets what it gets alone, so a chunk never hears its neighbours' frames."""
    rng = np.random.default_rng(5)
    n_phones, n_states = 5, 3
    stay = np.log(rng.uniform(0.3, 0.8, (n_phones, n_states)))
    leave = np.log(1 - np.exp(stay))
    follow = np.log(rng.dirichlet(np.ones(n_phones), n_phones))
    chunks = [rng.normal(0, 3, (n, n_phones, n_states)).astype(np.float32) for n in (17, 0, 40, 3, 25)]
    together = phone_loop.decode_many(chunks, stay, leave, follow=follow)
    assert together == [phone_loop.decode(c, stay, leave, follow=follow) for c in chunks]
    assert together[1] == [] and together[2][-1][2] == 39 and together[3][-1][2] == 2
    posts = phone_loop.posteriors_many(chunks, stay, leave, follow=follow, scale=0.7)
    for chunk, post in zip(chunks, posts):
        alone = phone_loop.posteriors(chunk, stay, leave, follow=follow, scale=0.7)
        assert post.shape == alone.shape == (len(chunk), n_phones) and np.allclose(post, alone, rtol=0, atol=1e-12)
    assert len({p.tobytes() for p in posts if len(p)}) == 4


def test_hearing_a_long_recording_in_batches_of_chunks_hears_what_one_by_one_does(speech, monkeypatch):
    gap = np.zeros(8000, np.float32)
    long = from_array(np.concatenate([speech.samples, gap] * 13), 16000)     # 102 s: 6 chunks, 4 then 2
    assert len(phones.chunk_bounds(long.samples, 16000)) > phone_loop.BATCH
    batched = phone_loop.hear(long)
    monkeypatch.setattr(phone_loop, "BATCH", 1)
    alone = phone_loop.hear(long)
    assert batched.phones == alone.phones and batched.closures == alone.closures and len(alone.closures) > 20


def test_the_model_transitions_are_left_to_right():
    model = senones.acoustic_model()
    assert model.stay.shape == model.leave.shape == (len(model.phones), 3)
    assert np.allclose(np.exp(model.stay) + np.exp(model.leave), 1.0)


def test_the_bigram_decides_which_phone_may_follow():
    """Two phones that score alike on a stretch: the bigram picks the one allowed after the first."""
    stay, leave = np.full((3, 3), np.log(0.5)), np.full((3, 3), np.log(0.5))
    scores = np.full((12, 3, 3), -20.0)
    for t in range(6):
        scores[t, 0, t // 2] = 0.0
        scores[6 + t, 1, t // 2] = scores[6 + t, 2, t // 2] = 0.0      # phone 1 or phone 2: a tie
    never = np.log(1e-9)
    only_2 = np.array([[never, never, 0.0], [0.0, never, never], [0.0, never, never]])
    only_1 = only_2[:, [0, 2, 1]]
    assert [p for p, _, _ in phone_loop.decode(scores, stay, leave, follow=only_2)] == [0, 2]
    assert [p for p, _, _ in phone_loop.decode(scores, stay, leave, follow=only_1)] == [0, 1]


def test_the_shipped_phone_bigram_is_a_distribution_per_phone():
    bigram = phone_loop.phone_bigram()
    names = senones.acoustic_model().phones
    assert bigram.shape == (len(names), len(names)) and np.isfinite(bigram).all()
    speech_rows = [i for i, n in enumerate(names) if n not in senones.SILENCES]
    silence_cols = [i for i, n in enumerate(names) if n in senones.SILENCES]
    # each phone's row sums to about 1 over the phones (silence counted once: the fillers read as SIL;
    # backed-off pairs make it 0.91-1.00): rows are what came before
    share = np.exp(bigram[speech_rows]).sum(1) - np.exp(bigram[speech_rows][:, silence_cols[1:]]).sum(1)
    assert np.allclose(share, 1.0, atol=0.1)


def _path_score(path, scores, stay, leave, penalty, follow):
    """Log score of one frame-by-frame (phone, state) path through decode's loop, or -inf."""
    (p0, s0) = path[0]
    if s0 != 0:
        return -np.inf
    total = penalty + scores[0, p0, 0]
    for t, ((p, s), (q, r)) in enumerate(zip(path, path[1:]), start=1):
        if (q, r) == (p, s):
            total += stay[p, s]
        elif q == p and r == s + 1:
            total += leave[p, s]
        elif s == scores.shape[2] - 1 and r == 0:
            total += leave[p, s] + follow[p, q] + penalty
        else:
            return -np.inf
        total += scores[t, q, r]
    p, s = path[-1]
    return total + leave[p, s] if s == scores.shape[2] - 1 else -np.inf


def test_loop_posteriors_are_the_share_of_every_path():
    """Forward-backward against brute force: every frame-by-frame path of a small loop scored and
    summed; each frame's phone posterior is the share of the paths through that phone."""
    import itertools

    rng = np.random.default_rng(3)
    n, n_phones, n_states = 6, 2, 2
    scores = rng.normal(0, 2, (n, n_phones, n_states))
    stay = np.log(rng.uniform(0.2, 0.8, (n_phones, n_states)))
    leave = np.log(1 - np.exp(stay))
    follow = np.log(np.array([[0.3, 0.7], [0.6, 0.4]]))
    cells = list(itertools.product(range(n_phones), range(n_states)))
    share = np.zeros((n, n_phones))
    for path in itertools.product(cells, repeat=n):
        w = np.exp(_path_score(path, scores * 0.5, stay, leave, -1.5, follow))
        for t, (p, _) in enumerate(path):
            share[t, p] += w
    share /= share[0].sum()
    got = phone_loop.posteriors(scores, stay, leave, penalty=-1.5, follow=follow, scale=0.5)
    assert np.allclose(got, share, atol=1e-9)
    assert phone_loop.posteriors(scores[:0], stay, leave).shape == (0, n_phones)


def test_a_closure_is_heard_where_the_best_path_takes_another_phone(monkeypatch):
    """Frames that score as well as /m/ as another phone: the best path goes through one of them,
    but the lips still seal there (the posterior of /m/ is about a half); a stretch with no /m/
    evidence at all is not heard as one."""
    model = senones.acoustic_model()
    names = phone_loop.phone_names(model)
    m, other, sil = names.index("M"), names.index("N"), names.index("SIL")
    n_phones = len(names)
    scores = np.full((30, n_phones, 3), -30.0)
    for t in range(30):
        state = min((t % 10) // 3, 2)
        if t < 10 or t >= 20:
            scores[t, sil, state] = 0.0
        else:
            scores[t, m, state] = scores[t, other, state] = 0.0
    flat = np.zeros((n_phones, n_phones))
    path = phone_loop.chunk_phones(1.0, scores, model, follow=flat)
    heard = phone_loop.closures(1.0, scores, model, follow=flat)
    assert [p.phone for p in heard] == ["M"] and abs(heard[0].start - 1.1) < 0.02 and abs(heard[0].end - 1.2) < 0.02
    assert [p.phone for p in phone_loop.closures(1.0, scores, model, follow=flat, threshold=0.6)] == []
    monkeypatch.setattr(phone_loop, "CLOSURE_POSTERIOR", 0.6)      # the setting as it is when called
    assert phone_loop.closures(1.0, scores, model, follow=flat) == []
    monkeypatch.undo()
    assert "M" not in [p.phone for p in path] or "N" not in [p.phone for p in path]    # the best path took one
    silent = scores.copy()
    silent[10:20, m] = -30.0
    assert phone_loop.closures(1.0, silent, model, follow=flat) == []
