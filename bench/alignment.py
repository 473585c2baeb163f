"""Transcript alignment: does it accept the right text, refuse a wrong one, and how fast is it.

    .venv/bin/python bench/alignment.py [--sentences 6] [--seed 99] [--dev]

For every voice (espeak-ng stock and +f3, six of espeak-ng's training-side accents with made-up
voices -- ``TRAINING_SIDE_ESPEAK``, never the lip-sync bench's held-out ones --, flite awb and rms,
piper joe, the bundled sample, the real two_cities recording), clean and degraded (the corpus's
noise, rooms, band limits, codecs),
``core.audio.alignment.align`` is given:
  right        the line's own text
  other        another line's text (a transcript for other audio)
  half         the first half of the line's words
  replaced     the middle third of the words replaced by another line's
and the table prints, per voice and kind, how many were refused and the excess (how much worse the
text's phones fit than the phone loop's own; mean over the clip / worst 2 s window) of those
accepted. Where Whisper is installed it hears each clip once beside the aligner, as the add-on does
(``recognition.second_hearing``), and a text the acoustic check accepts may be refused by its
objection: "refused" counts both, "+W" how many of them Whisper's objection alone refused (the check
alone would have accepted them), "+U" how many the check refused for speech the text leaves without
words (``alignment.Unsaid``, ``unsaid_speech_rule_2026_12_08``), and the totals below the table give
both ways, each also as before that check (those texts accepted unless Whisper objects). The right texts
should all be accepted, the rest refused; the limits (MAX_EXCESS, MAX_LOCAL_EXCESS) were set from
this table at seed 99. The last column, ``trusted``: each right text refused, aligned again as the
user's *Trust Text* does (``align(..., trusted=True)``): how many then align, and on voices whose
engine gives its own phone times (espeak-ng, flite) how many of their /p b m/ the aligned /P B M/
overlap within 30 ms. Synthetic lines are made fresh (corpus-style sentences at --seed, not the
lip-sync bench's seed); reserved voices are never used. ``--dev`` adds the real-speech dev
recordings allison-dev and mfa-dev (``dev_lines``), where a right text the check refuses is a real
voice refused. The last lines time the alignment of the 44 s real recording (x real time, decoders
built), without and with Whisper's second hearing.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from talkface.core.audio import alignment, recognition
from talkface.core.audio.loading import from_array, load_audio, resample
from talkface.core.errors import InputError
from talkface.training.corpus.build import apply_augmentation, draw_augmentation, make_sentence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KINDS = ("right", "other", "half", "replaced")
#: espeak-ng accents with made-up voices from the corpus's training side (training/corpus/build.py's
#: ACCENTS and VARIANTS less the held-out ones): voices far from the real-speech model, as the
#: lip-sync bench's held-out espeak-ng voices are, without measuring on those
TRAINING_SIDE_ESPEAK = ("en-gb-x-gbclan+m3", "en-029+klatt", "en-us-nyc+grandpa", "en+Annie", "en-gb-x-rp+f5",
                        "en-gb-x-gbcwmd+travis")


def wrong_texts(text: str, other: str) -> dict[str, str]:
    w, o = text.split(), other.split()
    n = len(w)
    out = {"right": text, "other": other, "half": " ".join(w[: max(1, n // 2)])}
    if n >= 6:
        a, b = n // 3, 2 * n // 3
        out["replaced"] = " ".join(w[:a] + o[: b - a] + w[b:])
    return out


BILABIALS = ("p", "b", "m")          # espeak-ng's and flite's names for /p b m/
NEAR_S = 0.03


def lines(sentences: int, seed: int) -> list[tuple[str, np.ndarray, str, str, list | None]]:
    """(voice, 16 kHz samples, text, another text, the engine's own (start_s, end_s) of each /p b m/
    or None where no engine says: the recordings, and piper, whose phone times are the aligner's)."""
    from talkface.scripts.make_sample_audio import TEXT
    from talkface.training.corpus import espeak, flite, piper, real

    rng = np.random.default_rng(seed)
    texts = [make_sentence(rng) for _ in range(max(2, sentences))]      # 'other' is never the line's own
    out = [("sample (espeak)", load_audio(os.path.join(ROOT, "samples", "speech.wav"), sr=16000).samples, TEXT,
            texts[0], None)]
    if real.available():
        tc = load_audio(real.path("two_cities"), sr=16000).samples
        out.append(("real two_cities", tc, real.transcript("two_cities"), TEXT, None))
    for i, text in enumerate(texts[:sentences]):
        other = texts[(i + 1) % len(texts)]
        for v in ("awb", "rms"):
            x, phones = flite.synthesize(text, v)
            out.append((f"flite {v}", x, text, other, [(s, e) for p, s, e in phones if p in BILABIALS]))
        if piper.available():
            out.append(("piper joe", piper.synthesize(text, "joe")[0], text, other, None))
        for v in ("en-us", "en+f3") + TRAINING_SIDE_ESPEAK:
            u = espeak.synthesize(text, v)
            out.append((f"espeak {v}", resample(u.samples, u.sample_rate, 16000), text, other,
                        [(e.start, e.end) for e in u.phonemes if e.phoneme in BILABIALS]))
    return out


def dev_lines() -> list[tuple[str, np.ndarray, str, str, None]]:
    """The dev recordings as lines (``--dev``): allison-dev (Allison's held-out telephone prompts) and
    mfa-dev (the Montreal Forced Aligner's recordings), each with its own text and, as 'other', the
    text of the recording seven on. Real speech, for choosing; the test recordings (real, real-new)
    are never used here."""
    from talkface.bench.lipsync import allison_dev_cases, mfa_dev_cases

    cases = [c for c in allison_dev_cases(0) + mfa_dev_cases(0) if c.clean]    # degraded here, as the rest
    texts = [c.extra["text"] for c in cases]
    out = []
    for i, c in enumerate(cases):
        x = np.asarray(c.audio.samples, np.float32)
        if c.audio.sample_rate != 16000:
            x = resample(x, c.audio.sample_rate, 16000)
        out.append((c.set, x, texts[i], texts[(i + 7) % len(texts)], None))
    return out


def near(said: list, phones: list) -> int:
    """How many of the engine's /p b m/ ``said`` an aligned /P B M/ overlaps within NEAR_S."""
    found = [(s, e) for p, s, e in phones if p in ("P", "B", "M")]
    return sum(any(s1 < e0 + NEAR_S and e1 > s0 - NEAR_S for s1, e1 in found) for s0, e0 in said)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=6)
    ap.add_argument("--seed", type=int, default=99)
    ap.add_argument("--dev", action="store_true",
                    help="also the dev recordings allison-dev and mfa-dev (real speech; for choosing)")
    args = ap.parse_args()
    table: dict[tuple[str, str], list] = {}
    trusted: dict[str, list] = {}        # voice -> per refused right text: (aligned, /p b m/ near, /p b m/)
    objected: dict[tuple[str, str], int] = {}     # (voice, kind) -> refused by Whisper's objection alone
    # (voice, kind) -> refused for speech left without words (alignment.Unsaid), and of those, how many
    # Whisper's objection would not have refused before that check (unsaid_speech_rule_2026_12_08)
    unsaid: dict[tuple[str, str], int] = {}
    unsaid_kept: dict[tuple[str, str], int] = {}
    for i, (voice, x, text, other, said) in enumerate(lines(args.sentences, args.seed)
                                                     + (dev_lines() if args.dev else [])):
        # each line's own degradation stream: piper's voice is sampled (not the same audio every
        # run), and a shared stream would change every later line's noise with its length
        rng = np.random.default_rng([args.seed + 1, i])
        x = np.asarray(x, np.float32)
        for cond in ("clean", "degraded"):
            y = x if cond == "clean" else apply_augmentation(x, 16000, draw_augmentation(rng, clean_p=0.0), rng)
            audio = from_array(np.asarray(y, np.float32), 16000)
            hearing = recognition.second_hearing(np.asarray(y, np.float32))     # heard once for the four texts
            if hearing is not None:
                hearing.found()
            for kind, t in wrong_texts(text, other).items():
                try:
                    a = alignment.align(audio, t, second_hearing=lambda *_: hearing)
                    got = (a.excess, a.worst_window)
                except alignment.Objected:
                    got = None
                    objected[(voice, kind)] = objected.get((voice, kind), 0) + 1
                except InputError as refused:
                    got, kept = None, None
                    was_unsaid = isinstance(refused, alignment.Unsaid)
                    if was_unsaid or kind == "right":       # aligned again as Trust Text does, once
                        try:
                            kept = alignment.align(audio, t, trusted=True)
                        except InputError:
                            pass
                    if was_unsaid:          # accepted before that check, unless Whisper objected to it
                        unsaid[(voice, kind)] = unsaid.get((voice, kind), 0) + 1
                        if kept is None or hearing is None or hearing.objection(kept.words) is None:
                            unsaid_kept[(voice, kind)] = unsaid_kept.get((voice, kind), 0) + 1
                    if kind == "right":
                        trusted.setdefault(voice, []).append((1, near(said or [], kept.phones), len(said or []))
                                                             if kept is not None else (0, 0, len(said or [])))
                table.setdefault((voice, kind), []).append(got)
    print(f"limits: mean excess {alignment.MAX_EXCESS:.1f}, worst 2 s window {alignment.MAX_LOCAL_EXCESS:.1f} "
          "(nats per 10 ms frame)")
    print(f"{'':<30}" + "".join(f"{k:^24}" for k in KINDS) + f"{'trusted':>16}")
    print(f"{'voice':<30}" + f"{'refused':>12}{'max excess':>12}" * len(KINDS) + f"{'aligned':>9}{'p b m':>9}")
    for voice in dict.fromkeys(v for v, _ in table):
        row = f"{voice:<30}"
        for kind in KINDS:
            got = table.get((voice, kind), [])
            ok = [g for g in got if g is not None]
            gap = (f"{max(g[0] for g in ok):.1f} / {np.nanmax([g[1] for g in ok] + [np.nan]):.1f}" if ok else "-")
            w, u = objected.get((voice, kind), 0), unsaid.get((voice, kind), 0)
            marks = (f' +W{w}' if w else '') + (f' +U{u}' if u else '')
            row += f"{f'{len(got) - len(ok)}/{len(got)}' + marks:>12}{gap:>12}"
        kept = trusted.get(voice, [])
        total = sum(k[2] for k in kept)
        aligned, near_total = f"{sum(k[0] for k in kept)}/{len(kept)}", f"{sum(k[1] for k in kept)}/{total}"
        row += f"{aligned:>9}{near_total if total else '-':>9}" if kept else f"{'-':>9}{'-':>9}"
        print(row)
    # per kind: texts, and texts accepted with Whisper's objection; the check alone also accepted those it objected to
    texts = {k: sum(len(got) for (_, kk), got in table.items() if kk == k) for k in KINDS}
    accepted = {k: sum(g is not None for (_, kk), got in table.items() if kk == k for g in got) for k in KINDS}
    spared = {k: sum(n for (_, kk), n in objected.items() if kk == k) for k in KINDS}
    before = {k: sum(n for (_, kk), n in unsaid.items() if kk == k) for k in KINDS}
    before_kept = {k: sum(n for (_, kk), n in unsaid_kept.items() if kk == k) for k in KINDS}
    for way, counted, old in (("before the unsaid-speech check, the acoustic check alone", False, before),
                              ("before the unsaid-speech check, with Whisper's objection", True, before_kept),
                              ("the acoustic check alone", False, None),
                              ("with Whisper's objection", True, None)):
        by_kind = {k: accepted[k] + (0 if counted else spared[k]) + (old[k] if old else 0) for k in KINDS}
        wrong = KINDS[1:]
        print(f"{way}: right texts refused {texts['right'] - by_kind['right']} of {texts['right']}; wrong texts "
              f"accepted {sum(by_kind[k] for k in wrong)} of {sum(texts[k] for k in wrong)} ("
              + ", ".join(f"{k} {by_kind[k]}" for k in wrong) + ")")
    kept = [k for v in trusted.values() for k in v]
    print(f"\nright texts refused, then trusted (Trust Text): {sum(k[0] for k in kept)} of {len(kept)} aligned; "
          f"{sum(k[1] for k in kept)} of {sum(k[2] for k in kept)} of the engine's /p b m/ within "
          f"{NEAR_S * 1000:.0f} ms (voices whose engine times them)")
    from talkface.training.corpus import real

    if real.available():
        audio = load_audio(real.path("two_cities"), sr=16000)
        ways = (("the acoustic check alone", None), ("with Whisper's objection", recognition.second_hearing))
        for way, second in ways:
            alignment.align(audio, real.transcript("two_cities"), second_hearing=second)
            t = time.perf_counter()
            alignment.align(audio, real.transcript("two_cities"), second_hearing=second)
            el = time.perf_counter() - t
            print(f"speed ({way}): two_cities ({audio.duration:.1f} s) aligned in {el:.2f} s = "
                  f"{audio.duration / el:.1f}x real time")


if __name__ == "__main__":
    main()
