"""Forced alignment of a user's transcript to real speech (PocketSphinx, English only).

``align(audio, transcript)`` returns when each word and each ARPAbet phone is spoken. It uses the
CMU PocketSphinx US-English acoustic model and the CMU pronouncing dictionary shipped in the
``pocketsphinx`` wheel, so it needs no download; pocketsphinx is imported lazily, inside the
functions, so the add-on loads without it.

How it works
------------
1. The transcript is normalised (case, curly quotes, punctuation, hyphens; whole numbers below a
   million are spelled out) and every word is looked up in the dictionary. Words that are not in it
   raise ``InputError`` naming them: there is no letter-to-sound fallback (PocketSphinx has none
   built in, and a guessed pronunciation would only hide a typo). Text that is mostly non-ASCII
   letters, or mostly unknown words, is refused as not English.
2. A word-level alignment of the whole clip finds the silences; the clip is cut in the middle of
   silences into chunks of at least ``CHUNK_S`` seconds, and each chunk is aligned again at the
   phone level (PocketSphinx's state alignment fails on some long clips; short chunks do not).
3. Mismatch check. A forced alignment always finds *some* path when it does not fail outright,
   so its acoustic fit is measured: the chunk's phone alignment is re-scored by a decoder that
   scores every senone on every frame (``compallsen``), so each frame's score is relative to the
   best senone of the whole model for that frame. The per-frame "gap" is that distance, in
   PocketSphinx log units (base 1.0001, senone shift 10: one unit is about 0.1 nat) per 10 ms
   frame; ``Alignment.score`` is its mean over the clip. The transcript is refused when the word
   pass fails outright (the usual case for a wholly wrong text), when the mean gap exceeds
   ``MAX_GAP``, or when the gap averaged over any 2 s window exceeds ``MAX_LOCAL_GAP``.
   Calibrated with ``bench/alignment.py`` (right and wrong texts on espeak-ng, flite awb/rms,
   piper joe and the real two_cities, clean and degraded): right texts reach a mean of 66 and a
   worst window of 83 (espeak-ng's thin +f3 voice; human and neural voices 26-35 / 31-53); texts of
   other audio that the word pass still fits score 59-117 / 76-138, half-texts 48-86 / 53-143.
   Until 2026-12 the gap was taken to a free phone-loop decode (a GOP-style ratio); that separated
   right from wrong texts no better on the same cases and cost 40 % of the alignment time. Short
   partial mismatches (a replaced phrase in a 3 s line) and single wrong words are NOT caught.
4. PocketSphinx's phone pass needs ``bestpath=False`` (its own tests say so); if it still fails
   on a chunk, the chunk is cut at every silence, and a piece that still fails is timed by a word
   pass over one-phone pseudo-words (no score for those frames).

Limits: at most ``MAX_DURATION_S`` (10 minutes) of audio per call (longer input raises
``InputError``: split it); the audio is resampled to 16 kHz if needed.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError
from . import sphinx_helper, sphinx_pool
from .loading import Audio, resample
from .phones import available, model_dir, to_pcm16  # noqa: F401  (available: re-exported)

SAMPLE_RATE = 16000
FRAME_S = 0.01                 # PocketSphinx frames are 10 ms
MAX_DURATION_S = 600.0         # 10 minutes per call
CHUNK_S = 10.0                 # phone-level alignment works on chunks cut in silences after this
MIN_CUT_SIL_FRAMES = 12        # a silence must be at least 0.12 s to cut there
MAX_GAP = 72.0                 # mean per-frame gap (alignment vs best senone) that refuses
MAX_LOCAL_GAP = 95.0           # the same averaged over any LOCAL_WINDOW_FRAMES (a wrong sentence)
LOCAL_WINDOW_FRAMES = 200      # 2 s
SILENCE = "SIL"


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Alignment:
    """Words and phones in seconds from the start of the audio.

    ``phones`` are (ARPAbet phone without stress, start_s, end_s), contiguous from 0 to the end of
    the audio, silence named ``SIL``. ``score`` is the mean per-frame acoustic gap between the
    aligned states and the best-scoring senone of the model (0 = every frame on its best senone;
    larger = worse; refused above MAX_GAP);
    ``chunk_scores`` the same per chunk as (start_s, end_s, gap)."""

    words: list[Word]
    phones: list[tuple[str, float, float]]
    score: float
    chunk_scores: list[tuple[float, float, float]] = field(default_factory=list)
    duration: float = 0.0
    worst_window: float = float("nan")     # the gap's worst LOCAL_WINDOW_FRAMES mean (chunks that long)


# ---------------------------------------------------------------------------------------------
# text normalisation

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def spell_number(n: int) -> list[str]:
    """0 <= n < 1_000_000 as English words (American style, no 'and')."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (spell_number(n % 100) if n % 100 else [])
    if n < 1_000_000:
        return spell_number(n // 1000) + ["thousand"] + (spell_number(n % 1000) if n % 1000 else [])
    raise ValueError(n)


_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'",
                         "\u2013": " ", "\u2014": " ", "-": " ", "/": " "})


