"""Word recognition without a transcript: the 'words' listening mode (English only), the default
since 2026-12-04.

The phone recogniser (``core.audio.phone_loop``; ``--listen phones``) hears /p b m/ from phones
alone, fast (100x real time and more) but without knowing which words are said: on real people it
finds about three in five of them.
Word recognition does what Rhubarb Lip Sync does: a recogniser hears each chunk's words, and the
recognised words are then aligned to the chunk exactly as a transcript's are (``core.audio.alignment``'s
passes), which times their phones. The lips seal on those /p b m/ as well as the phone loop's.

Who hears the words (``WORD_SOURCE``): since 2026-12-06 Whisper (``core.audio.whisper``) when its
packages are installed: on the dev recordings it closes 306 of 330 /p b m/ where PocketSphinx closes
291, most of the difference in simulated rooms, at about half PocketSphinx's speed
(weights/provenance.json, ``word_recognition.whisper_rule_2026_12_06``). Otherwise, and for a take
Whisper hears in another language, PocketSphinx's US-English language model and dictionary (shipped
in the ``pocketsphinx`` wheel), as described below.
A word the recogniser mishears still closes the lips where it has a /p b m/, so this mode trades
a few false closures for many more found; a chunk whose words cannot be aligned gives none. A
recogniser's words that find no path under PocketSphinx's beams are aligned again without pruning
(``sphinx_helper.WIDE_BEAMS``; since 2026-12-06: on voices far from the model a whole chunk's
/p b m/ were lost; weights/provenance.json, ``wide_word_pass_words_rule_2026_12_06b`` and
``word_recognition.unpruned_word_pass_rule_2026_12_06i``). Words that need more phones than the
chunk has frames (Whisper's words written twice over) still find no path, and give none.

The recogniser's model is first adapted to the take's voice (``core.audio.adaptation``: a mean
transform estimated from the phone loop's phones, which this mode computes anyway): on the dev
recordings it found 2 more /p b m/ in 100 on telephone speech and 1 in 100 on varied voices, end
to end (weights/provenance.json, ``word_recognition.adapted``).

It costs PocketSphinx's word search (22-25x real time on two cores, against the phone loop's
100-135x, on 2026-12-04's machine; a quarter to a fifth of the phone loop's speed on any machine, 8-9x on
a slower one; ``bench/lipsync.py --speed``): chunks run in helper processes (``core.audio.sphinx_pool``)
once this process has computed the features, the phone scores and the loop, and the take's
transform from them (``listening.recognise_and_listen``). The helper processes and this process's
decoders are kept for the next take (``sphinx_pool.RECOGNITION``): starting a helper costs about
as much as recognising a 3 s line; each take's decoders are built anew with its transform.

Decoder settings (``decoder_settings``): PocketSphinx's defaults with the second and third passes
off and at most 10000 HMMs a frame, chosen on Allison Smith's dev prompts only (weights/provenance.json,
``word_recognition``): the same /p b m/ found within 30 ms as the full defaults (0.722) at 0.7 of the
time; narrower beams lost a third of them. Since 2026-12-04 also at most 10 distinct words ending per
frame (``maxwpf``): on every dev prompt the recogniser runs 16 % faster and the words mode closes the
same /p b m/ on the dev sets, flite and piper (``word_recognition.maxwpf_rule_2026_12_04``). Since
the same day the recogniser's dictionary holds only the 10,000 words the language model finds
likeliest (``weights/recognition.dict``; the wheel's has 126,052, the language model 72,547): its
search tree shrinks and recognition runs about 1.7 times as fast, and the words mode closes the same
/p b m/ on the dev sets and flite, and one more on piper (``word_recognition.vocabulary_2026_12_04``).
A rarer word is heard as a likelier one that sounds like it. The alignment pass reads the same
dictionary (it aligns the words recognised, all in it).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import queue
import re
import threading
from typing import Callable

import numpy as np

from ..errors import InputError, stop_if
from ..weights import weights_path
from . import adaptation, alignment, phone_loop, phone_match, sphinx_helper, sphinx_pool, whisper
from .loading import Audio, from_array, resample
from .phones import FRAME_S, SEARCH_S, chunk_bounds, model_dir, quietest_cut, to_pcm16

SAMPLE_RATE = 16000
MAX_HMMS_PER_FRAME = 10000
MAX_WORDS_PER_FRAME = 10
#: How much the language model weighs against the acoustic scores in the word search (PocketSphinx's
#: ``lw``; its default, 6.5, for the first pass, the only one that runs here).
LANGUAGE_WEIGHT = 6.5
#: A line that fits one chunk but is at least this long (seconds) is recognised as two, one for each
#: of two helpers (``recognition_bounds``), cut in the quietest ``PAUSE_S`` near its middle.
SPLIT_LINE_S = 4.0
PAUSE_S = 0.2
#: The recogniser's dictionary (``weights/``): the wheel's cut to the 10,000 words its language model
#: finds likeliest (``python -m talkface.training.vocabulary``).
DICTIONARY = "recognition.dict"
LANGUAGE_MODEL = "en-us.lm.bin"    # the wheel's US-English language model (its model folder)
#: Who hears the words: "whisper" (``core.audio.whisper``, when its packages are installed; its words
#: aligned with the transcript aligner's passes and whole dictionary; since 2026-12-06) or
#: "pocketsphinx" (its word search with the language model above; without Whisper, and for a take
#: Whisper hears in another language). ``TALKFACE_WORD_SOURCE=pocketsphinx`` in the environment
#: chooses PocketSphinx with Whisper installed (about twice as fast: a farm's choice).
WORD_SOURCE = whisper.chosen_source()
#: Whisper's words are used unless it gives a take's first chunk less than this probability of being
#: English. A loose floor: its language guess is unsure on short and synthetic lines (it gives the
#: tests' 2 s espeak-ng line "Bob made a map of the moon" 67 % Thai, 17 % English, and writes it
#: right), and a take wrongly sent to PocketSphinx loses what Whisper heard.
ENGLISH_FLOOR = 0.1
#: A chunk is silent when Whisper gives it more than this probability of holding no speech (Whisper's
#: own no_speech_threshold) and the phone loop heard under MIN_SOUNDING_S of phones in it.
NO_SPEECH = 0.6
MIN_SOUNDING_S = 0.2
#: A chunk's words loop (a hallucination, "very, very, very, ...") when they compress over
#: MAX_COMPRESSION and hold more than LOOP_PHONES_PER_S phones for each second of the chunk the phone
#: loop heard sounding: a line said three times in one chunk compresses as much, at speech's rate
#: (about 10-15 phones a second; the aligner cannot place more than 33).
LOOP_PHONES_PER_S = 25.0
#: A text the acoustic check accepts is refused where Whisper, sure of a chunk's words, heard other
#: sounds than the text's words there (``objection``; rule ``whisper_objects_rule_2026_12_07b``):
#: sure = its words' mean token log probability at least SURE_SCORE and their zlib compression ratio
#: at most MAX_COMPRESSION (Whisper's own test for a looping hallucination); other sounds = the fewest
#: phone edits between the two at least OBJECT_SHARE of the text's phones in the chunk and at least
#: OBJECT_PHONES (one misheard short word is no wrong text).
SURE_SCORE = -0.3
MAX_COMPRESSION = 2.4
OBJECT_SHARE = 0.25
OBJECT_PHONES = 4
#: The second hearing's chunks are longer than the words mode's (nothing is aligned per chunk): up
#: to one Whisper window less the cut's search, so a 44 s line is two windows to encode, not four.
SECOND_CHUNK_S = whisper.WINDOW_S - SEARCH_S


@dataclasses.dataclass(frozen=True)
class Recognised:
    """What the recogniser heard: ``text`` (the recognised words, chunk by chunk), ``words``
    (``alignment.Word``) and ``phones`` ((ARPAbet, start_s, end_s), silence as ``SIL``) in seconds
    from the start of the audio, ``unaligned``: (start_s, end_s) of chunks whose recognised
    words could not be aligned (they give no phones), and ``source``: who heard them (``WORD_SOURCE``)."""

    text: str
    words: list
    phones: list
    unaligned: list
    source: str = "pocketsphinx"    # who heard the words: "pocketsphinx" or "whisper"


def decoder_settings() -> dict:
    """The helpers' decoders: 'recognise' (language model, ``DICTIONARY``) and 'words' (the
    aligner's, with the same dictionary: it aligns only the words recognised, and a decoder builds
    about twice as fast from it as from the whole one)."""
    m, dictionary = model_dir(), str(weights_path(DICTIONARY))
    return {"recognise": dict(hmm=m + "/en-us", samprate=SAMPLE_RATE, loglevel="FATAL",
                              lm=f"{m}/{LANGUAGE_MODEL}", dict=dictionary,
                              fwdflat=False, bestpath=False, maxhmmpf=MAX_HMMS_PER_FRAME,
                              maxwpf=MAX_WORDS_PER_FRAME, lw=LANGUAGE_WEIGHT),
            **alignment.decoder_settings(dictionary)}


def recognise(audio: Audio, heard: Callable[[], list] | None = None, adapt: bool = True,
              cancelled: Callable[[], bool] | None = None,
              progress: Callable[[int, int], None] | None = None) -> Recognised:
    """Recognise ``audio``'s words chunk by chunk (``recognition_bounds``: at most 20 s, cut at the
    quietest frame; a line of 4 to 18 s in two) and align each chunk's words, the model adapted to the take
    (``core.audio.adaptation``) from the phones ``heard()`` returns ((ARPAbet, start_s, end_s): the
    phone loop's, which it runs in this process while the helpers start; None: the phone loop here).
    ``adapt`` False: the model as shipped. ``cancelled()``, asked between chunks, stops the work
    (``InterruptedError``). ``progress(done, total)`` counts chunks recognised, from the helpers'
    threads while they work (a printer, not a user interface, should take it), and ends with
    ``(total, total)``."""
    x = np.asarray(audio.samples, dtype=np.float32)
    if audio.sample_rate != SAMPLE_RATE:
        x = resample(x, audio.sample_rate, SAMPLE_RATE)
    if heard is None:
        def heard() -> list:                                   # the phone loop, here
            return phone_loop.as_timed(phone_loop.hear(from_array(x, SAMPLE_RATE, SAMPLE_RATE)).phones)
    if whisper.hears_words(WORD_SOURCE):
        with _Hearing(x, chunk_bounds(x, SAMPLE_RATE, PAUSE_S)) as hearing:     # its model loads meanwhile
            listened = heard()                                 # the caller's listening, first as always
            found = _recognise_with_whisper(x, hearing.go(), listened, cancelled, progress)
        if found is not None:
            return found
        heard = lambda: listened                               # noqa: E731  (another language: PocketSphinx)
    bounds = recognition_bounds(x, SAMPLE_RATE)
    # as many helpers as the machine allows whatever the length: the pool is kept for the next take
    with sphinx_pool.RECOGNITION.use(decoder_settings(), sphinx_pool.helper_count()) as (pool, decoders):
        mllr = ""
        if adapt:
            phones = heard()
            stop_if(cancelled, "word recognition")
            mllr = adaptation.mllr_text(adaptation.estimate(x, SAMPLE_RATE, phones))
        header = {"kind": "recognise", "mllr": mllr}
        return _recognise(x, bounds, pool, decoders, [[(i, header, "") for i in range(len(bounds))]],
                          cancelled, progress)


def aligned_words(text: str) -> list[str]:
    """A recogniser's text -> the words the aligner can time: normalised as a transcript is (its
    numbers as they are said: Whisper writes "$5", "5:30", "11th"; an acronym in capitals the
    dictionary lacks spelt as its letters: "GPU", "MFA"), what it writes between brackets
    ([Music], (laughs)), tokens with digits that are no number ("MP3", "5pm") and words the
    dictionary lacks left out."""
    text = phone_match.spelt(re.sub(r"\[[^\]]*\]|\([^)]*\)|\*[^*]*\*", " ", text))
    try:
        words = alignment.normalise(text, skip_unread=True)
    except InputError:
        return []
    known = phone_match.known_words()
    return [w for w in words if w in known]


def repeats(text: str) -> bool:
    """Whether Whisper's ``text`` repeats itself: its zlib compression ratio over ``MAX_COMPRESSION``,
    Whisper's own test for a looping hallucination (a take saying its line three times passes it too)."""
    return phone_match.compression(text) > MAX_COMPRESSION


