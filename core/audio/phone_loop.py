"""Free phone recognition (no words, no transcript) on the real-speech acoustic model's own scores.

The lips seal where this loop hears /p b m/ (``core.audio.inference.animate``). It decodes the
scores ``core.audio.senones`` computes anyway for the network's phone posteriors: every phone of
the en-us model is a three-state left-to-right HMM with the model's own transition matrices, a
phone follows another as the phone bigram shipped with the model says (at a fixed insertion
penalty), and Viterbi finds the best path through each chunk. That is PocketSphinx's ``allphone``
search without its context-dependent senones; on the synthetic test sets it finds more /p b m/
than that search without more false ones (``bench/phone_loop.py``; weights/provenance.json,
``phone_loop``), at a twentieth of its time and in this process (no helper processes). The model
must be left-to-right without skips (``senones.acoustic_model`` checks).

Where the lips seal is not the best path's /p b m/ but the frames the loop itself gives good odds
of lying inside one: forward-backward through the same loop, its scores scaled by
``ACOUSTIC_SCALE``, and a /p b m/ heard wherever that posterior exceeds ``CLOSURE_POSTERIOR``
(``closures``). On the synthetic test sets that finds more of them with fewer false ones than the
best path (``bench/phone_loop.py``).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from . import phones, senones
from .loading import Audio
from .phones import FRAME_S, Phone, phone_class, phone_evidence

#: log probability (nats) added each time the path enters a phone: fewer, longer phones the lower.
#: With the phone bigram at weight 1, chosen on the synthetic test sets only (``bench/phone_loop.py``:
#: the most /p b m/ found without more false ones than PocketSphinx's search; never the real recordings).
INSERTION_PENALTY = -2.0

#: The closure detector: the acoustic scores are scaled by this before forward-backward (the model's
#: frame scores are not independent, so at larger scales the posteriors are all but 0 or 1) and a
#: /p b m/ is heard where its posterior exceeds ``CLOSURE_POSTERIOR``. Chosen by a rule fixed before
#: measuring, on dev sets only (weights/provenance.json, ``phone_loop.closure_detector``): first on
#: the synthetic sets (0.5 > 0.3: the most /p b m/ found with no more false ones than PocketSphinx's
#: search), then, once a real speaker's dev prompts existed, by the default path's closure on them
#: (``bench/lipsync.py --sets allison-dev,espeak,flite,piper --detector ...``) with gap r on every
#: dev set within 0.01: 1 > 0.3 closes 87.4 % of allison-dev's /p b m/ where 0.5 > 0.3 closed 86.4 %.
ACOUSTIC_SCALE = 1.0
CLOSURE_POSTERIOR = 0.3


#: Chunks decoded together (``hear``): the loop's per-frame work is many small numpy operations, so
#: chunks stacked on a batch axis cost about half as much each (a minute of audio, 5 chunks: 0.77 ->
#: 0.39 s on a slow 2-core machine), at ~8 MB of float64 work arrays per chunk.
BATCH = 4


def _stacked(chunks: list[np.ndarray], scale: float = 1.0) -> tuple[np.ndarray, list[int], dict[int, list[int]]]:
    """[frames, chunks, phones, states] float64: ``chunks`` (each [frames_k, phones, states], none
    empty) times ``scale``, zero past each one's end; their lengths; and {frame: the chunks that
    end on it}."""
    lengths = [len(c) for c in chunks]
    x = np.zeros((max(lengths), len(chunks), *chunks[0].shape[1:]))
    ends: dict[int, list[int]] = {}
    for k, c in enumerate(chunks):
        x[:lengths[k], k] = np.asarray(c, np.float64) * scale
        ends.setdefault(lengths[k] - 1, []).append(k)
    return x, lengths, ends


def decode(states: np.ndarray, stay: np.ndarray, leave: np.ndarray, penalty: float | None = None,
           follow: np.ndarray | None = None) -> list[tuple[int, int, int]]:
    """Viterbi through a loop of left-to-right phone HMMs.

    ``states``: [frames, phones, states] log-likelihoods; ``stay``/``leave``: [phones, states] log
    probabilities of each state's self-loop and of moving on (out of the phone from the last
    state); ``penalty``: added on entering a phone (None: ``INSERTION_PENALTY``); ``follow``:
    [phones, phones] log weight of each phone (column) following each (row), None: any phone
    follows any other alike. Returns the best path's phones as (phone, first frame, last frame),
    in order, covering every frame."""
    return decode_many([states], stay, leave, penalty, follow)[0]


def decode_many(chunks: list[np.ndarray], stay: np.ndarray, leave: np.ndarray, penalty: float | None = None,
                follow: np.ndarray | None = None) -> list[list[tuple[int, int, int]]]:
    """``decode`` of each of ``chunks`` (their lengths may differ), all in one pass over their frames:
    the same paths as one by one."""
    penalty = INSERTION_PENALTY if penalty is None else penalty
    out: list[list[tuple[int, int, int]]] = [[] for _ in chunks]
    live = [k for k, c in enumerate(chunks) if len(c)]
    if not live:
        return out
    states, lengths, ends = _stacked([chunks[k] for k in live])
    n, batch, n_phones, _ = states.shape
    follow = np.zeros((n_phones, n_phones)) if follow is None else follow
    phone, rows = np.arange(n_phones), np.arange(batch)[:, None]
    score = np.full(states.shape[1:], -np.inf)                 # [chunks, phones, states]
    score[:, :, 0] = penalty + states[0, :, :, 0]
    start = np.zeros(score.shape, np.int64)      # the frame the path in each state entered its phone
    moved_start = np.empty_like(start)
    moving = np.empty_like(score)
    came_from = np.zeros((n, batch, n_phones), np.int64)       # the phone before the one entered at a frame
    came_start = np.zeros((n, batch, n_phones), np.int64)      # ... and the frame that one had entered
    final = np.empty((batch, n_phones))                        # each chunk's score leaving each phone at its end
    final_start = np.empty((batch, n_phones), np.int64)
    for t in range(n):
        if t:
            entering = (score[:, :, -1] + leave[:, -1])[:, :, None] + follow      # [chunks, from, to]
            best = np.argmax(entering, axis=1)
            came_from[t], came_start[t] = best, start[rows, best, -1]
            moving[:, :, 0] = entering[rows, best, phone] + penalty
            moving[:, :, 1:] = score[:, :, :-1] + leave[:, :-1]
            moved_start[:, :, 0] = t
            moved_start[:, :, 1:] = start[:, :, :-1]
            staying = score + stay
            keep = staying >= moving
            score = np.where(keep, staying, moving) + states[t]
            start = np.where(keep, start, moved_start)
        for k in ends.get(t, ()):
            final[k], final_start[k] = score[k, :, -1] + leave[:, -1], start[k, :, -1]
    for k, chunk in enumerate(live):
        last = int(np.argmax(final[k]))
        path, first, end = [], int(final_start[k, last]), lengths[k] - 1
        while True:
            path.append((last, first, end))
            if first == 0:
                break
            last, first, end = int(came_from[first, k, last]), int(came_start[first, k, last]), first - 1
        out[chunk] = path[::-1]
    return out


def posteriors(states: np.ndarray, stay: np.ndarray, leave: np.ndarray, penalty: float | None = None,
               follow: np.ndarray | None = None, scale: float | None = None) -> np.ndarray:
    """[frames, phones]: the probability that each frame lies in each phone, over every path
    through ``decode``'s loop (same arguments; ``states`` times ``scale``, by default
    ``ACOUSTIC_SCALE`` as it is when called), by forward-backward in probabilities rescaled on
    every frame (exact in float64 over a chunk of any length)."""
    return posteriors_many([states], stay, leave, penalty, follow, scale)[0]


def posteriors_many(chunks: list[np.ndarray], stay: np.ndarray, leave: np.ndarray, penalty: float | None = None,
                    follow: np.ndarray | None = None, scale: float | None = None) -> list[np.ndarray]:
    """``posteriors`` of each of ``chunks`` (their lengths may differ), all in one pass: the same
    probabilities as one by one, to rounding (the transitions into phones are one matrix product
    for all chunks)."""
    penalty = INSERTION_PENALTY if penalty is None else penalty
    scale = ACOUSTIC_SCALE if scale is None else scale
    out = [np.zeros((0, stay.shape[0])) for _ in chunks]
    live = [k for k, c in enumerate(chunks) if len(c)]
    if not live:
        return out
    x, lengths, ends = _stacked([chunks[k] for k in live], scale)
    n, batch, n_phones, n_states = x.shape
    emit = np.exp(np.maximum(x - x.max(axis=(2, 3), keepdims=True), -600.0))   # each frame's best = 1
    del x
    stay_p, leave_p = np.exp(stay), np.exp(leave)
    enter = np.exp((np.zeros((n_phones, n_phones)) if follow is None else follow) + penalty)   # [from, to]
    alpha, norm = np.empty_like(emit), np.empty((n, batch, 1, 1))
    a = np.zeros((batch, n_phones, n_states))
    a[:, :, 0] = np.exp(penalty) * emit[0, :, :, 0]
    for t in range(n):
        if t:
            a, before = a * stay_p, a
            a[:, :, 1:] += before[:, :, :-1] * leave_p[:, :-1]
            a[:, :, 0] += (before[:, :, -1] * leave_p[:, -1]) @ enter
            a *= emit[t]
        norm[t] = a.sum(axis=(1, 2), keepdims=True)
        a = alpha[t] = a / norm[t]
    ending = np.zeros((n_phones, n_states))
    ending[:, -1] = leave_p[:, -1]                      # the path ends leaving a phone's last state
    b = np.broadcast_to(ending, a.shape).copy()
    for t in range(n - 1, -1, -1):                      # each chunk's beta starts at its own end
        if t < n - 1:
            ahead = emit[t + 1] * b
            b = stay_p * ahead
            b[:, :, :-1] += leave_p[:, :-1] * ahead[:, :, 1:]
            b[:, :, -1] += leave_p[:, -1] * (ahead[:, :, 0] @ enter.T)
            b /= norm[t + 1]
        for k in ends.get(t, ()):
            b[k] = ending
        alpha[t] *= b                                   # alpha now holds alpha * beta
    both = alpha.sum(3)                                 # [frames, chunks, phones]
    for k, chunk in enumerate(live):
        p = both[:lengths[k], k]
        out[chunk] = p / p.sum(1, keepdims=True)
    return out


def closures(t0: float, states: np.ndarray, model: senones.AcousticModel, follow: np.ndarray | None = None,
             threshold: float | None = None, scale: float | None = None) -> list[Phone]:
    """The /p b m/ heard in one chunk's ``senones.state_loglik`` (starting ``t0`` seconds in): each
    run of frames whose posterior (``posteriors``) of lying in P, B or M exceeds ``threshold``, named
    by the one of the three the run holds most of. ``threshold`` and ``scale`` default to
    ``CLOSURE_POSTERIOR`` and ``ACOUSTIC_SCALE`` as they are when called (``bench/lipsync.py
    --detector`` sets them)."""
    return _closures_in(t0, posteriors(states, model.stay, model.leave, follow=follow, scale=scale), model, threshold)


def _closures_in(t0: float, post: np.ndarray, model: senones.AcousticModel,
                 threshold: float | None = None) -> list[Phone]:
    """``closures`` from a chunk's ``posteriors`` [frames, phones]."""
    threshold = CLOSURE_POSTERIOR if threshold is None else threshold
    names = phone_names(model)
    lips = [i for i, name in enumerate(names) if phone_class(name) == "bilabial"]
    post = post[:, lips]
    edges = np.flatnonzero(np.diff(np.r_[False, post.sum(1) > threshold, False].astype(np.int8)))
    return [Phone(names[lips[int(post[a:b].sum(0).argmax())]], t0 + a * FRAME_S, t0 + b * FRAME_S)
            for a, b in zip(edges[0::2], edges[1::2])]


