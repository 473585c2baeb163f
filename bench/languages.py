"""Lip closures in languages other than English: is the English phone recogniser still worth it?

    .venv/bin/python bench/languages.py [--languages de,fr,es,it,nl,pl] [--voices m3,f2]

The recognisers and the aligner know English only. On another language the word recogniser (the
default listening, ``core.audio.recognition``) hears English words, the phone loop
(``core.audio.phone_loop``) hears /p b m/ as the nearest English phones, and the network still
reads the English model's phone posteriors. This bench says whether that helps or
hurts, on espeak-ng's voices of other languages (the only non-English speech with exact phone
times reachable here; espeak-ng is the engine the network trained on most, in English, so this
measures the language, not the voice). Each sentence is spoken by each voice, played clean and
degraded (``bench/lipsync.py``'s degradation), and scored as ``bench/lipsync.py`` scores closure:
the inner-lip gap at or below 1 mm at least once during each /p b m/ (+-20 ms), as the network
gives it and as keyed into a 24, 25 or 30 fps scene. No reference curve exists for these phone
sets, so there is no gap r here.

Rows (same shipped weights):
  words (default)  phone posteriors in, the recognised words' and the phone loop's /p b m/ sealed
                   (what an animate run without a text does)
  phones           phone posteriors in, the phone loop's /p b m/ sealed (--listen phones)
  network alone    phone posteriors in, nothing sealed
  audio features   no recogniser at all: posteriors read as silence, nothing sealed (what runs
                   without the pocketsphinx package)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lipsync import SCENE_FPS, Case, _with_degraded, score  # noqa: E402

from talkface.core.audio import inference, listening, phones  # noqa: E402
from talkface.core.audio.loading import from_array, resample  # noqa: E402
from talkface.core.face.model import load_face_model  # noqa: E402

#: Everyday sentences with many /p b m/, written for this bench (public domain).
SENTENCES = {
    "de": ["Peter bringt Milch und Brot mit.", "Meine Mutter malt ein buntes Bild am Meer.",
           "Bitte packen Sie die blauen Pakete ein.", "Paul baut am Montag eine Mauer im Park.",
           "Wir trinken Bier im Biergarten am Bahnhof.", "Der Baum im Garten bekommt im Mai Blumen.",
           "Mama kauft Pfirsiche, Pflaumen und Bohnen.", "Am Morgen ist das Museum meistens leer."],
    "fr": ["Pierre boit un bon verre de lait.", "Ma mère met une pomme dans le panier.",
           "Le petit bateau blanc part demain matin.", "Paul aime beaucoup la musique de Bach.",
           "Nous mangeons du pain et du beurre le matin.", "Le bébé bouge ses bras et sa bouche.",
           "Mon ami Bernard parle peu mais bien.", "Prends ce pull bleu pour la promenade."],
    "es": ["Pablo compra pan y membrillo por la mañana.", "Mi madre pinta un mapa muy bonito.",
           "El perro pequeño busca a su amo.", "Paloma pasea por el parque con su primo.",
           "Mañana empezamos a pintar la puerta.", "Pepe pone la mesa para comer.",
           "Me gusta mucho la playa en primavera.", "Compramos patatas, pimientos y membrillo."],
    "it": ["Paolo beve un bicchiere di latte.", "Mia mamma prepara il pane ogni mattina.",
           "Il bambino gioca nel parco con il papà.", "Prima di partire prendi la mappa.",
           "Mi piace molto il mare a maggio.", "Bruno porta le mele al mercato.",
           "Il piccolo ponte sembra molto vecchio.", "Abbiamo mangiato pasta e pomodoro."],
    "nl": ["Peter brengt melk en brood mee.", "Mijn moeder maakt appelmoes met boter.",
           "De bus stopt bij het plein om acht uur.", "Piet bouwt een boot in de schuur.",
           "Morgen gaan we met de bus naar Amsterdam.", "Het meisje plukt bloemen in de tuin.",
           "Pak de blauwe beker maar van de plank.", "Bij mooi weer lopen we naar het bos."],
    "pl": ["Piotr pije mleko i je bułkę.", "Moja mama maluje piękny obraz.",
           "Pan Paweł mieszka blisko parku.", "Babcia piecze placki z jabłkami.",
           "Mam mały pokój z białym biurkiem.", "Po pracy pójdziemy na basen.",
           "Bartek pomaga mamie w ogrodzie.", "Proszę podać mi pomarańczowy parasol."],
}
BILABIALS = ("p", "b", "m")        # espeak-ng's names; Spanish 'B' is a fricative, not a closure


def cases(languages: list[str], voices: list[str], seed: int) -> list[Case]:
    from talkface.training.corpus import espeak

    out = []
    for lang in languages:
        for variant in voices:
            for text in SENTENCES[lang]:
                spoken = espeak.synthesize(text, f"{lang}+{variant}")
                samples = resample(spoken.samples, spoken.sample_rate, 16000)
                timed = [(p.phoneme, p.start, p.end) for p in spoken.phonemes]
                out.append(Case(lang, f"{lang}+{variant}", from_array(samples, 16000), timed, True))
    return _with_degraded(out, seed)


class Path:
    """One way of animating a case (``bench/lipsync.py``'s predictor interface)."""

    def __init__(self, name: str, listen: bool, recogniser: bool):
        self.name, self.listen, self.recogniser = name, listen, recogniser
        self.net = inference.load_animator()

    def predict(self, case: Case):
        with (contextlib.nullcontext() if self.recogniser else _without_recogniser()):
            return inference.animate(case.audio, self.net, "Neutral", listen=self.listen)


class WordsPath(Path):
    """The 'words' listening mode (``bench/lipsync.py``'s ``NetworkWithWords``)."""

    def predict(self, case: Case):
        recognised, listened = listening.recognise_and_listen(case.audio, self.net)
        return inference.animate(case.audio, self.net, "Neutral", listened=listened, recognised=recognised)


@contextlib.contextmanager
def _without_recogniser():
    """As without the pocketsphinx package: ``phones.available()`` False meanwhile."""
    before = phones.available
    phones.available = lambda: False
    try:
        yield
    finally:
        phones.available = before


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--languages", default=",".join(SENTENCES))
    ap.add_argument("--voices", default="m3,f2", help="espeak-ng variants, each speaks every sentence")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    languages = [x for x in args.languages.split(",") if x]
    unknown = sorted(set(languages) - set(SENTENCES))
    if unknown:
        ap.error(f"no sentences for {', '.join(unknown)} (known: {', '.join(SENTENCES)})")
    all_cases = cases(languages, [v for v in args.voices.split(",") if v], args.seed)
    for case in all_cases:       # the bench's bilabial test reads p, b, m in any case: keep espeak's names exact
        case.phones = [(("P" if p == "p" else "B" if p == "b" else "M" if p == "m" else "-" + p), s, e)
                       for p, s, e in case.phones]
    model = load_face_model()
    paths = [WordsPath("words (default)", True, True), Path("phones", True, True), Path("network alone", False, True),
             Path("audio features", False, False)]
    print(f"{'path':<16} {'language':<9} {'closure':>8} " + " ".join(f"{int(f)}fps".rjust(6) for f in SCENE_FPS)
          + f" {'clean':>6} {'degr.':>6} {'/p b m/':>8}")
    for path in paths:
        rows = {lang: score([c for c in all_cases if c.set == lang], path, model) for lang in languages}
        # every /p b m/ is played clean and degraded, so 'all' weighs each language by its count
        n = sum(q["n"] for q in rows.values())
        rows["all"] = {"n": n, **{k: sum(q[k] * q["n"] for q in rows.values()) / n
                                  for k in ("closure", "clean", "degraded")},
                       "keyed": {f: sum(q["keyed"][f] * q["n"] for q in rows.values()) / n for f in SCENE_FPS}}
        for lang, q in rows.items():
            print(f"{path.name:<16} {lang:<9} {100 * q['closure']:7.1f}% "
                  + " ".join(f"{100 * q['keyed'][f]:5.1f}%" for f in SCENE_FPS)
                  + f" {100 * q['clean']:5.1f}% {100 * q['degraded']:5.1f}% {q['n']:8d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