def looping(text: str, sounding_s: float) -> bool:
    """Whether Whisper's ``text`` for a chunk in which the phone loop heard ``sounding_s`` seconds of
    phones is a loop, not speech: it ``repeats`` and holds more than ``LOOP_PHONES_PER_S`` phones a
    second of sound. (A take that says its line several times repeats as well, and keeps its words.)"""
    if not repeats(text):
        return False
    words = aligned_words(text)
    return len(phone_match.phones(words, phone_match.pronunciations(words))) > LOOP_PHONES_PER_S * sounding_s


def _sounding(phones: list, t0: float, t1: float) -> float:
    """Seconds of [t0, t1) the phone loop heard as phones, not silence."""
    return sum(max(0.0, min(e, t1) - max(s, t0)) for p, s, e in phones if p.upper() != "SIL")


class _Hearing:
    """Whisper hearing the chunks ``bounds`` of 16 kHz samples ``x`` in a thread, ``whisper.BATCH``
    chunks at a time, while the helpers align the words of the batches heard so far. The thread
    loads the model at once and hears from ``go()`` on: this process's listening (features, phone
    scores, the phone loop) comes first, since listening and Whisper side by side on two cores take
    longer than one after the other (a minute: 4.6 s against 4.2 s). ``english`` tells as soon as
    the first chunk is encoded whether Whisper hears the take. A context manager: leaving it stops
    the thread after the batch it is hearing, and waits for that (a cancelled or failed take)."""

    def __init__(self, x: np.ndarray, bounds: list[tuple[int, int]]):
        self.x, self.bounds = x, bounds
        self.groups = [range(a, min(a + whisper.BATCH, len(bounds))) for a in range(0, len(bounds), whisper.BATCH)]
        self.found: queue.Queue = queue.Queue()
        self.language: queue.Queue = queue.Queue()      # the first chunk's English odds; None: none will come
        self.going, self.stopped = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hear, name="whisper-hearing", daemon=True)
        self.thread.start()

    def go(self) -> "_Hearing":
        self.going.set()
        return self

    def __enter__(self) -> "_Hearing":
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.going.set()
        # waits for the batch being heard (a few seconds at most): a process that exits while
        # CTranslate2 computes in this thread aborts instead of exiting with its own status
        self.thread.join()

    def _hear(self) -> None:
        try:
            model = whisper.model()
            self.going.wait()
            # the first chunk's language, asked as soon as it is encoded, decides whether Whisper hears the take
            for group in self.groups:
                if self.stopped.is_set():
                    return
                found = model.transcribe_many([self.x[slice(*self.bounds[i])] for i in group], language=group[0] == 0,
                                              floor=ENGLISH_FLOOR if group[0] == 0 else 0.0,
                                              on_language=self.language.put)
                self.found.put(found)
                if found[0].english < ENGLISH_FLOOR:
                    return
        except BaseException as exc:  # noqa: BLE001 - raised again where the batches are read
            self.found.put(exc)
        finally:
            self.language.put(None)       # no chunks, or an error (``batches`` raises it): nobody waits on

    def english(self, cancelled) -> bool:
        """Whether Whisper hears the take (its first chunk at least ``ENGLISH_FLOOR`` English), as soon
        as that chunk is encoded; True where it will not tell (no chunks, or an error ``batches`` raises)."""
        odds = _next(self.language, cancelled)
        return odds is None or odds >= ENGLISH_FLOOR

    def batches(self, phones, cancelled, progress):
        """What Whisper heard, batch by batch as soon as it is heard, as [(chunk index, text, its
        ``whisper.Heard``)] (text '' for a silent chunk: see ``_recognise_with_whisper``; ``phones``,
        the phone loop's, tell one (None: there are none, Whisper's no-speech odds alone tell it);
        and, given ``phones``, for words that loop, ``looping``, as Whisper does on some synthetic
        voices); a single None, and nothing more, for a take it hears in another language. ``cancelled()`` is asked
        about four times a second while waiting (InterruptedError); Whisper's error is raised here."""
        for group in self.groups:
            found = _next(self.found, cancelled)
            if isinstance(found, BaseException):
                raise found
            if found[0].english < ENGLISH_FLOOR:
                yield None
                return
            texts = []
            for i, heard in zip(group, found):
                a, b = self.bounds[i]
                sounding = _sounding(phones or [], a / SAMPLE_RATE, b / SAMPLE_RATE)
                silent = heard.no_speech > NO_SPEECH and sounding < MIN_SOUNDING_S
                looped = phones is not None and looping(heard.text, sounding)
                texts.append((i, "" if silent or looped else heard.text, heard))
            if progress is not None:
                progress(group[-1] + 1, len(self.bounds))
            yield texts


