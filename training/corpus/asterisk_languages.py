"""More recorded people for TRAINING: Asterisk's prompts in French, Italian, Russian and Spanish.

The animator heard one real person in training (Allison Smith's English prompts,
``training/corpus/asterisk.py``), and on people no corpus holds it still misses a quarter of the
/p b m/ closures. Recorded English speech with text is not reachable here beyond what the bench
tests on, but lips close on /p b m/ in every language: Debian ships Asterisk's telephone prompts
read by four more people, with the text of each prompt (``training/corpus/fetch_asterisk.sh``
fetches them into ``corpus/asterisk-LANG/``):

  fr   June Wallack, Canadian French (asterisk-core-sounds-fr, CC-BY-SA-3.0)
  it   Carlo Flora, Italian (asterisk-core-sounds-it, CC-BY-SA-3.0)
  ru   a Russian IVR voice provided by Maxim Topal (asterisk-core-sounds-ru, CC-BY-3.0)
  es   Allison Smith again, Mexican Spanish (asterisk-core-sounds-es, CC-BY-SA-3.0)

Phone timings: the US-English aligner (``core.audio.alignment``) needs English words, so each
prompt's text is turned into phones by espeak-ng in its own language (IPA), the IPA is mapped to
the nearest ARPAbet phones (``IPA_ARPABET``: /p b m/ map to themselves; vowels, r-sounds and
palatal consonants to their nearest US-English kin), and the phones are aligned to the audio by a
Viterbi pass over the real-speech acoustic model's per-frame phone scores
(``core.audio.senones.phone_logliks``, the scores the transcript check uses): each phone at least
``MIN_PHONE_FRAMES`` frames, an optional silence between words. A prompt whose aligned phones
score worse than ``MAX_GAP`` below the best phone per frame on average (the transcript check's
measure, ``alignment.frame_gaps``) is skipped, never guessed; so is a prompt espeak-ng cannot
phonemise or that has no speech sound the map knows.

Each language's prompts split as the English ones do (a stable hash of the name): 15 % are a dev
share never trained on, the rest train. No prompt of these sets is a test recording of the bench.
"""

from __future__ import annotations

import functools
import os
import subprocess
import unicodedata
from dataclasses import dataclass

import numpy as np

from ...core.audio import senones
from ...core.audio.alignment import SILENCE, frame_gaps
from ...core.audio.loading import from_array, load_audio
from ...core.audio.phones import FRAME_S
from .asterisk import ROOT, SAMPLE_RATE, dev_or_train, fetch_command, listed

MIN_PHONE_FRAMES = 3         # 30 ms: PocketSphinx's three-state phones are as short
MAX_GAP = 3.0                # mean nats per frame below the best phone; the transcript check's bar

#: language -> (speaker, espeak-ng voice, folder under corpus/, listing file)
LANGUAGES = {
    "fr": ("june", "fr", "asterisk-fr", "core-sounds-fr.txt"),
    "it": ("carlo", "it", "asterisk-it", "core-sounds-it.txt"),
    "ru": ("ivrvoice", "ru", "asterisk-ru", "core-sounds-ru.txt"),
    "es": ("allison-es", "es-419", "asterisk-es", "core-sounds-es.txt"),
}