def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def normalise(transcript: str) -> list[str]:
    """Transcript -> lower-case dictionary words. Raises InputError for empty or non-English text
    and for tokens mixing digits and letters."""
    if transcript is None or not transcript.strip():
        raise InputError("The transcript is empty: type the words that are spoken in the audio.")
    letters = [c for c in transcript if c.isalpha()]
    if letters:
        foreign = sum(1 for c in letters if not _strip_accents(c).isascii())
        if foreign / len(letters) > 0.2:
            raise InputError("The transcript does not look like English: the aligner knows English only.")
    text = _strip_accents(transcript).translate(_QUOTES).lower()
    words: list[str] = []
    for tok in text.split():
        tok = re.sub(r"^[^a-z0-9]+|[^a-z0-9]+$", "", tok)      # edge punctuation, quotes
        tok = tok.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+", tok) else tok
        if not tok:
            continue
        if tok.isdigit():
            n = int(tok)
            words += spell_number(n) if n < 1_000_000 else [_ONES[int(d)] for d in tok]
            continue
        if any(c.isdigit() for c in tok):
            raise InputError(f"Please write '{tok}' in words in the transcript.")
        for part in re.split(r"[^a-z']+", tok):                # inner punctuation splits words
            part = part.strip("'")
            if part:
                words.append(part)
    if not words:
        raise InputError("The transcript has no words: type the words that are spoken in the audio.")
    return words


# ---------------------------------------------------------------------------------------------
# decoders (built once, lazily)

_LOCK = threading.Lock()


def decoder_settings(dictionary: str | None = None) -> dict:
    """The two decoders' settings (JSON-able: helper processes build the same): 'words' runs the
    word and state passes, 'scored' re-scores an alignment against every senone. ``dictionary``:
    a pronunciation dictionary in place of the whole CMU one."""
    m = model_dir()
    common = dict(hmm=m + "/en-us", samprate=SAMPLE_RATE, loglevel="FATAL",
                  dict=dictionary or m + "/cmudict-en-us.dict", bestpath=False)
    return {"words": common, "scored": dict(common, compallsen=True)}


@functools.lru_cache(maxsize=1)
def _decoders() -> sphinx_helper.Decoders:
    return sphinx_helper.Decoders(decoder_settings())


def _decoder(kind: str):
    return _decoders()(kind)


def lookup(words: list[str]) -> list[str]:
    """Check every word is in the dictionary; raise InputError naming the missing ones."""
    dec = _decoder("words")
    missing = sorted({w for w in words if dec.lookup_word(w) is None})
    if not missing:
        return words
    n_missing = sum(dec.lookup_word(w) is None for w in words)
    if len(words) >= 2 and n_missing >= 0.4 * len(words) and n_missing >= 2:
        raise InputError("Most of the transcript's words are not English words: the aligner knows English only.")
    shown = ", ".join(f"'{w}'" for w in missing[:10]) + (" ..." if len(missing) > 10 else "")
    raise InputError(f"The pronunciation dictionary does not know {shown}: spell "
                     f"{'it' if len(missing) == 1 else 'them'} as they sound, in common English words.")