def _next(items: queue.Queue, cancelled):
    """The next of ``items`` from Whisper's thread, asking ``cancelled()`` about four times a second
    while waiting (InterruptedError)."""
    while True:
        stop_if(cancelled, "word recognition")
        try:
            return items.get(timeout=0.25)
        except queue.Empty:
            continue


def _recognise_with_whisper(x, hearing: _Hearing, phones, cancelled, progress) -> Recognised | None:
    """``recognise`` with Whisper's words (``WORD_SOURCE`` "whisper"): each chunk of
    ``phones.chunk_bounds`` (at most 20 s, one Whisper window; a line is not split; cut in the
    quietest ``PAUSE_S``, not inside a word, where Whisper would mishear both halves: rule
    ``word_recognition.whisper_pause_cuts_rule_2026_12_06h``) transcribed by ``hearing`` (in a
    thread, its model loaded while this process listened; ``whisper.BATCH`` at a time; the first chunk's
    language asked as soon as it is encoded), then its words aligned to it by the helpers
    (``phones``: the phone loop's, which tell a silent chunk). The helpers start while Whisper
    hears, once its first chunk is encoded and heard as English (for another language none start),
    and each batch's words go to them as soon as it is heard. A chunk Whisper
    thinks holds no speech (``NO_SPEECH``, its own threshold) and in which
    the phone loop heard under ``MIN_SOUNDING_S`` of phones gives no words: on silence and noise
    Whisper writes "you". None when Whisper gives the first chunk less than ``ENGLISH_FLOOR`` odds
    of being English: its English words for another language are a guess at a translation, and
    PocketSphinx's word search, which hears sounds as English words, takes the take as before."""
    if not hearing.english(cancelled):                          # another language: no helpers started
        return None
    # the align jobs bring no transform: the helpers build their decoders as they start
    with sphinx_pool.RECOGNITION.use(alignment.decoder_settings(), sphinx_pool.helper_count(),
                                     lazy=False) as (pool, decoders):
        jobs = ([(i, {"kind": "align", "words": aligned_words(text), "wide": True}, text) for i, text, _ in group]
                for group in hearing.batches(phones, cancelled, progress))
        return dataclasses.replace(_recognise(x, hearing.bounds, pool, decoders, jobs, cancelled, None),
                                   source="whisper")