@functools.lru_cache(maxsize=1)
def phone_bigram() -> np.ndarray:
    """[phones, phones] ln P(column | row), in ``senones.acoustic_model()``'s phone order, of the phone
    bigram shipped with the model (``en-us-phone.lm.bin``, PocketSphinx's ``allphone`` language
    model); fillers read as SIL."""
    import pocketsphinx

    lm = pocketsphinx.NGramModel(pocketsphinx.Config(), pocketsphinx.LogMath(),
                                 os.path.join(phones.model_dir(), "en-us-phone.lm.bin"))
    names = phone_names(senones.acoustic_model())
    return np.array([[lm.prob([q, p]) for q in names] for p in names]) * np.log(1.0001)   # LogMath's base


def phone_names(model: senones.AcousticModel) -> list[str]:
    """The model's phones in its order, its silence and noise fillers as SIL."""
    return ["SIL" if name in senones.SILENCES else name for name in model.phones]


def chunk_phones(t0: float, states: np.ndarray, model: senones.AcousticModel, penalty: float | None = None,
                 follow: np.ndarray | None = None) -> list[Phone]:
    """``decode`` of one chunk's ``senones.state_loglik`` (the chunk starting ``t0`` seconds in) as
    timed phones."""
    return _timed(t0, decode(states, model.stay, model.leave, penalty, follow), model)


