"""Does adapting the recogniser to the speaker help the words mode hear /p b m/? (dev sets only)

The words listening mode (``core.audio.recognition``) misses /p b m/ mostly where PocketSphinx
mishears the words of a voice unlike those it was trained on. Speaker adaptation is the classic
answer; this bench measures two kinds on the dev recordings (allison-dev and mfa-dev, clean;
``bench/lipsync.py``'s sets, never real or real-new):

  vtln    vocal-tract length normalisation: PocketSphinx's own front-end frequency warp
          (``warp_type inverse_linear``) at fixed factors, and per recording the factor whose
          aligned path scores best;
  mllr    a maximum-likelihood linear regression of the model's Gaussian means, one global class
          per stream (``-mllr``, the file ``ps_mllr_read`` reads), estimated from the recording's
          own alignment -- 'unsup': the words the unadapted recogniser heard; 'sup': the reference
          alignment of its text (an upper bound no user gets) -- full 13x14 or diagonal + bias.

Each row is the share of the reference /p b m/ that a recognised /p b m/ overlaps within 30 ms
(the words mode's phones alone, before the network and the phone loop join them), and the
recognised /p b m/ that overlap none.

    .venv/bin/python bench/adaptation.py [--vtln 0.88,0.92,0.96,1.04,1.08] [--mllr] [--tau 100,300]
    .venv/bin/python bench/adaptation.py --end-to-end allison-dev,mfa-dev

The words mode now adapts the model to each take (full MLLR, tau 300, from the phone loop's phones:
``core.audio.adaptation``). ``--end-to-end`` scores the whole words mode (network, phone loop,
seals) with ``bench/lipsync.py``'s closure table, as shipped and with the model left as it comes
(``unadapted_words_mode``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from talkface.core.audio import adaptation, alignment, recognition, senones, sphinx_helper
from talkface.core.audio.loading import resample
from talkface.core.audio.phones import chunk_bounds, to_pcm16

TOLERANCE_S = 0.03
DEV_SETS = ("allison-dev", "mfa-dev")


def samples_16k(audio) -> np.ndarray:
    """``audio``'s samples at the recogniser's 16 kHz."""
    x = np.asarray(audio.samples, np.float32)
    if audio.sample_rate != recognition.SAMPLE_RATE:
        x = resample(x, audio.sample_rate, recognition.SAMPLE_RATE)
    return x


def dev_cases() -> list[tuple[str, str, np.ndarray, list]]:
    """(set, voice, 16 kHz samples, reference phones) of the clean dev recordings."""
    from talkface.bench import lipsync

    return [(case.set, case.voice, samples_16k(case.audio), case.phones)
            for case in lipsync.allison_dev_cases(0) + lipsync.mfa_dev_cases(0) if case.clean]


def hits(reference: list, heard: list) -> tuple[int, int, int]:
    """(reference /p b m/ heard within TOLERANCE_S, reference /p b m/, heard ones near none)."""
    from talkface.bench.lipsync import is_bilabial

    ref = [(s, e) for p, s, e in reference if is_bilabial(p)]
    got = [(s, e) for p, s, e in heard if is_bilabial(p)]
    near = lambda a, b: a[0] <= b[1] + TOLERANCE_S and a[1] >= b[0] - TOLERANCE_S   # noqa: E731
    return (sum(any(near(g, r) for g in got) for r in ref), len(ref),
            sum(not any(near(g, r) for r in ref) for g in got))


_DECODERS: dict = {}


def words_phones(x: np.ndarray, extra: dict, mllr: str = "") -> tuple[list, float]:
    """The words mode's timed phones of ``x`` with ``extra`` decoder settings and the model's means
    moved by ``mllr`` (an MLLR file's text, ``sphinx_helper.Decoders.adapt``), and the mean
    per-frame score of the aligned words (log base 1.0001, best senone per frame as 0)."""
    key = json.dumps(extra, sort_keys=True)
    if key not in _DECODERS:
        _DECODERS.clear()
        settings = recognition.decoder_settings()
        _DECODERS[key] = sphinx_helper.Decoders({k: dict(v, **extra) for k, v in settings.items()})
    decoders, phones, score, frames = _DECODERS[key], [], 0.0, 0
    decoders.adapt(mllr)
    for a, b in chunk_bounds(x, recognition.SAMPLE_RATE):
        pcm = to_pcm16(x[a:b]).tobytes()
        hyp = sphinx_helper.decode(decoders, "recognise", pcm).hyp()
        words = hyp.hypstr.split() if hyp is not None else []
        if not words:
            continue
        dec = sphinx_helper.word_pass(decoders, " ".join(words), pcm)
        if dec is None:
            continue
        score += np.log(max(dec.hyp().score, 1e-300)) / np.log(1.0001)
        frames += (b - a) // senones.HOP
        dec.set_alignment()
        try:
            sphinx_helper.decode(decoders, "words", pcm)
        except RuntimeError:
            continue
        answer = [(w.name, w.start, w.duration, [(p.name, p.start, p.duration) for p in w])
                  for w in dec.get_alignment().words()]
        phones += alignment.timed_answer(answer, a / recognition.SAMPLE_RATE)[1]
    return phones, score / max(frames, 1)


def run_variant(name: str, cases: list, extra: dict | None = None, mllr: tuple[str, bool, float] | None = None,
                first_pass: list | None = None) -> tuple[str, list]:
    """``name``'s (set, hits, bilabials, false, score, phones) per case."""
    rows = []
    for i, (set_name, _, x, ref) in enumerate(cases):
        text = ""
        if mllr is not None:
            source, diagonal, tau = mllr
            text = adaptation.mllr_text(adaptation.estimate(
                x, recognition.SAMPLE_RATE, ref if source == "sup" else first_pass[i], tau, diagonal))
        phones, score = words_phones(x, dict(extra or {}), text)
        rows.append((set_name, *hits(ref, phones), score, phones))
    return name, rows


def unadapted_words_mode():
    """A ``bench/lipsync.py`` predictor: the words mode with the recogniser's model as shipped
    (``recognition.recognise(adapt=False)``), to set beside the words mode, which adapts it."""
    from talkface.bench import lipsync
    from talkface.core.audio import inference, listening

    class UnadaptedWords(lipsync.Network):
        def __init__(self):
            super().__init__("shipped")
            self.name += " +words, model not adapted"

        def predict(self, case):
            listened = listening.listen_to(case.audio, self.net, hear=True)
            found = recognition.recognise(case.audio, adapt=False)
            return inference.animate(case.audio, self.net, "Neutral", listened=listened, recognised=found)

    return UnadaptedWords()


def adapted_model(rows: list[np.ndarray]):
    """``senones.acoustic_model()`` with its means moved by ``rows`` (``adaptation.estimate``)."""
    from dataclasses import replace

    means, var, _, _ = adaptation._model()
    moved = np.einsum("scjd,sed->scje", means, np.stack([W[:, :-1] for W in rows])) + np.stack(
        [W[:, -1] for W in rows])[:, None, None]
    project, offset = senones.gaussian_terms(moved, var)
    f32 = lambda a: torch.tensor(np.ascontiguousarray(a), dtype=torch.float32)   # noqa: E731
    return replace(senones.acoustic_model(), project=f32(project), offset=f32(offset))


def adapted_phone_loop(tau: float = adaptation.TAU_FRAMES, rounds: int = 1, posteriors: bool = False):
    """A ``bench/lipsync.py`` predictor: the default path, its closures heard again by the phone
    loop on the model adapted (full MLLR, ``tau``) to the phones the loop heard before, ``rounds``
    times; ``posteriors``: the network reads the adapted model's phone posteriors too (else its
    input is left as it is)."""
    from dataclasses import replace

    from talkface.bench import lipsync
    from talkface.core.audio import inference, listening, phone_loop
    from talkface.core.audio.loading import from_array

    class AdaptedLoop(lipsync.Network):
        def __init__(self):
            super().__init__("shipped")
            self.name += (f" loop{' + posteriors' if posteriors else ''} adapted, tau {tau:g}"
                          + (f" x{rounds}" if rounds > 1 else ""))

        def predict(self, case):
            listened = listening.listen_to(case.audio, self.net, hear=True)
            x = samples_16k(case.audio)
            heard = listened.heard
            for _ in range(rounds):
                model = adapted_model(adaptation.estimate(x, recognition.SAMPLE_RATE, heard, tau))
                found = phone_loop.hear(from_array(x, recognition.SAMPLE_RATE, recognition.SAMPLE_RATE), model)
                heard = phone_loop.as_timed(found.phones)
            closures = phone_loop.as_timed(found.closures)
            listened = replace(listened, closures=closures)
            if posteriors:
                listened = replace(listened, posteriors=listening.posteriors_for(
                    case.audio, len(listened.features), self.net.cfg.fps, found.logliks))
            return inference.animate(case.audio, self.net, "Neutral", listened=listened)

    return AdaptedLoop()


def end_to_end(sets: str, loop: str = "") -> None:
    """``bench/lipsync.py``'s closure table for the words mode with and without adaptation
    (``loop``, 'tau[xrounds],...': the default path as shipped and with the phone loop adapted)."""
    from talkface.bench import lipsync

    built = lipsync.build_sets(sets.split(","), "", 30, 0)
    face = lipsync.load_face_model()
    results = []
    variants = [v.rstrip("p").split("x") + [v.endswith("p")] for v in loop.split(",") if v]
    predictors = ([lipsync.Network("shipped")] + [adapted_phone_loop(float(v[0]), int(v[1]) if len(v) > 2 else 1,
                                                                     v[-1]) for v in variants] if loop
                  else (unadapted_words_mode(), lipsync.NetworkWithWords("shipped")))
    for pred in predictors:
        for name, cases in built.items():
            results.append((pred.name, name, lipsync.seen(name, pred.trained_on),
                            lipsync.score(cases, pred, face)))
    lipsync.print_table(results)


def words_of(text: str) -> list[str]:
    """Lower-case words, punctuation dropped (apostrophes kept)."""
    return re.findall(r"[a-z']+", text.lower())


def word_errors(reference: list[str], heard: list[str]) -> int:
    """Substitutions, deletions and insertions that turn ``reference`` into ``heard`` (Levenshtein)."""
    row = list(range(len(heard) + 1))
    for i, r in enumerate(reference, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(heard, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def heard_words(sets: str) -> None:
    """Word error rate of the words the recogniser hears (what Use Heard Words starts a dialog text
    from), with and without adaptation, on the clean cases of ``sets``."""
    from talkface.bench import lipsync

    built = lipsync.build_sets(sets.split(","), "", 30, 0)
    print(f"{'set':14s} {'words':>6s} {'WER as shipped':>15s} {'WER adapted':>12s}")
    for name, cases in built.items():
        n = errors = adapted = 0
        for case in (c for c in cases if c.clean):
            ref = words_of(case.extra["text"])
            n += len(ref)
            errors += word_errors(ref, recognition.recognise(case.audio, adapt=False).text.split())
            adapted += word_errors(ref, recognition.recognise(case.audio).text.split())
        print(f"{name:14s} {n:6d} {errors / max(n, 1):15.1%} {adapted / max(n, 1):12.1%}")


def _table(results: dict[str, list]) -> None:
    print(f"{'variant':32s}" + "".join(f"{s:>22s}" for s in DEV_SETS))
    for name, rows in results.items():
        cells = []
        for s in DEV_SETS:
            h, n, f = (sum(r[j] for r in rows if r[0] == s) for j in (1, 2, 3))
            cells.append(f"{h / max(n, 1):7.3f} ({h}/{n}) +{f:<3d}")
        print(f"{name:32s}" + "".join(f"{c:>22s}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vtln", default="", help="warp factors to try, comma-separated (e.g. 0.88,0.92,1.04)")
    ap.add_argument("--mllr", action="store_true", help="also adapt the means (unsup and sup, full and diagonal)")
    ap.add_argument("--tau", default="", help="also unsup full MLLR pulled towards no change by these frame counts")
    ap.add_argument("--end-to-end", metavar="SETS", default="",
                    help="instead: bench/lipsync.py's table on these sets (e.g. allison-dev,mfa-dev) for the "
                         "words mode (which adapts the model) and the same with the model as shipped")
    ap.add_argument("--loop", default="", metavar="TAU[xROUNDS][p],...",
                    help="--end-to-end: the default path with its phone loop adapted (e.g. 300,100,300x2; "
                         "p: the network's phone posteriors too) instead of the words mode")
    ap.add_argument("--heard-words", metavar="SETS", default="",
                    help="instead: word error rate of the words heard, adapted and not, on these sets")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    chosen = args.end_to_end or args.heard_words
    tests = {"real", "real-new"} & set(chosen.split(","))
    if tests:
        ap.error(f"{', '.join(sorted(tests))}: test sets; choose on the dev sets (and check the seen engines)")
    if args.end_to_end:
        end_to_end(args.end_to_end, args.loop)
        return 0
    if args.heard_words:
        heard_words(args.heard_words)
        return 0
    cases = dev_cases()
    warps = [float(w) for w in args.vtln.split(",") if w]
    # spawned, not forked: a forked child of a process whose torch threads have run can hang in torch
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = [pool.submit(run_variant, "as shipped", cases)]
        jobs += [pool.submit(run_variant, f"vtln warp {w:g}", cases,
                             {"warp_type": "inverse_linear", "warp_params": f"{w:g}"}) for w in warps]
        results = dict(j.result() for j in jobs)
        if warps:                       # per recording, the warp whose aligned path scores best
            tried = ["as shipped"] + [f"vtln warp {w:g}" for w in warps]
            results["vtln, best-scoring warp"] = [max((results[t][i] for t in tried), key=lambda r: r[4])
                                                  for i in range(len(cases))]
        heard = [r[5] for r in results["as shipped"]]
        variants = [(f"mllr {src} {'diagonal' if d else 'full'}", (src, d, 0.0))
                    for src in ("unsup", "sup") for d in (True, False) if args.mllr]
        taus = [float(t) for t in args.tau.split(",") if t]
        variants += [(f"mllr unsup full, tau {t:g}", ("unsup", False, t)) for t in taus]
        jobs = [pool.submit(run_variant, name, cases, None, how, heard) for name, how in variants]
        results.update(j.result() for j in jobs)
    _table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
