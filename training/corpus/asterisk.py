"""Real human speech for TRAINING: Allison Smith's Asterisk telephone prompts, aligned to their text.

Every other training voice is synthetic, and a network that only ever heard synthesizers closes
the lips on synthetic /p b m/ far more often than on people's. Debian's Asterisk prompts are
about 25 minutes of one real speaker (8 kHz telephone recordings, CC-BY-SA-3.0) with the text of
each prompt published beside them (``core-sounds-en.txt``). ``training/corpus/fetch_asterisk.sh``
puts both in ``corpus/asterisk/``.

Three disjoint uses, by prompt name:
  test   the prompts ``bench/fetch_speech.sh`` fetches for the bench's ``real`` set are NEVER read
         here (``TEST_PROMPTS``; a test checks the two lists agree). Because the speaker is heard
         in training, ``bench/lipsync.py`` marks those rows as a seen speaker and reports the
         recordings of people no corpus holds (``real-new``) apart;
  dev    about 15 % of the rest, by a stable hash of the name: never trained on; the bench's
         ``allison-dev`` set, for choosing between weights;
  train  the remainder, spoken into the corpus (``build.py --recordings asterisk``).

Phone timings come from forced alignment of the published text with the real-speech acoustic
model (``core.audio.alignment.align``); a prompt whose text the aligner refuses (words the
dictionary lacks, a mismatch, tones in brackets) is skipped, never guessed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from ...core.audio.alignment import align
from ...core.audio.loading import load_audio
from ...core.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLDER = os.path.join(ROOT, "corpus", "asterisk")
SPEAKER = "allison"
SAMPLE_RATE = 16000
DEV_SHARE = 0.15
#: the prompts bench/fetch_speech.sh fetches as test recordings (demo-instruct is fetched but left
#: out of the test set, training/corpus/real_transcripts.json 'not_used'): never read here
TEST_PROMPTS = frozenset({"basic-pbx-ivr-main", "demo-congrats", "demo-echotest", "demo-instruct", "vm-options",
                          "vm-invalid-password", "vm-msginstruct", "priv-callee-options"})


@dataclass(frozen=True)
class Prompt:
    name: str          # e.g. 'vm-goodbye', 'digits/7'
    path: str
    text: str


def dev_or_train(key: str) -> str:
    """'dev' for a stable DEV_SHARE of keys (a hash of the key, not of the machine), else 'train'."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little") / 2 ** 32
    return "dev" if h < DEV_SHARE else "train"


def split_of(name: str) -> str:
    """'test', 'dev' or 'train' for a prompt name."""
    return "test" if name in TEST_PROMPTS else dev_or_train(f"asterisk|{name}")


def fetch_command(folder: str, language: str = "en") -> str:
    """The command that fetches ``language``'s prompts into ``folder`` (its G.722 files when the
    folder's name ends in '-g722', as ``fetch_asterisk.sh --g722`` names them)."""
    g722 = " --g722" if folder.rstrip(os.sep).endswith("-g722") else ""
    return f"bash training/corpus/fetch_asterisk.sh{g722}" + ("" if language == "en" else f" '' {language}")


def listed(listing: str, not_speech: str = "[") -> list[tuple[str, str]]:
    """(name, text) of every prompt in an Asterisk ``core-sounds-LANG.txt`` listing ('name: text'
    lines; ';' comments), leaving out texts that open with one of ``not_speech`` (tones, noises)."""
    out = []
    with open(listing, encoding="utf-8-sig", errors="replace") as fh:
        for line in fh:
            name, sep, text = line.partition(":")
            name, text = name.strip(), text.strip()
            if sep and not name.startswith(";") and text and text[0] not in not_speech:
                out.append((name, text))
    return out


def prompts(split: str, folder: str | None = None) -> list[Prompt]:
    """The prompts of ``split`` ('train' or 'dev') whose recording and text are in ``folder``."""
    if split not in ("train", "dev"):
        raise ValueError(f"split {split!r}: the test prompts are read by training/corpus/real.py only")
    folder = folder or FOLDER
    listing = os.path.join(folder, "core-sounds-en.txt")
    if not os.path.exists(listing):
        raise FileNotFoundError(f"{listing} is missing: run {fetch_command(folder)}")
    out = []
    for name, text in listed(listing):
        path = os.path.join(folder, name + ".wav")
        if split_of(name) == split and os.path.exists(path):
            out.append(Prompt(name, path, text))
    return out


def aligned(split: str, folder: str | None = None, log=print) -> list[tuple[Prompt, np.ndarray, list]]:
    """(prompt, 16 kHz float32 samples, [(ARPAbet phone, start_s, end_s)]) for every prompt of
    ``split`` the aligner accepts; refusals are counted in the log, not guessed."""
    out, refused = [], 0
    for p in prompts(split, folder):
        audio = load_audio(p.path, sr=SAMPLE_RATE)
        try:
            al = align(audio, p.text)
        except InputError:
            refused += 1
            continue
        out.append((p, audio.samples, [(ph, float(s), float(e)) for ph, s, e in al.phones]))
    log(f"asterisk {split}: {len(out)} prompts aligned, {refused} refused by the aligner")
    return out

