"""The words mode's recognition dictionary: the wheel's pronouncing dictionary cut to the words its
language model finds likeliest.

    python -m talkface.training.vocabulary --words 10000 --out weights/recognition.dict

PocketSphinx's word search walks a tree of every word both its dictionary and its language model
hold (``en-us.lm.bin``: 72,547 words; ``cmudict-en-us.dict``: 126,052). Cut to the N words with the
highest unigram probability, the tree shrinks and recognition runs faster; a rare word the
recogniser can no longer name is heard as a likelier word that sounds like it, which still closes
the lips where it has a /p b m/ (weights/provenance.json, ``recognition.dict``, has what it costs).
Every pronunciation of a kept word is kept, in the dictionary's own order; ties in probability go
by spelling, so the same wheel always gives the same file. The language model is left whole.
"""

from __future__ import annotations

import argparse
import os
from importlib.metadata import version
from pathlib import Path

from ..core.audio.alignment import CMU_DICTIONARY as DICTIONARY
from ..core.audio.alignment import headword
from ..core.audio.phones import model_dir
from ..core.audio.recognition import LANGUAGE_MODEL
from ..core.weights import record_provenance, sha256_file
from .loop import command_line


def ranked_words(folder: str | None = None) -> list[str]:
    """The dictionary's words, likeliest first by the language model's unigram probability."""
    import pocketsphinx

    folder = folder or model_dir()
    lm = pocketsphinx.NGramModel(pocketsphinx.Config(), pocketsphinx.LogMath(),
                                 os.path.join(folder, LANGUAGE_MODEL))
    with open(os.path.join(folder, DICTIONARY), encoding="utf-8") as fh:
        words = {headword(line) for line in fh if line.strip()}
    return sorted(words, key=lambda w: (-lm.prob([w]), w))


def cut_dictionary(words: int, out: str, folder: str | None = None) -> list[str]:
    """Write the dictionary's lines for its ``words`` likeliest words to ``out``; returns those words."""
    folder = folder or model_dir()
    keep = ranked_words(folder)[:words]
    wanted = set(keep)
    with open(os.path.join(folder, DICTIONARY), encoding="utf-8") as fh:
        lines = [line for line in fh if line.strip() and headword(line) in wanted]
    with open(out, "w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(lines)
    return keep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m talkface.training.vocabulary", description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", type=int, default=10000, help="how many words to keep (likeliest first)")
    ap.add_argument("--out", default="weights/recognition.dict")
    args = ap.parse_args(argv)
    if args.words < 1:
        raise SystemExit("--words must be at least 1")
    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = model_dir()
    keep = cut_dictionary(args.words, str(out), folder)
    entry = record_provenance(out.name, {
        "what": f"the words mode's recognition dictionary: {DICTIONARY} cut to the {len(keep)} words {LANGUAGE_MODEL} "
                "gives the highest unigram probability, every pronunciation kept (core/audio/recognition.py)",
        "command": command_line("talkface.training.vocabulary", argv),
        "source": {"package": f"pocketsphinx {version('pocketsphinx')}",
                   "files": {name: sha256_file(os.path.join(folder, name)) for name in (DICTIONARY, LANGUAGE_MODEL)}},
        "licence": "BSD-style (Carnegie Mellon University), as the pocketsphinx wheel's model files it is cut from",
        "words": len(keep), "least_likely_kept": keep[-1],
    }, out.parent)
    print(f"{out}: {len(keep)} words, sha256 {entry['sha256'][:12]}...")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