def heard_instead(x: np.ndarray, said: list[str], cancelled: Callable[[], bool] | None = None) -> str | None:
    """For a refused transcript's message: what Whisper hears in 16 kHz samples ``x``, chunk by chunk
    as the words mode hears them (a chunk it gives over ``NO_SPEECH`` odds of holding none left
    out), at most 120 characters on one line; when its words are the text's own (``said``, normalised),
    that the voice, not the text, is what the aligner cannot fit (``alignment.TRUST_ADVICE`` follows).
    None when Whisper is not installed or not chosen (``WORD_SOURCE``), cannot run (a damaged install:
    the refusal is said without it), or hears another language."""
    hearing = second_hearing(x, cancelled, None)
    if hearing is None:
        return None
    with hearing:
        return hearing.instead(said)


def heard_stretches(x: np.ndarray, cancelled: Callable[[], bool] | None = None) -> list | None:
    """What Whisper hears in 16 kHz samples ``x``, chunk by chunk as the words mode hears them (cut
    in pauses), as [(start_s, end_s, words the aligner can time)], for ``alignment.align``'s
    ``anchors`` (a trusted text too long to search whole, cut where these words pin it). None where
    ``heard_instead`` would give none: Whisper not installed or not chosen, failing, or hearing
    another language."""
    hearing = second_hearing(x, cancelled, None)
    if hearing is None:
        return None
    with hearing:
        found = hearing.found()
    if found is None:
        return None
    # a chunk whose words loop pins nothing
    return [(a / SAMPLE_RATE, b / SAMPLE_RATE,
             [] if repeats(heard.text) else aligned_words(heard.text))
            for (a, b), heard in found]