# ---------------------------------------------------------------------------------------------
# alignment


def _decode(pcm: bytes) -> None:
    """One utterance on the 'words' decoder, from the model's initial state."""
    sphinx_helper.decode(_decoders(), "words", pcm)


def _word(name: str) -> str:
    return re.sub(r"\(\d+\)$", "", name)


def _is_filler(name: str) -> bool:
    return name in ("<s>", "</s>", "<sil>") or name.startswith("[") or name.startswith("+")


def _chunks(segs: list[tuple[str, int, int]], n_frames: int) -> list[tuple[int, int, list[str]]]:
    """Cut the clip in the middle of silences once a chunk is CHUNK_S long: (start, end, words)."""
    out, start, words = [], 0, []
    min_len = int(CHUNK_S / FRAME_S)
    for name, s, e in segs:
        if _is_filler(name):
            if (name == "<sil>" and e - s + 1 >= MIN_CUT_SIL_FRAMES and words
                    and (s + e) // 2 - start >= min_len and n_frames - (s + e) // 2 >= min_len // 2):
                cut = (s + e) // 2
                out.append((start, cut, words))
                start, words = cut, []
            continue
        words.append(_word(name))
    if out and not words:                     # trailing silence joins the last chunk
        s0, _, w0 = out.pop()
        out.append((s0, n_frames, w0))
    else:
        out.append((start, n_frames, words))
    return out


def _phone_words_pass(dec, words: list[str], pcm: bytes):
    """Fallback for a piece whose state alignment fails: align a string of one-phone pseudo-words
    with the (robust) word pass, which times every phone directly. Returns (words, phones) in
    frames, or None when even that fails."""
    prons = [dec.lookup_word(w).split() for w in words]
    for ph in {p for pr in prons for p in pr}:
        if dec.lookup_word("ph_" + ph.lower()) is None:
            dec.add_word("ph_" + ph.lower(), ph, True)
    dec.set_align_text(" ".join("ph_" + p.lower() for pr in prons for p in pr))
    _decode(pcm)
    if dec.hyp() is None:
        return None
    segs = [(s.word[3:].upper(), s.start_frame, s.end_frame + 1) for s in dec.seg() if s.word.startswith("ph_")]
    if len(segs) != sum(len(pr) for pr in prons):
        return None
    out_words, i = [], 0
    for w, pr in zip(words, prons):
        out_words.append((w, segs[i][1], segs[i + len(pr) - 1][2]))
        i += len(pr)
    return out_words, segs


def _split_at_silences(dec, words: list[str], pcm: bytes, c0: int, c1: int) -> list[tuple[int, int, list[str]]]:
    """After a failed phone pass, cut [c0, c1) in the middle of every silence that the chunk's
    word pass finds (re-run so its segmentation is at hand)."""
    dec.set_align_text(" ".join(words))
    _decode(pcm)
    segs = [(s.word, s.start_frame, s.end_frame) for s in dec.seg()] if dec.hyp() is not None else []
    out, start, words = [], 0, []
    for name, s, e in segs:
        if _is_filler(name):
            if name == "<sil>" and e - s + 1 >= MIN_CUT_SIL_FRAMES and words and 0 < (s + e) // 2 < c1 - c0:
                out.append((c0 + start, c0 + (s + e) // 2, words))
                start, words = (s + e) // 2, []
            continue
        words.append(_word(name))
    if not out:
        return [(c0, c1, words)]
    if words:
        out.append((c0 + start, c1, words))
    else:
        a, _, w = out.pop()
        out.append((a, c1, w))
    return out


def _mismatch(detail: str) -> InputError:
    return InputError(f"The transcript does not match the audio: {detail}.")


def align(audio: Audio, transcript: str, meanwhile: Callable[[bool], None] | None = None) -> Alignment:
    """Align ``transcript`` (English) to ``audio``; see the module docstring. Raises InputError for
    empty, non-English or unknown-word transcripts, audio over 10 minutes, and transcripts that
    do not match the audio. ``meanwhile(helped)`` runs once, while helper processes align the
    chunks (``helped`` True), or after the alignment without them (False)."""
    x = np.asarray(audio.samples, dtype=np.float32)
    if audio.sample_rate != SAMPLE_RATE:
        x = resample(x, audio.sample_rate, SAMPLE_RATE)
    duration = len(x) / SAMPLE_RATE
    if duration > MAX_DURATION_S:
        raise InputError(f"The audio is {duration / 60:.1f} minutes long: transcript alignment takes at most "
                         f"{MAX_DURATION_S / 60:.0f} minutes at a time, so split it.")
    text = normalise(transcript)
    # Helper processes build their decoders (with a dictionary of the transcript's words only: the
    # whole one takes longer to read than a chunk takes to align) while this one looks the words
    # up and runs the whole clip's word pass; then they align the chunks (each from the model's
    # initial state, here or there: the same result).
    helpers = sphinx_pool.helper_count() if duration >= 2 * CHUNK_S and available() else 0
    subset = _dictionary_subset(text) if helpers else None
    pool = sphinx_pool.Pool(decoder_settings(subset), helpers) if helpers else None
    try:
        words = lookup(text)
        with _LOCK:
            aligned = _align(words, to_pcm16(x), duration, pool, meanwhile)
    finally:
        if pool is not None:
            pool.close()
        if subset is not None:
            os.unlink(subset)
    if meanwhile is not None and pool is None:
        meanwhile(False)
    return aligned


def _dictionary_subset(words: list[str]) -> str:
    """A temporary pronunciation dictionary holding ``words``' entries (alternates included)."""
    wanted = set(words)
    with open(os.path.join(model_dir(), "cmudict-en-us.dict"), encoding="utf-8") as fh:
        lines = [line for line in fh if line.split(" ", 1)[0].split("(", 1)[0] in wanted]
    fd, path = tempfile.mkstemp(suffix=".dict", prefix="talkface-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(lines)
    return path


def _align(words: list[str], pcm: np.ndarray, duration: float, pool, meanwhile) -> Alignment:
    bpf = int(SAMPLE_RATE * FRAME_S)
    dec = _decoder("words")
    dec.set_align_text(" ".join(words))
    _decode(pcm.tobytes())
    if dec.hyp() is None:
        raise _mismatch("the words cannot be fitted to the speech at all (a text for other audio, "
                        "or speech buried in noise)")
    n_frames = dec.n_frames()
    chunks = _chunks([(s.word, s.start_frame, s.end_frame) for s in dec.seg()], n_frames)

    def chunk_pcm(c0: int, c1: int) -> bytes:
        return pcm[c0 * bpf:c1 * bpf].tobytes()

    batch = pool.submit([({"kind": "align", "words": cw}, functools.partial(chunk_pcm, c0, c1))
                         for c0, c1, cw in chunks if cw]) if pool is not None else None
    try:
        if batch is not None and meanwhile is not None:
            meanwhile(True)
        answers = iter(batch.results()) if batch is not None else None
        out_words: list[Word] = []
        phones: list[tuple[str, float, float]] = []
        chunk_scores: list[tuple[float, float, float]] = []
        total_gap, total_frames, worst = 0.0, 0, float("nan")
        pending = [(c0, c1, cw, answers is not None and bool(cw)) for c0, c1, cw in chunks]
        while pending:
            c0, c1, cwords, from_helper = pending.pop(0)
            t0 = c0 * FRAME_S
            if not cwords:
                phones.append((SILENCE, t0, c1 * FRAME_S))
                continue
            cpcm = chunk_pcm(c0, c1)
            answer = next(answers) if from_helper else sphinx_pool.NOT_RUN
            if answer is sphinx_pool.NOT_RUN:           # no helper ran it: here
                answer = sphinx_helper.align_chunk(_decoders(), cwords, cpcm)
            if answer is None:
                # PocketSphinx's state alignment sometimes dies mid-chunk on real speech; cut the
                # chunk at every silence and queue the pieces (a piece that still fails is refused).
                pieces = _split_at_silences(dec, cwords, cpcm, c0, c1)
                if len(pieces) > 1:
                    pending[:0] = [(a, b, w, False) for a, b, w in pieces]
                    continue
                timed = _phone_words_pass(dec, cwords, cpcm)
                if timed is None:
                    raise _mismatch(f"the phones cannot be fitted to the speech near {t0:.1f} s")
                for w, ws, we in timed[0]:
                    out_words.append(Word(w, t0 + ws * FRAME_S, t0 + we * FRAME_S))
                phones += [(ph, t0 + ps * FRAME_S, t0 + pe * FRAME_S) for ph, ps, pe in timed[1]]
                chunk_scores.append((t0, c1 * FRAME_S, float("nan")))    # timed, not scored
                continue
            n = answer["n_frames"]                      # 0: timed by the phone pass, not scored
            d = np.zeros(n)                             # per-frame gap to the best senone
            for name, w_start, w_dur, w_phones in answer["words"]:
                if not _is_filler(name):
                    out_words.append(Word(_word(name), t0 + w_start * FRAME_S, t0 + (w_start + w_dur) * FRAME_S))
                for p_name, p_start, p_dur in w_phones:
                    ph = SILENCE if p_name in ("SIL", "+SIL+") else re.sub(r"\d", "", p_name)
                    phones.append((ph, t0 + p_start * FRAME_S, t0 + (p_start + p_dur) * FRAME_S))
            for st_start, st_dur, st_score in answer["states"]:
                if st_dur > 0:
                    d[st_start:st_start + st_dur] -= st_score / st_dur
            chunk_scores.append((t0, c1 * FRAME_S, float(d.mean()) if n else float("nan")))
            total_gap += float(d.sum())
            total_frames += n
            if n >= LOCAL_WINDOW_FRAMES:
                m = np.convolve(d, np.ones(LOCAL_WINDOW_FRAMES) / LOCAL_WINDOW_FRAMES, mode="valid")
                i = int(np.argmax(m))
                worst = float(m[i]) if np.isnan(worst) else max(worst, float(m[i]))
                if m[i] > MAX_LOCAL_GAP:
                    w0, w1 = t0 + i * FRAME_S, t0 + (i + LOCAL_WINDOW_FRAMES) * FRAME_S
                    said = [w.text for w in out_words if w.end > w0 and w.start < w1]
                    raise _mismatch(f"the speech between {w0:.1f} s and {w1:.1f} s does not sound like "
                                    f"'{' '.join(said)}' (gap {m[i]:.0f} per frame over {LOCAL_WINDOW_FRAMES * FRAME_S:.0f} s,"
                                    f" at most {MAX_LOCAL_GAP:.0f} is accepted)")
    except BaseException:
        if batch is not None:
            batch.cancel()
        raise
    score = total_gap / max(total_frames, 1)
    if score > MAX_GAP:
        raise _mismatch(f"the speech does not sound like the words given (gap {score:.0f} per frame, "
                        f"at most {MAX_GAP:.0f} is accepted)")
    return Alignment(out_words, _cover(phones, duration), float(score), chunk_scores, duration, worst)


def _cover(phones: list[tuple[str, float, float]], duration: float) -> list[tuple[str, float, float]]:
    """Make the phones contiguous from 0 to ``duration`` (gaps and the tail become/extend silence)."""
    out: list[tuple[str, float, float]] = []
    t = 0.0
    for name, s, e in phones:
        if s > t + 1e-6:
            out.append((SILENCE, t, s))
        s = max(s, t)
        e = min(max(e, s), duration)
        if e > s:
            out.append((name, s, e))
            t = e
    if t < duration - 1e-6:
        if out and out[-1][0] == SILENCE:
            out[-1] = (SILENCE, out[-1][1], duration)
        else:
            out.append((SILENCE, t, duration))
    merged: list[tuple[str, float, float]] = []
    for p in out:                              # adjacent silences become one
        if merged and p[0] == SILENCE and merged[-1][0] == SILENCE:
            merged[-1] = (SILENCE, merged[-1][1], p[2])
        else:
            merged.append(p)
    return merged
