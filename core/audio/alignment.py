"""Forced alignment of a user's transcript to real speech (PocketSphinx, English only).

``align(audio, transcript)`` returns when each word and each ARPAbet phone is spoken. It uses the
CMU PocketSphinx US-English acoustic model and the CMU pronouncing dictionary shipped in the
``pocketsphinx`` wheel, so it needs no download; pocketsphinx is imported lazily, inside the
functions, so the add-on loads without it.

How it works
------------
1. The transcript is normalised (case, curly quotes, punctuation, hyphens; numbers written in
   digits as they are said, ``core.audio.spoken_numbers``) and every word is looked up in the
   dictionary. Words that are not in it raise ``InputError`` naming them: there is no
   letter-to-sound fallback (PocketSphinx has none built in, and a guessed pronunciation would
   only hide a typo). Text that is mostly non-ASCII
   letters, or mostly unknown words, is refused as not English.
2. A word-level alignment of the whole clip finds the silences; the clip is cut in the middle of
   silences into chunks of at least ``CHUNK_S`` seconds, and each chunk is aligned again at the
   phone level (PocketSphinx's state alignment fails on some long clips; short chunks do not).
3. Mismatch check. A forced alignment always finds *some* path when it does not fail outright,
   so its acoustic fit is measured with the same acoustic model scored directly
   (``core.audio.senones.phone_logliks``: each of its phones' best context-independent state on
   every 10 ms frame, the clip's own cepstral mean). The per-frame "gap" is how far the aligned
   phone (silence: the best of the model's silence and noise units) scores below the frame's
   best phone, in nats; ``Alignment.score`` is its mean over the clip. A voice far from the
   model's speakers (a made-up synthetic voice, a strong accent) fits every phone badly, the
   right text's too, so the check reads the gap against the phone loop's own best path over the
   same scores (``core.audio.phone_loop``: phones only, no text): the per-frame "excess" is the
   text's gap less the loop's (``Alignment.excess``, its mean). The transcript is refused when the
   word pass fails outright (the usual case for a wholly wrong text), when the mean excess exceeds
   ``MAX_EXCESS``, when the excess averaged over any 2 s window exceeds ``MAX_LOCAL_EXCESS``, or
   when the text calls silence where the loop hears speech for much of it (``MAX_UNSAID_SHARE``,
   ``MIN_UNSAID_S``: half a line, a short text for a long take; ``unsaid_speech_rule_2026_12_08``).
   Chosen on ``bench/alignment.py`` at seed 99 (right and wrong texts on espeak-ng stock and +f3,
   six espeak-ng training-side accents with made-up voices, flite awb/rms, piper joe, the bundled
   sample and the real two_cities, clean and degraded) and judged on another draw of lines
   (weights/provenance.json, ``relative_mismatch_rule_2026_12_06c``). Until then the limits were
   on the gap itself (3.0 mean, 4.0 over 2 s): on espeak-ng's held-out made-up voices and Scottish
   accent they refused a third of the right texts.
   The phone posteriors the animator reads come from the same scores, so with
   ``listening.align_and_listen`` the check costs nothing extra. Short partial mismatches (a
   replaced phrase in a 3 s line) and single wrong words are NOT caught by it. A refusal ends with what
   a recogniser trained on real speech heard where the caller asks (``align``'s ``heard_instead``;
   the add-on asks Whisper where it is installed: ``core.audio.recognition.heard_instead``), so a
   text given for another take's audio shows as such, and a right text on a voice the aligner
   cannot fit (Whisper hears exactly its words) is told apart from a wrong one. Where the caller
   gives a ``second_hearing`` (the add-on: Whisper, ``core.audio.recognition.second_hearing``), it
   hears the audio while the aligner works, and a text the check accepts is refused where that
   recogniser, sure of a stretch's words, heard other sounds there than the text's
   (``recognition.objection``: a replaced phrase, half a line, another line's text in a natural
   voice; rule ``whisper_objects_rule_2026_12_07b``).
4. A *trusted* text (``align(..., trusted=True)``: the panel's *Trust Text*, ``--trust-transcript``)
   is one the user vouches for: a right text on a voice far from the model's speakers (a stylised
   or synthetic voice) is refused by the check above or finds no path under PocketSphinx's beams
   (espeak-ng's made-up voices en+Annie and gbcwmd+travis: half their right texts). Every word pass
   of a trusted text is tried again with every path kept (``sphinx_helper.WIDE_BEAMS``) when it
   finds none, and the check is measured but refuses nothing: ``Alignment.check`` says what it
   would have refused. At ``bench/alignment.py --sentences 12 --seed 11`` every right text the
   default refuses (37 of 268) aligns when trusted, and 197 of the 208 /p b m/ their engines timed
   get an aligned /P B M/ within 30 ms (en+Annie 73 of 74, gbcwmd+travis 98 of 102). A pass runs
   unpruned over at most ``TRUSTED_WIDE_S`` of audio: its cost grows with the square of the length.
   A longer recording whose whole-clip pass finds no path is cut into pieces of at most that
   length where the words a recogniser hears pin the text (``align``'s ``anchors``; the add-on
   asks Whisper: ``core.audio.recognition.heard_stretches``; ``anchor_pieces``), each aligned on its
   own; without them, or where they pin the text too seldom, it is refused (split it into lines).
   An espeak-ng en+Annie monologue of 25 lines (155 s): 161 of its 163 /p b m/ within 30 ms of
   espeak-ng's; the same in gbcwmd+travis (159 s), which Whisper mishears, is refused.
5. PocketSphinx's phone pass needs ``bestpath=False`` (its own tests say so); if it still fails
   on a chunk, the chunk is cut at every silence, and a piece that still fails is timed by a word
   pass over one-phone pseudo-words.

Limits: at most ``MAX_DURATION_S`` (10 minutes) of audio per call (longer input raises
``InputError``: split it); the audio is resampled to 16 kHz if needed.
"""