def _timed(t0: float, path: list[tuple[int, int, int]], model: senones.AcousticModel) -> list[Phone]:
    """A chunk's ``decode`` path as timed phones."""
    names = phone_names(model)
    return [Phone(names[phone], t0 + first * FRAME_S, t0 + (last + 1) * FRAME_S) for phone, first, last in path]


@dataclass(frozen=True)
class Heard:
    """A recording's ``senones.phone_logliks``, the phones of the loop's best path through it, and
    the /p b m/ it hears (``closures``: where the lips seal)."""

    logliks: np.ndarray
    phones: list[Phone]
    closures: list[Phone]


def hear(audio: Audio, model: senones.AcousticModel | None = None, progress=None) -> Heard:
    """Score ``audio`` once (``senones.phone_logliks``, which counts the chunks to ``progress``) and
    decode the chunks' scores, ``BATCH`` chunks at a time (``decode_many``, ``posteriors_many``)."""
    model = model or senones.acoustic_model()
    found: list[Phone] = []
    lips: list[Phone] = []
    waiting: list[tuple[float, np.ndarray]] = []

    def decode_waiting() -> None:
        chunks = [states for _, states in waiting]
        paths = decode_many(chunks, model.stay, model.leave, follow=phone_bigram())
        posts = posteriors_many(chunks, model.stay, model.leave, follow=phone_bigram())
        for (t0, _), path, post in zip(waiting, paths, posts):
            found.extend(_timed(t0, path, model))
            lips.extend(_closures_in(t0, post, model))
        waiting.clear()

    def decode_chunk(t0: float, states: np.ndarray) -> None:
        waiting.append((t0, states))
        if len(waiting) == BATCH:
            decode_waiting()

    logliks = senones.phone_logliks(audio, model, each_chunk=decode_chunk, progress=progress)
    if waiting:
        decode_waiting()
    return Heard(logliks, found, lips)


def as_timed(found: list[Phone]) -> list[tuple[str, float, float]]:
    """Phones as (ARPAbet, start_s, end_s), as the aligner and the take's phones are written."""
    return [(p.phone, p.start, p.end) for p in found]


def recognise_phones(audio: Audio) -> list[Phone]:
    """The phones of the whole recording (16 kHz), silence and noises as SIL."""
    return hear(audio).phones


def evidence_for(audio: Audio, n_frames: int, fps: float) -> np.ndarray:
    """``phones.phone_evidence`` of the recognised phones (weights trained with phone evidence)."""
    return phone_evidence(recognise_phones(audio), n_frames, fps)