class SecondHearing:
    """Whisper hearing 16 kHz samples ``x`` in a thread from the moment this is made, chunk by chunk
    (cut in pauses as the words mode cuts, in chunks of up to ``chunk_s``, None: the words mode's):
    beside the transcript aligner (``alignment.align``'s ``second_hearing``), so what it heard is
    ready when the aligner has decided. ``found()`` waits for it; a context manager: leaving stops
    Whisper after the batch it is hearing, and waits for that."""

    def __init__(self, x: np.ndarray, cancelled: Callable[[], bool] | None = None, chunk_s: float | None = None):
        self.bounds = chunk_bounds(x, SAMPLE_RATE, PAUSE_S, chunk_s)
        self.cancelled = cancelled
        self.hearing = _Hearing(x, self.bounds).go()
        self._found: list | None = None
        self._done = False

    def __enter__(self) -> "SecondHearing":
        return self

    def __exit__(self, *exc) -> None:
        self.hearing.__exit__()

    def found(self) -> list[tuple[tuple[int, int], whisper.Heard]] | None:
        """[((start, end) in samples, what Whisper heard, its text '' where it heard no speech)] for
        every chunk, or None: Whisper failing to run (a damaged install) or hearing another language.
        ``cancelled()`` is asked while waiting (InterruptedError)."""
        if not self._done:
            found = []
            try:
                # no phone loop here: loops are kept (``objection`` counts them unsure, ``instead`` quotes them)
                for group in self.hearing.batches(None, self.cancelled, None):
                    if group is None:                              # another language
                        found = None
                        break
                    found += [(self.bounds[i], dataclasses.replace(heard, text=text)) for i, text, heard in group]
            except InterruptedError:        # an OSError, but the user's cancel: not a damaged install
                raise
            except (ImportError, OSError, ValueError, RuntimeError):
                found = None
            self._found, self._done = found, True
        return self._found

    def instead(self, said: list[str]) -> str | None:
        """``heard_instead``'s sentence from what was heard."""
        found = self.found()
        if found is None:
            return None
        heard = " ".join(" ".join(h.text for _, h in found).split())
        if not heard:
            return "Whisper heard no words in it."
        if aligned_words(heard) == said:
            return "Whisper heard exactly these words, so the voice, not the text, is what the aligner cannot fit."
        return f'Whisper heard instead: "{heard if len(heard) <= 120 else heard[:117] + "..."}"'

    def objection(self, words: list) -> str | None:
        """``objection`` of the aligned ``words`` (``alignment.Word``) to what was heard."""
        found = self.found()
        return objection(words, found) if found is not None else None