from __future__ import annotations

import bisect
import functools
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from ..errors import InputError, stop_if
from . import phone_loop, senones, sphinx_helper, sphinx_pool, spoken_numbers
from .loading import Audio, from_array, resample
from .phones import available, model_dir, to_pcm16  # noqa: F401  (available: re-exported)

SAMPLE_RATE = 16000
FRAME_S = 0.01                 # PocketSphinx frames are 10 ms
MAX_DURATION_S = 600.0         # 10 minutes per call
CHUNK_S = 10.0                 # phone-level alignment works on chunks cut in silences after this
MIN_CUT_SIL_FRAMES = 12        # a silence must be at least 0.12 s to cut there
#: The mismatch check's limits, on the per-frame "excess": how much further below the frame's best
#: phone the text's aligned phone scores than the phone loop's own best path's phone does (nats).
#: Measured against the loop's path, a voice that every phone fits badly (a made-up synthetic
#: voice, a strong accent) is not taken for a wrong text. Chosen on bench/alignment.py's lines
#: (seed 99) with its espeak-ng training-side voices (weights/provenance.json,
#: ``relative_mismatch_rule_2026_12_06c``).
MAX_EXCESS = 2.6               # mean over the clip
MAX_LOCAL_EXCESS = 3.4         # the same averaged over any LOCAL_WINDOW_FRAMES (a wrong sentence)
LOCAL_WINDOW_FRAMES = 200      # 2 s
#: A text that leaves part of what is said out (half a line, a short text for a long take) is aligned
#: with the rest called silence, and the model's silence and noise units fit speech well enough to pass
#: the excess limits. It is refused when the phone loop's best path hears a phone on frames the text
#: calls silence for at least this share of the frames the loop hears speech on ...
MAX_UNSAID_SHARE = 0.3
#: ... and for at least this long (a one-word prompt's breath or release is not a missing word).
#: Chosen on bench/alignment.py's seed 99 and the dev recordings (weights/provenance.json,
#: ``unsaid_speech_rule_2026_12_08``): right texts leave at most 0.06 (synthetic) and 0.39 (a real
#: one-word prompt, 0.34 s) of the loop's speech unsaid; a minute of real speech 0.02-0.04.
MIN_UNSAID_S = 0.5
#: A trusted text's word pass that finds no path is tried unpruned over at most this much audio (the
#: whole clip, or one chunk: a chunk with no pause to cut at can be long): the unpruned search grows
#: with the square of the length (44 s: 1.7 s and 100 MB more; 133 s: 11 s and 900 MB more, two cores).
TRUSTED_WIDE_S = 60.0
#: Even a trusted text needs speech to time: it is refused when the phone loop hears a phone (not
#: silence) under less than this share of the frames its words are aligned to. Unpruned, any text fits
#: silence or noise; there the share is 0.0-0.014 (``bench/silence.py``'s silence, hiss, room tone, loud
#: pink noise, mains hum, taps and clicks; white noise, a tone), on right texts 0.78-1.0 in clean speech
#: and down to 0.19 in the bench's loudest degradations (flite and piper lines of ``bench/alignment.py
#: --seed 11`` the default refuses; 0.5 at first refused five of them). ``/tmp`` scripts, 2026-12-07.
MIN_TRUSTED_SPEECH = 0.1
#: a trusted text too long to search whole is cut only between runs of this many of its words that a
#: recogniser heard in the same order (``anchor_pieces``)
ANCHOR_RUN = 3
#: ... and only where at most this many heard words either side of the cut are not so pinned
ANCHOR_GAP = 4
SILENCE = "SIL"
CMU_DICTIONARY = "cmudict-en-us.dict"   # the wheel's whole pronouncing dictionary (its model folder)


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
    aligned phone and the best-scoring phone of the model, in nats (0 = every frame on its best
    phone; larger = worse); ``chunk_scores`` the same per aligned chunk as (start_s, end_s, gap);
    ``excess`` the mean of that gap less the phone loop's best path's (refused above MAX_EXCESS)
    and ``worst_window`` its worst 2 s (refused above MAX_LOCAL_EXCESS). ``trusted``: the text was
    aligned as one the user vouches for (see the module's step 4), and ``check`` is the check's
    refusal it was spared ('' when it passed); ``pieces`` > 1: a trusted text too long to search
    whole, aligned in that many pieces cut where a recogniser's words pin it (``anchor_pieces``)."""

    words: list[Word]
    phones: list[tuple[str, float, float]]
    score: float
    chunk_scores: list[tuple[float, float, float]] = field(default_factory=list)
    duration: float = 0.0
    worst_window: float = float("nan")     # the excess's worst LOCAL_WINDOW_FRAMES mean (clips that long)
    excess: float = float("nan")           # mean per-frame gap less the phone loop's best path's
    trusted: bool = False                  # the user vouched for the text: the check refused nothing
    check: str = ""                        # (trusted) what the check would have refused it for; '' it passed
    pieces: int = 1                        # (trusted) aligned in this many pieces cut where heard words pin it


@dataclass(frozen=True)
class Heard:
    """What the phone loop heard of a clip, for the mismatch check: its ``senones.phone_logliks``
    and the phones of its best path ((ARPAbet, start_s, end_s), silence as ``SIL``)."""

    logliks: np.ndarray
    phones: list


# ---------------------------------------------------------------------------------------------
# text normalisation

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'",
                         "\u2013": " ", "\u2014": " ", "-": " ", "/": " "})