#: IPA (as espeak-ng writes it, stress and length marks removed) -> ARPAbet; longest match first
IPA_ARPABET = {
    "t\u0283": "CH", "d\u0292": "JH", "ts": "T S", "dz": "D Z", "t\u0255": "CH", "d\u0291": "JH",
    "p": "P", "b": "B", "m": "M", "\u0271": "M",
    "t": "T", "d": "D", "n": "N", "k": "K", "g": "G", "\u0261": "G", "q": "K",
    "f": "F", "v": "V", "\u03b2": "V", "\u028b": "V", "s": "S", "z": "Z", "\u0283": "SH", "\u0292": "ZH",
    "\u0255": "SH", "\u0291": "ZH", "\u0282": "SH", "\u0290": "ZH", "\u03b8": "TH", "\u00f0": "DH",
    "x": "HH", "h": "HH", "\u0263": "G", "\u03c7": "HH",
    "l": "L", "\u026b": "L", "\u028e": "L Y", "\u0272": "N Y", "\u014b": "NG", "\u0273": "N",
    "r": "R", "\u027e": "R", "\u0281": "R", "\u0279": "R", "\u0280": "R",
    "j": "Y", "w": "W", "\u0265": "W", "\u028d": "W",
    "a": "AA", "\u0251": "AA", "\u0250": "AH", "\u0252": "AO", "\u00e6": "AE", "\u028c": "AH",
    "e": "EY", "\u025b": "EH", "\u0259": "AH", "\u025c": "ER", "\u025a": "ER", "\u0258": "AH",
    "i": "IY", "\u026a": "IH", "\u0268": "IH", "y": "UW", "\u028f": "UH",
    "o": "OW", "\u0254": "AO", "\u00f8": "ER", "\u0153": "ER", "\u0276": "AE",
    "u": "UW", "\u028a": "UH", "\u026f": "UW", "\u0264": "AH",
}
_DROP = set("\u02c8\u02cc\u02d0\u02d1-\u200d\u02b2\u02b0\u02b7\u0303\u0329\u032f\u0361\u035c_.|'")
_TOKENS = sorted(IPA_ARPABET, key=len, reverse=True)


@dataclass(frozen=True)
class Prompt:
    language: str
    name: str
    path: str
    text: str


def folder_of(language: str) -> str:
    return os.path.join(ROOT, "corpus", LANGUAGES[language][2])


def split_of(language: str, name: str) -> str:
    """'dev' or 'train' for a prompt (``asterisk.dev_or_train`` of the language and name)."""
    return dev_or_train(f"asterisk-{language}|{name}")


def prompts(language: str, split: str, folder: str | None = None) -> list[Prompt]:
    """The prompts of ``split`` ('train' or 'dev') whose recording and text are in ``folder``."""
    if split not in ("train", "dev"):
        raise ValueError(f"split {split!r}: 'train' or 'dev'")
    folder = folder or folder_of(language)
    listing = os.path.join(folder, LANGUAGES[language][3])
    if not os.path.exists(listing):
        raise FileNotFoundError(f"{listing} is missing: run {fetch_command(folder, language)}")
    out = []
    for name, text in listed(listing, not_speech="[(<"):
        path = os.path.join(folder, name + ".wav")
        if split_of(language, name) == split and os.path.exists(path):
            out.append(Prompt(language, name, path, text))
    return out


@functools.lru_cache(maxsize=4096)
def _ipa(voice: str, text: str) -> str:
    run = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice, text], capture_output=True, text=True,
                         check=True)
    return run.stdout


def ipa_words(ipa: str) -> list[list[str]]:
    """IPA text -> words of ARPAbet phones (unknown symbols are dropped; a word with none is left out)."""
    out = []
    for word in unicodedata.normalize("NFD", ipa).split():
        word = "".join(c for c in word if c not in _DROP)
        phones, i = [], 0
        while i < len(word):
            for tok in _TOKENS:
                if word.startswith(tok, i):
                    phones += IPA_ARPABET[tok].split()
                    i += len(tok)
                    break
            else:
                i += 1
        phones = [ph for j, ph in enumerate(phones) if j == 0 or ph != phones[j - 1]]   # geminates: one phone
        if phones:
            out.append(phones)
    return out


def phonemise(language: str, text: str) -> list[list[str]]:
    """``text`` in ``language`` -> words of ARPAbet phones, by espeak-ng."""
    return ipa_words(_ipa(LANGUAGES[language][1], text))