def second_hearing(x: np.ndarray, cancelled: Callable[[], bool] | None = None,
                   chunk_s: float | None = SECOND_CHUNK_S) -> SecondHearing | None:
    """Whisper starting to hear ``x`` (``SecondHearing``; in chunks of up to ``SECOND_CHUNK_S``
    unless ``chunk_s`` says otherwise), or None where it will not: not installed or not chosen
    (``WORD_SOURCE``)."""
    return SecondHearing(x, cancelled, chunk_s) if whisper.hears_words(WORD_SOURCE) else None


def objection(words: list, found: list[tuple[tuple[int, int], whisper.Heard]]) -> str | None:
    """Why Whisper objects to an accepted transcript, or None: the first chunk of ``found`` (as
    ``SecondHearing.found``) whose words Whisper is sure of (``SURE_SCORE``, ``MAX_COMPRESSION``; a
    chunk it heard no speech in says nothing) and whose sounds differ from those of the text's
    ``words`` (``alignment.Word``) aligned there (by their middles) by at least ``OBJECT_SHARE`` of
    the text's phones and ``OBJECT_PHONES`` (``phone_match.edits`` of ``phone_match.phones``), as
    'Whisper, sure of what it heard, heard "..." at 1.2-3.4 s where the text says "..."' for the
    longest stretch that differs (``_differing``)."""
    sure = []                                   # (t0, t1, the text's words there, Whisper's words)
    for (a, b), heard in found:
        t0, t1 = a / SAMPLE_RATE, b / SAMPLE_RATE
        if heard.text and heard.score >= SURE_SCORE and not repeats(heard.text):
            sure.append((t0, t1, [w for w in words if t0 <= (w.start + w.end) / 2 < t1], aligned_words(heard.text)))
    if not sure:
        return None
    # one pass over the dictionary for every chunk's words
    sounds = phone_match.pronunciations([w.text for _, _, said, _ in sure for w in said]
                                        + [w for _, _, _, other in sure for w in other])
    for t0, t1, said, other in sure:
        expected = phone_match.phones([w.text for w in said], sounds)
        edits = phone_match.edits(expected, phone_match.phones(other, sounds))
        if edits >= OBJECT_PHONES and edits >= OBJECT_SHARE * len(expected):
            text, instead = _differing(said, other)
            s0, s1 = (text[0].start, text[-1].end) if text else (t0, t1)
            says = f'the text says "{_clipped(" ".join(w.text for w in text))}"' if text else "the text has no words"
            what = f'"{_clipped(" ".join(instead))}"' if instead else "no words"
            return f"Whisper, sure of what it heard, heard {what} at {s0:.1f}-{s1:.1f} s where {says}"
    return None