def _strip_accents(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def normalise(transcript: str, skip_unread: bool = False) -> list[str]:
    """Transcript -> lower-case dictionary words, numbers in digits as they are said
    (``core.audio.spoken_numbers``: "$5" five dollars, "5:30" five thirty, "1999" nineteen ninety-nine).
    Raises InputError for empty or non-English text, and for a token with digits that is not such a
    number ("5pm", "MP3"), unless ``skip_unread``: then that token is left out (a recogniser's
    text, ``recognition.aligned_words``)."""
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
        tok = re.sub(r"^[^a-z0-9$£€]+|[^a-z0-9%]+$", "", tok)   # edge punctuation, quotes (not "$5", "50%")
        if any(c.isdigit() for c in tok):
            spoken = spoken_numbers.said(tok)
            if spoken is None and not skip_unread:
                raise InputError(f"Please write '{tok}' in words in the transcript.")
            words += spoken or []
            continue
        for part in re.split(r"[^a-z']+", tok):                # inner punctuation splits words
            part = part.strip("'")
            if part:
                words.append(part)
    if not words:
        raise InputError("The transcript has no words: type the words that are spoken in the audio.")
    return words


# ---------------------------------------------------------------------------------------------
# dictionary and decoders (built per call, with a dictionary of the transcript's words only: the
# whole CMU dictionary takes longer to read into a decoder than a chunk takes to align)

def decoder_settings(dictionary: str | None = None) -> dict:
    """The 'words' decoder's settings (JSON-able: helper processes build the same): it runs the
    word and state passes. ``dictionary``: a pronunciation dictionary in place of the whole CMU one."""
    m = model_dir()
    return {"words": dict(hmm=m + "/en-us", samprate=SAMPLE_RATE, loglevel="FATAL",
                          dict=dictionary or f"{m}/{CMU_DICTIONARY}", bestpath=False)}


def headword(line: str) -> str:
    """A pronunciation dictionary line's word: "word(2) W ER D" -> "word"."""
    return line.split(" ", 1)[0].split("(", 1)[0]


def dictionary_lines(words=None) -> list[str]:
    """The CMU dictionary's lines for ``words`` (alternate pronunciations included, in the file's
    order); words it lacks have none. None: every line."""
    wanted = None if words is None else set(words)
    with open(os.path.join(model_dir(), CMU_DICTIONARY), encoding="utf-8") as fh:
        return [line for line in fh if wanted is None or headword(line) in wanted]


def dictionary_entries(words: list[str]) -> list[str]:
    """``dictionary_lines`` for a transcript's ``words``. Raises InputError naming the words it lacks,
    or saying the text is not English when most are missing."""
    wanted = set(words)
    lines = dictionary_lines(wanted)
    missing = sorted(wanted - {headword(line) for line in lines})
    if not missing:
        return lines
    n_missing = sum(w in missing for w in words)
    if len(words) >= 2 and n_missing >= 0.4 * len(words) and n_missing >= 2:
        raise InputError("Most of the transcript's words are not English words: the aligner knows English only.")
    shown = ", ".join(f"'{w}'" for w in missing[:10]) + (" ..." if len(missing) > 10 else "")
    raise InputError(f"The pronunciation dictionary does not know {shown}: spell "
                     f"{'it' if len(missing) == 1 else 'them'} as they sound, in common English words.")


def _dictionary_file(lines: list[str]) -> str:
    """A temporary pronunciation dictionary of ``lines``."""
    fd, path = tempfile.mkstemp(suffix=".dict", prefix="talkface-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(lines)
    return path


# ---------------------------------------------------------------------------------------------
# alignment


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


def _phone_words_pass(decoders: sphinx_helper.Decoders, words: list[str], pcm: bytes, wide: bool = False):
    """Fallback for a piece whose state alignment fails: align a string of one-phone pseudo-words
    with the (robust) word pass, which times every phone directly. Returns (words, phones) in
    frames, or None when even that fails."""
    dec = decoders("words")
    prons = [dec.lookup_word(w).split() for w in words]
    for ph in {p for pr in prons for p in pr}:
        if dec.lookup_word("ph_" + ph.lower()) is None:
            dec.add_word("ph_" + ph.lower(), ph, True)
    if sphinx_helper.word_pass(decoders, " ".join("ph_" + p.lower() for pr in prons for p in pr), pcm, wide) is None:
        return None
    segs = [(s.word[3:].upper(), s.start_frame, s.end_frame + 1) for s in dec.seg() if s.word.startswith("ph_")]
    if len(segs) != sum(len(pr) for pr in prons):
        return None
    out_words, i = [], 0
    for w, pr in zip(words, prons):
        out_words.append((w, segs[i][1], segs[i + len(pr) - 1][2]))
        i += len(pr)
    return out_words, segs


def _split_at_silences(decoders: sphinx_helper.Decoders, words: list[str], pcm: bytes,
                       c0: int, c1: int, wide: bool = False) -> list[tuple[int, int, list[str]]]:
    """After a failed phone pass, cut [c0, c1) in the middle of every silence that the chunk's
    word pass finds (re-run so its segmentation is at hand)."""
    dec = sphinx_helper.word_pass(decoders, " ".join(words), pcm, wide)
    segs = [(s.word, s.start_frame, s.end_frame) for s in dec.seg()] if dec is not None else []
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


class TextMismatch(InputError):
    """A transcript that does not fit the audio (``align``'s refusal after the passes or the check)."""


#: The end of a mismatch refusal (not for a trusted text): where a right text is refused, the voice
#: is what the aligner cannot fit, and the user can say so.
TRUST_ADVICE = ("If the text is right (a stylised or synthetic voice, a strong accent), Trust Text "
                "(headless: --trust-transcript) times the lips by it anyway.")


def _mismatch(detail: str, kind: type[TextMismatch] = TextMismatch) -> TextMismatch:
    return kind(f"The transcript does not match the audio: {detail}.")


class Unsaid(TextMismatch):
    """A text that leaves too much of the speech heard without words (``MAX_UNSAID_SHARE``)."""


class Objected(TextMismatch):
    """A text the acoustic check accepted, refused by ``align``'s ``second_hearing``."""


class _Unpinned(TextMismatch):
    """``_Unsearched``, and a recogniser's words (``anchors``) pinned the text too seldom to cut it:
    the refusal says so, and what the recogniser heard is not asked for again (``heard_instead``)."""


class _Unsearched(TextMismatch):
    """A trusted text's whole-clip word pass found no path and the clip is too long to search
    unpruned (over ``TRUSTED_WIDE_S``): ``_aligned`` cuts it where a recogniser's words anchor the
    text (``anchor_pieces``), or refuses with this message."""


def align(audio: Audio, transcript: str, meanwhile: Callable[[bool], Heard | None] | None = None,
          cancelled: Callable[[], bool] | None = None,
          heard_instead: Callable[[np.ndarray, list[str], Callable[[], bool] | None], str | None] | None = None,
          trusted: bool = False,
          anchors: Callable[[np.ndarray, Callable[[], bool] | None], list | None] | None = None,
          second_hearing: Callable[[np.ndarray, Callable[[], bool] | None], object | None] | None = None
          ) -> Alignment:
    """Align ``transcript`` (English) to ``audio``; see the module docstring. Raises InputError for
    empty, non-English or unknown-word transcripts, audio over 10 minutes, and transcripts that
    do not match the audio. ``meanwhile(helped)`` runs once, while helper processes align the
    chunks (``helped`` True), or after the alignment without them (False); it may return what the
    phone loop heard of the audio (16 kHz): its ``senones.phone_logliks`` and the phones of its best
    path (``Heard``), which the mismatch check then uses instead of hearing the audio again.
    ``cancelled()``, asked between chunks (and while the helpers work), stops it
    (InterruptedError); the first pass over the whole clip runs to its end.
    ``heard_instead(samples, words, cancelled)``, asked only when the text is refused as not matching
    (16 kHz samples, the text's normalised words): a sentence saying what a recogniser heard, which
    the refusal ends with (``core.audio.recognition.heard_instead``: Whisper's words), or None.
    ``trusted``: the user vouches for the text (module docstring, step 4): a word pass that finds no
    path under the beams is tried again unpruned, and the mismatch check refuses nothing
    (``Alignment.check``). ``anchors(samples, cancelled)``, asked only for a trusted text over
    ``TRUSTED_WIDE_S`` whose whole-clip pass finds no path: what a recogniser heard, as
    [(start_s, end_s, words)] for consecutive stretches cut in pauses
    (``core.audio.recognition.heard_stretches``: Whisper's chunks), or None; the clip is then
    aligned in pieces of at most ``TRUSTED_WIDE_S`` cut where the heard words pin the text
    (``anchor_pieces``). ``second_hearing(samples, cancelled)``, asked for a text not trusted before
    the aligner starts: a recogniser starting to hear the audio beside it
    (``core.audio.recognition.second_hearing``: Whisper), or None; its ``objection(words)`` to the
    accepted text's aligned words refuses the text too (module docstring, step 3), and a refusal
    ends with its ``instead(words)`` rather than asking ``heard_instead``."""
    x = np.asarray(audio.samples, dtype=np.float32)
    if audio.sample_rate != SAMPLE_RATE:
        x = resample(x, audio.sample_rate, SAMPLE_RATE)
    hearings = []

    def valid() -> None:            # the text is one to align: the second hearing starts beside the aligner
        if second_hearing is not None and not trusted:
            hearings.append(second_hearing(x, cancelled))

    try:
        result = _aligned(x, transcript, meanwhile, cancelled, trusted, anchors, valid)
        second = hearings[0] if hearings else None
        objected = second.objection(result.words) if second is not None else None
    except TextMismatch as refused:
        second, said = hearings[0] if hearings else None, None
        if not isinstance(refused, _Unpinned):
            if second is not None:
                said = second.instead(normalise(transcript))
            elif heard_instead is not None:
                said = heard_instead(x, normalise(transcript), cancelled)
        advice = "" if trusted else f" {TRUST_ADVICE}"
        if said is None and not advice:
            raise
        kind = Unsaid if isinstance(refused, Unsaid) else TextMismatch
        raise kind(" ".join(filter(None, (str(refused), said))) + advice) from refused
    finally:
        for second in hearings:
            if second is not None:
                second.__exit__()
    if objected:
        raise Objected(f"{_mismatch(objected)} {TRUST_ADVICE}")
    return result


def _aligned(x: np.ndarray, transcript: str, meanwhile, cancelled, trusted: bool = False, anchors=None,
             valid: Callable[[], None] | None = None) -> Alignment:
    """``align`` on 16 kHz samples ``x``; ``valid()`` runs once the text and the audio's length are
    found fit to align (before the word passes)."""
    duration = len(x) / SAMPLE_RATE
    if duration > MAX_DURATION_S:
        raise InputError(f"The audio is {duration / 60:.1f} minutes long: transcript alignment takes at most "
                         f"{MAX_DURATION_S / 60:.0f} minutes at a time, so split it.")
    text = normalise(transcript)
    entries = dictionary_entries(text)
    if valid is not None:
        valid()
    dictionary = _dictionary_file(entries)
    # Helper processes build their decoders while this one runs the whole clip's word pass; then
    # they align the chunks (each from the model's initial state, here or there: the same
    # result) while this one runs ``meanwhile`` and scores the audio for the mismatch check.
    helpers = sphinx_pool.helper_count() if duration >= 2 * CHUNK_S and available() else 0
    scored: list[Heard | None] = []

    def own_scores() -> Heard:
        found = phone_loop.hear(from_array(x, SAMPLE_RATE))
        return Heard(found.logliks, phone_loop.as_timed(found.phones))

    def during(helped: bool) -> None:
        scored.append(meanwhile(helped) if meanwhile is not None else own_scores())

    pool, pieces = None, None
    try:
        settings = decoder_settings(dictionary)
        pool = sphinx_pool.Pool(settings, helpers) if helpers else None
        decoders, pcm = sphinx_helper.Decoders(settings), to_pcm16(x)
        beside = during if pool is not None else None        # run while the helpers align
        try:
            words, phones, chunks = _align(decoders, text, pcm, pool, beside, cancelled, trusted)
        except _Unsearched:
            heard = anchors(x, cancelled) if anchors is not None else None
            if heard is None:
                raise
            pieces = anchor_pieces(text, heard, duration, TRUSTED_WIDE_S, sentence_starts(transcript, text))
            if pieces is None:
                raise _Unpinned(_mismatch(
                    f"the words cannot be fitted to the speech at all, and what Whisper heard pins the text to "
                    f"the audio too seldom to cut it into pieces of at most {TRUSTED_WIDE_S:.0f} s, each searched "
                    f"without pruning: split the recording into lines that long")) from None
            words, phones, chunks = _align_pieces(decoders, pieces, pcm, pool, beside, cancelled)
    finally:
        if pool is not None:
            pool.close()
        os.unlink(dictionary)
    if pool is None:
        during(False)
    heard = scored[0] if scored[0] is not None else own_scores()
    result = _checked(words, _cover(phones, duration), chunks, heard, duration, trusted)
    return replace(result, pieces=len(pieces)) if pieces else result


def _align(decoders: sphinx_helper.Decoders, words: list[str], pcm: np.ndarray, pool, during, cancelled=None,
           wide: bool = False):
    """(words, phones, chunks (start_s, end_s)) of the transcript's ``words`` in ``pcm`` (16-bit).
    ``wide`` (a trusted text): every word pass that finds no path is tried again unpruned, over at
    most ``TRUSTED_WIDE_S`` of audio (the whole clip, or a chunk)."""
    bpf = int(SAMPLE_RATE * FRAME_S)

    def unpruned(seconds: float) -> bool:    # a trusted text's pass over this much audio may run unpruned
        return wide and seconds <= TRUSTED_WIDE_S

    seconds = len(pcm) / SAMPLE_RATE
    dec = sphinx_helper.word_pass(decoders, " ".join(words), pcm.tobytes(), unpruned(seconds))
    if dec is None and wide and not unpruned(seconds):
        raise _Unsearched(_mismatch(f"the words cannot be fitted to the speech at all, and a trusted text is "
                                    f"searched without pruning only in recordings of up to {TRUSTED_WIDE_S:.0f} "
                                    f"s: split the recording into lines that long"))
    if dec is None:
        raise _mismatch("the words cannot be fitted to the speech at all (a text for other audio, "
                        "or speech buried in noise)" if not wide else
                        "the words cannot be fitted to the speech even with every path searched (a text for "
                        "other audio, or speech buried in noise)")
    n_frames = dec.n_frames()
    chunks = _chunks([(s.word, s.start_frame, s.end_frame) for s in dec.seg()], n_frames)

    def chunk_pcm(c0: int, c1: int) -> bytes:
        return pcm[c0 * bpf:c1 * bpf].tobytes()

    # a chunk with no pause to cut at can be long: it runs unpruned under the same bound
    jobs = [({"kind": "align", "words": cw, "wide": unpruned((c1 - c0) * FRAME_S)},
             functools.partial(chunk_pcm, c0, c1)) for c0, c1, cw in chunks if cw]
    batch = pool.submit(jobs) if pool is not None else None
    try:
        if batch is not None and during is not None:
            during(True)
        answers = iter(batch.results(cancelled)) if batch is not None else None
        out_words: list[Word] = []
        phones: list[tuple[str, float, float]] = []
        spans: list[tuple[float, float]] = []
        pending = [(c0, c1, cw, answers is not None and bool(cw)) for c0, c1, cw in chunks]
        while pending:
            stop_if(cancelled, "alignment")
            c0, c1, cwords, from_helper = pending.pop(0)
            t0 = c0 * FRAME_S
            if not cwords:
                phones.append((SILENCE, t0, c1 * FRAME_S))
                continue
            cpcm, chunk_wide = chunk_pcm(c0, c1), unpruned((c1 - c0) * FRAME_S)
            answer = next(answers) if from_helper else sphinx_pool.NOT_RUN
            if answer is sphinx_pool.NOT_RUN:           # no helper ran it: here
                answer = sphinx_helper.align_chunk(decoders, cwords, cpcm, chunk_wide)
            spans.append((t0, c1 * FRAME_S))
            if answer is None:
                # PocketSphinx's state alignment sometimes dies mid-chunk on real speech; cut the
                # chunk at every silence and queue the pieces (a piece that still fails is refused).
                pieces = _split_at_silences(decoders, cwords, cpcm, c0, c1, chunk_wide)
                if len(pieces) > 1:
                    spans.pop()
                    pending[:0] = [(a, b, w, False) for a, b, w in pieces]
                    continue
                timed = _phone_words_pass(decoders, cwords, cpcm, chunk_wide)
                if timed is None:
                    raise _mismatch(f"the phones cannot be fitted to the speech near {t0:.1f} s")
                for w, ws, we in timed[0]:
                    out_words.append(Word(w, t0 + ws * FRAME_S, t0 + we * FRAME_S))
                phones += [(ph, t0 + ps * FRAME_S, t0 + pe * FRAME_S) for ph, ps, pe in timed[1]]
                continue
            timed_words, timed_phones = timed_answer(answer["words"], t0)
            out_words += timed_words
            phones += timed_phones
    except BaseException:
        if batch is not None:
            batch.cancel()
        raise
    return out_words, phones, spans


def anchor_pieces(words: list[str], heard: list[tuple[float, float, list[str]]], duration: float,
                  limit: float, sentence_starts: frozenset = frozenset()
                  ) -> list[tuple[float, float, list[str]]] | None:
    """A long text cut to go with the audio in pieces of at most ``limit`` seconds:
    [(start_s, end_s, the piece's words)], consecutive from 0 to ``duration``, or None where that
    cannot be done. ``heard``: what a recogniser heard in consecutive stretches cut in pauses,
    [(start_s, end_s, words)] (normalised as the text is). The text's words are lined up with the
    heard ones (longest common runs, ``difflib``; only runs of at least ``ANCHOR_RUN`` words
    count, so a common word matched by chance pins nothing). Where a stretch starts, the text may
    be cut between the last pinned word heard before it and the first pinned word heard in it,
    when both are at most ``ANCHOR_GAP`` heard words from the start (one pin alone misleads: Whisper
    leaves out stretches of speech it cannot make out): at the one sentence start between them
    (``sentence_starts``, indices of ``words``), else sharing the text's words between them as the
    heard words are shared. A word or two may so land in the wrong piece where the recogniser
    misheard the words next to a cut. From the start the farthest cut within ``limit`` is taken,
    and so on."""
    import difflib

    heard_words = [w for _, _, ws in heard for w in ws]
    matcher = difflib.SequenceMatcher(None, words, heard_words, autojunk=False)
    text_of = {block.b + k: block.a + k for block in matcher.get_matching_blocks()
               if block.size >= ANCHOR_RUN for k in range(block.size)}    # heard word -> the text's
    pinned = sorted(text_of)
    cuts = [(0.0, 0)]                                 # (time, text index) where a piece may start
    first = 0                                         # the stretch's first word in heard_words
    for k, (start, _, stretch) in enumerate(heard):
        at = bisect.bisect_left(pinned, first)
        if k and 0 < at < len(pinned):
            j1, j2 = pinned[at - 1], pinned[at]
            before, after = first - 1 - j1, j2 - first         # unpinned heard words either side
            i1, i2 = text_of[j1], text_of[j2]
            # both pins near the cut: a recogniser that left speech out (as Whisper does) cannot move it far
            if before <= ANCHOR_GAP and after <= ANCHOR_GAP and i2 - i1 - 1 <= 2 * ANCHOR_GAP:
                share = before / (before + after) if before + after else 0.5
                starts = [i for i in range(i1 + 1, i2 + 1) if i in sentence_starts]
                cut = starts[0] if len(starts) == 1 else i1 + 1 + round((i2 - i1 - 1) * share)
                if cut > cuts[-1][1]:
                    cuts.append((start, cut))
        first += len(stretch)
    pieces, at = [], 0
    while cuts[at][0] + limit < duration:
        reach = [k for k in range(at + 1, len(cuts)) if cuts[k][0] - cuts[at][0] <= limit]
        if not reach:
            return None
        nxt = reach[-1]
        pieces.append((cuts[at][0], cuts[nxt][0], words[cuts[at][1]:cuts[nxt][1]]))
        at = nxt
    pieces.append((cuts[at][0], duration, words[cuts[at][1]:]))
    return pieces


def sentence_starts(transcript: str, words: list[str]) -> frozenset:
    """Indices of ``words`` (``normalise(transcript)``) that begin a sentence of ``transcript``
    (after . ! ? or ;), or none where the sentences' words do not add up to ``words`` (a decimal point)."""
    starts, count = set(), 0
    for sentence in re.split(r"[.!?;]+", transcript):
        try:
            n = len(normalise(sentence))
        except InputError:
            n = 0
        if n:
            starts.add(count)
            count += n
    return frozenset(starts) if count == len(words) else frozenset()


def _align_pieces(decoders: sphinx_helper.Decoders, pieces, pcm: np.ndarray, pool, during, cancelled):
    """``_align``'s (words, phones, chunks) of a trusted text aligned piece by piece (``anchor_pieces``),
    each piece's passes searched unpruned where they find no path; ``during`` runs with the first."""
    out_words: list[Word] = []
    phones: list[tuple[str, float, float]] = []
    spans: list[tuple[float, float]] = []
    for t0, t1, piece in pieces:
        stop_if(cancelled, "alignment")
        a, b = int(round(t0 * SAMPLE_RATE)), int(round(t1 * SAMPLE_RATE))
        t0 = a / SAMPLE_RATE
        if not piece:
            phones.append((SILENCE, t0, b / SAMPLE_RATE))
            continue
        w, p, c = _align(decoders, piece, pcm[a:b], pool, during, cancelled, True)
        during = None
        out_words += [Word(x.text, x.start + t0, x.end + t0) for x in w]
        phones += [(ph, s + t0, e + t0) for ph, s, e in p]
        spans += [(s + t0, e + t0) for s, e in c]
    return out_words, phones, spans


def timed_answer(aligned: list, t0: float) -> tuple[list[Word], list[tuple[str, float, float]]]:
    """``sphinx_helper.align_chunk``'s ``words`` (in frames) for a chunk starting ``t0`` seconds in ->
    (the words, fillers left out; the phones without stress, silence as ``SIL``) in seconds."""
    words, phones = [], []
    for name, w_start, w_dur, w_phones in aligned:
        if not _is_filler(name):
            words.append(Word(_word(name), t0 + w_start * FRAME_S, t0 + (w_start + w_dur) * FRAME_S))
        for p_name, p_start, p_dur in w_phones:
            ph = SILENCE if p_name in ("SIL", "+SIL+") else re.sub(r"\d", "", p_name)
            phones.append((ph, t0 + p_start * FRAME_S, t0 + (p_start + p_dur) * FRAME_S))
    return words, phones


def frame_gaps(logliks: np.ndarray, phones: list[tuple[str, float, float]]) -> np.ndarray:
    """Per 10 ms frame of ``senones.phone_logliks``: how far the aligned phone scores below the
    frame's best phone (nats; silence takes the best of the model's silence and noise units);
    NaN where the audio was not scored."""
    model = senones.acoustic_model()
    column = {p: i for i, p in enumerate(model.phones)}
    silences = [column[p] for p in senones.SILENCES]
    scores = np.concatenate([logliks, logliks[:, silences].max(1, keepdims=True)], 1)
    aligned = np.full(len(scores), len(model.phones))           # the silence column unless a phone
    for ph, s, e in phones:
        if ph != SILENCE:
            aligned[int(round(s / FRAME_S)):int(round(e / FRAME_S))] = column[ph]
    return scores[:, :-1].max(1) - scores[np.arange(len(scores)), aligned]


def _checked(words: list[Word], phones: list[tuple[str, float, float]], spans: list[tuple[float, float]],
             heard: Heard, duration: float, trusted: bool = False) -> Alignment:
    """The Alignment, or InputError when its excess (``frame_gaps`` of the text's phones less that of
    the phone loop's own best path, ``heard.phones``) passes MAX_EXCESS over the clip or
    MAX_LOCAL_EXCESS over any 2 s; ``trusted``: never, the refusal kept as ``Alignment.check``."""
    gap = frame_gaps(heard.logliks, phones)
    excess = gap - frame_gaps(heard.logliks, heard.phones)
    scored = ~np.isnan(excess)
    score = float(np.nanmean(gap)) if scored.any() else float("nan")
    mean_excess = float(excess[scored].mean()) if scored.any() else float("nan")

    def mean_over(t0: float, t1: float) -> float:
        g = gap[int(round(t0 / FRAME_S)):int(round(t1 / FRAME_S))]
        return float(np.nanmean(g)) if (~np.isnan(g)).any() else float("nan")

    worst, refusal = float("nan"), None
    if len(excess) >= LOCAL_WINDOW_FRAMES:
        box = np.ones(LOCAL_WINDOW_FRAMES)
        m = (np.convolve(np.where(scored, excess, 0.0), box, mode="valid")
             / np.maximum(np.convolve(scored.astype(float), box, mode="valid"), 1.0))
        i = int(np.argmax(m))
        worst = float(m[i])
        if worst > MAX_LOCAL_EXCESS:
            w0, w1 = i * FRAME_S, (i + LOCAL_WINDOW_FRAMES) * FRAME_S
            said = [w.text for w in words if w.end > w0 and w.start < w1]
            what = f"does not sound like '{' '.join(said)}'" if said else "holds none of the text's words"
            refusal = _mismatch(f"the speech between {w0:.1f} s and {w1:.1f} s {what} (it fits {worst:.1f} per "
                                f"frame worse than the phones heard there over {LOCAL_WINDOW_FRAMES * FRAME_S:.0f} s, "
                                f"at most {MAX_LOCAL_EXCESS:.1f} is accepted)")
    if refusal is None and mean_excess > MAX_EXCESS:
        refusal = _mismatch(f"the speech does not sound like the words given (they fit {mean_excess:.1f} per frame "
                            f"worse than the phones heard, at most {MAX_EXCESS:.1f} is accepted)")
    if refusal is None:
        refusal = _unsaid(phones, heard.phones, len(gap))
    if refusal is not None and not trusted:
        raise refusal
    if trusted:
        spoken = _spoken_share(phones, heard.phones, len(gap))
        if spoken < MIN_TRUSTED_SPEECH:
            raise _mismatch(f"the phone recogniser hears speech under only {spoken:.0%} of the text's words (a trusted "
                            f"text needs at least {MIN_TRUSTED_SPEECH:.0%}): the recording holds almost no speech "
                            f"where they would be")
    return Alignment(words, phones, score, [(a, b, mean_over(a, b)) for a, b in spans], duration, worst, mean_excess,
                     trusted, str(refusal) if refusal is not None else "")


def _sounding(timed: list[tuple[str, float, float]], n: int) -> np.ndarray:
    """Which of ``n`` 10 ms frames the timed phones give a phone (not silence)."""
    mask = np.zeros(n, bool)
    for ph, s, e in timed:
        if ph != SILENCE:
            mask[int(round(s / FRAME_S)):int(round(e / FRAME_S))] = True
    return mask


def _spoken_share(phones: list[tuple[str, float, float]], heard: list[tuple[str, float, float]], n: int) -> float:
    """The share of the 10 ms frames ``phones`` gives a phone (not silence) on which ``heard`` (the
    phone loop's path) hears a phone too (1.0 when the text gives none)."""
    said = _sounding(phones, n)
    return float((said & _sounding(heard, n)).sum() / said.sum()) if said.any() else 1.0


def _unsaid(phones: list[tuple[str, float, float]], heard: list[tuple[str, float, float]], n: int) -> Unsaid | None:
    """The refusal of a text whose ``phones`` call silence where ``heard`` (the phone loop's path)
    hears speech for at least ``MAX_UNSAID_SHARE`` of its speech and ``MIN_UNSAID_S``, naming the
    longest such stretch; else None."""
    spoken = _sounding(heard, n)
    unsaid = spoken & ~_sounding(phones, n)
    seconds, share = unsaid.sum() * FRAME_S, unsaid.sum() / max(spoken.sum(), 1)
    if share < MAX_UNSAID_SHARE or seconds < MIN_UNSAID_S:
        return None
    edges = np.flatnonzero(np.diff(np.concatenate([[0], unsaid.astype(np.int8), [0]])))
    starts, ends = edges[::2], edges[1::2]
    k = int(np.argmax(ends - starts))
    return _mismatch(f"the phone recogniser hears {seconds:.1f} s of speech ({share:.0%} of what it hears) where the "
                     f"text has no words, most at {starts[k] * FRAME_S:.1f}-{ends[k] * FRAME_S:.1f} s: the text may "
                     f"leave part of what is said out", Unsaid)


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