def viterbi_align(logliks: np.ndarray, words: list[list[str]]) -> list[tuple[str, float, float]]:
    """Time ``words`` (ARPAbet phones) in ``logliks`` (``senones.phone_logliks``: [frames, CI
    phones] at 100 Hz): the best path through optional silence, the words' phones in order (each
    at least ``MIN_PHONE_FRAMES`` frames) with optional silence between words, and optional
    silence at the end. Returns contiguous (phone or SIL, start_s, end_s) from 0 to the last frame."""
    model = senones.acoustic_model()
    column = {p: i for i, p in enumerate(model.phones)}
    silences = [column[p] for p in senones.SILENCES]
    rows = np.where(np.isnan(logliks), np.nanmin(logliks) if np.isfinite(logliks).any() else 0.0, logliks)
    emit_cols = np.concatenate([rows, rows[:, silences].max(1, keepdims=True)], 1)     # last: silence
    sil = emit_cols.shape[1] - 1
    # states: (score column, phone index or -1 for silence, self loop, may be skipped)
    col, label, loop, skip = [], [], [], []

    def silence_state():
        col.append(sil), label.append(-1), loop.append(True), skip.append(True)

    names = []
    silence_state()
    for word in words:
        for ph in word:
            for j in range(MIN_PHONE_FRAMES):
                col.append(column[ph]), label.append(len(names)), loop.append(j == MIN_PHONE_FRAMES - 1)
                skip.append(False)
            names.append(ph)
        silence_state()
    col, label, loop, skip = np.array(col), np.array(label), np.array(loop), np.array(skip)
    n_states, n_frames = len(col), len(emit_cols)
    if n_frames < len(names) * MIN_PHONE_FRAMES:
        raise ValueError("the recording is too short for its phones")
    neg = -np.inf
    score = np.full(n_states, neg)
    score[0] = emit_cols[0, col[0]]
    score[1] = emit_cols[0, col[1]]
    back = np.zeros((n_frames, n_states), np.int32)
    idx = np.arange(n_states)
    # from s-2 only across a skippable silence state (s-1)
    skip_from = np.zeros(n_states, bool)
    skip_from[2:] = skip[1:-1]
    for t in range(1, n_frames):
        stay = np.where(loop, score, neg)
        step = np.concatenate([[neg], score[:-1]])
        jump = np.where(skip_from, np.concatenate([[neg, neg], score[:-2]]), neg)
        best = np.stack([stay, step, jump])
        choice = best.argmax(0)
        score = best[choice, idx] + emit_cols[t, col]
        back[t] = idx - choice
    end = n_states - 1 if score[n_states - 1] >= score[n_states - 2] else n_states - 2
    path = np.empty(n_frames, np.int32)
    path[-1] = end
    for t in range(n_frames - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    lab = label[path]                    # every silence is -1: a run of one label is one phone or one pause
    cuts = [0, *(np.flatnonzero(np.diff(lab)) + 1), n_frames]
    return [(SILENCE if lab[a] < 0 else names[lab[a]], a * FRAME_S, b * FRAME_S) for a, b in zip(cuts, cuts[1:])]


def align_prompt(samples: np.ndarray, words: list[list[str]]) -> tuple[list[tuple[str, float, float]], float]:
    """(timed phones, mean gap per scored frame) of 16 kHz ``samples`` read as ``words``."""
    audio_logliks = senones.phone_logliks(from_array(samples, SAMPLE_RATE, sr=SAMPLE_RATE))
    phones = viterbi_align(audio_logliks, words)
    gap = frame_gaps(audio_logliks, phones)
    return phones, float(np.nanmean(gap))


def speaker(language: str) -> str:
    return LANGUAGES[language][0]


def aligned(language: str, split: str, folder: str | None = None, log=print) -> list[tuple[Prompt, np.ndarray, list]]:
    """(prompt, 16 kHz float32 samples, [(ARPAbet phone, start_s, end_s)]) for every prompt of
    ``split`` whose phones align within ``MAX_GAP``; the others are counted in the log."""
    out, refused = [], 0
    for p in prompts(language, split, folder):
        words = phonemise(language, p.text)
        if not words:
            refused += 1
            continue
        audio = load_audio(p.path, sr=SAMPLE_RATE)
        try:
            phones, gap = align_prompt(audio.samples, words)
        except ValueError:
            refused += 1
            continue
        if not gap <= MAX_GAP:
            refused += 1
            continue
        out.append((p, audio.samples, phones))
    log(f"asterisk-{language} {split}: {len(out)} prompts aligned, {refused} refused")
    return out