def _differing(said: list, heard: list[str]) -> tuple[list, list[str]]:
    """The longest stretch where the aligned words ``said`` and the ``heard`` ones part (fewest word
    edits, ``difflib``; differences fewer than 3 agreeing words apart are one stretch): (those of
    ``said``, those heard)."""
    stretches: list[list[int]] = []           # [said from, said to, heard from, heard to]
    for op, a0, a1, b0, b1 in difflib.SequenceMatcher(None, [w.text for w in said], heard,
                                                      autojunk=False).get_opcodes():
        if op == "equal":
            continue
        if stretches and a0 - stretches[-1][1] < 3:
            stretches[-1][1], stretches[-1][3] = a1, b1
        else:
            stretches.append([a0, a1, b0, b1])
    if not stretches:
        return said, heard
    a0, a1, b0, b1 = max(stretches, key=lambda st: st[1] - st[0] + st[3] - st[2])
    return said[a0:a1], heard[b0:b1]


def _clipped(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def recognition_bounds(x: np.ndarray, sr: int) -> list[tuple[int, int]]:
    """The chunks the word search recognises: ``phones.chunk_bounds``'s, except that a line of one
    chunk at least ``SPLIT_LINE_S`` long is two chunks, one for each of two helpers, cut at the middle
    of the quietest ``PAUSE_S`` in the ``SEARCH_S`` around its middle (a pause between words rather than
    a stop's short closure). Cut so however many helpers run: every machine hears a line alike."""
    bounds = chunk_bounds(x, sr)
    n = len(x)
    if len(bounds) > 1 or n < SPLIT_LINE_S * sr:
        return bounds
    half = int(SEARCH_S * sr / 2)
    cut = quietest_cut(x, n // 2 - half, n // 2 + half, int(FRAME_S * sr), max(int(round(PAUSE_S / FRAME_S)), 1))
    return [(0, cut), (cut, n)]


def _recognise(x, bounds, pool, decoders, jobs, cancelled, progress) -> Recognised:
    """``recognise`` on 16 kHz samples ``x`` cut at ``bounds``: ``jobs`` gives groups of (chunk
    index, ``sphinx_helper.run_job``'s header, the text its words came from), every chunk once;
    each group goes to ``pool``'s helpers (None: none) as soon as it comes, and this process runs
    with ``decoders`` any chunk no helper ran. A header is "recognise", with the model's means
    transformed by its "mllr", an MLLR file's text, '' none; or "align" to the words a recogniser
    heard (its text). ``progress`` counts the chunks of a single group."""

    def chunk_pcm(a: int, b: int) -> bytes:
        # each chunk dithered as on its own, so helper and main process hear the same samples
        return to_pcm16(x[a:b]).tobytes()

    reported = 0

    def report(done: int, total: int) -> None:     # each count once (the helpers' in order, then ours)
        nonlocal reported
        if progress is not None and done > reported:
            reported = done
            progress(done, total)

    headers, texts = [None] * len(bounds), [""] * len(bounds)

    def with_text(i: int, answer):      # an "align" job's answer as a "recognise" job's
        if headers[i]["kind"] == "recognise":
            return answer
        return {"text": texts[i], "words": None if answer is None else answer["words"]}

    batches, answers = [], [None] * len(bounds)
    try:
        for group in jobs:
            for i, header, text in group:
                headers[i], texts[i], answers[i] = header, text, {"text": text, "words": []}
            todo = [i for i, header, _ in group if header["kind"] == "recognise" or header["words"]]
            if pool is not None and todo:
                batches.append((todo, pool.submit([(headers[i], functools.partial(chunk_pcm, *bounds[i]))
                                                   for i in todo], on_done=report)))
            else:
                batches.append((todo, None))
        for todo, batch in batches:
            ran = batch.results(cancelled) if batch is not None else [sphinx_pool.NOT_RUN] * len(todo)
            for i, answer in zip(todo, ran):
                answers[i] = answer if answer is sphinx_pool.NOT_RUN else with_text(i, answer)
        heard, words, phones, unaligned = [], [], [], []
        for i, ((a, b), answer) in enumerate(zip(bounds, answers)):
            stop_if(cancelled, "word recognition")
            if answer is sphinx_pool.NOT_RUN:          # no helper ran it: here
                answer = with_text(i, sphinx_helper.run_job(decoders, headers[i], chunk_pcm(a, b)))
                report(i + 1, len(bounds))
            t0, t1 = a / SAMPLE_RATE, b / SAMPLE_RATE
            if answer["text"]:
                heard.append(answer["text"])
            if answer["words"] is None:
                unaligned.append((t0, t1))
                continue
            timed_words, timed_phones = alignment.timed_answer(answer["words"], t0)
            words += timed_words
            phones += timed_phones
    except BaseException:
        for _, batch in batches:
            if batch is not None:
                batch.cancel()
        raise
    report(len(bounds), len(bounds))
    return Recognised(" ".join(heard), words, phones, unaligned)

