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
    .venv/bin/python bench/adaptation.py --end-to-end allison-dev,mfa-dev [--sources loop,words]

``--end-to-end`` scores the whole words mode (network, phone loop, seals) with ``bench/lipsync.py``'s
closure table, as shipped and with the recogniser adapted to each recording (``adapted_words_mode``).
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from talkface.core.audio import alignment, recognition, senones, sphinx_helper
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


def words_phones(x: np.ndarray, extra: dict) -> tuple[list, float]:
    """The words mode's timed phones of ``x`` with ``extra`` decoder settings, and the mean
    per-frame score of the aligned words (log base 1.0001, best senone per frame as 0)."""
    key = json.dumps(extra, sort_keys=True)
    if key not in _DECODERS or "mllr" in extra:    # an MLLR file is read as the decoder starts: always anew
        _DECODERS.clear()
        settings = recognition.decoder_settings()
        _DECODERS[key] = sphinx_helper.Decoders({k: dict(v, **extra) for k, v in settings.items()})
    decoders, phones, score, frames = _DECODERS[key], [], 0.0, 0
    for a, b in chunk_bounds(x, recognition.SAMPLE_RATE):
        pcm = to_pcm16(x[a:b]).tobytes()
        hyp = sphinx_helper.decode(decoders, "recognise", pcm).hyp()
        words = hyp.hypstr.split() if hyp is not None else []
        if not words:
            continue
        dec = decoders("words")
        dec.set_align_text(" ".join(words))
        sphinx_helper.decode(decoders, "words", pcm)
        if dec.hyp() is None:
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


@functools.lru_cache(maxsize=1)
def _model_gaussians() -> tuple[np.ndarray, np.ndarray]:
    """The model's Gaussian means and (floored) variances, [streams, codebooks, 128, 13], read once."""
    folder = os.path.join(senones.model_dir(), "en-us")
    means = senones._s3_gaussians(os.path.join(folder, "means")).astype(np.float64)
    var = np.maximum(senones._s3_gaussians(os.path.join(folder, "variances")), senones.VARIANCE_FLOOR)
    return means, var.astype(np.float64)


def mllr_transform(x: np.ndarray, phones: list, diagonal: bool, tau: float = 0.0) -> list[np.ndarray]:
    """Per stream, [13, 14] rows [A | b] mapping the model's means (mu -> A mu + b) towards ``x``
    aligned to ``phones``: one EM step, each speech frame's Gaussians weighted by their posterior
    in its phone's best context-independent state (``senones``' front end and model). ``tau``
    (frames) pulls it towards no change: the result is (n W + tau I) / (n + tau) over n speech frames."""
    model = senones.acoustic_model()
    means, var = _model_gaussians()
    log_w = np.log(np.maximum(model.mixw.numpy().astype(np.float64), 1e-30))     # [streams, phones, states, 128]
    feats = senones.streams(senones.cepstra(to_pcm16(x))).numpy().astype(np.float64)
    index = {n: i for i, n in enumerate(model.phones)}
    label = np.full(feats.shape[1], index["SIL"])
    for p, s, e in phones:
        a, b = (int(round((t - senones.CENTRE_S) * 100)) for t in (s, e))
        label[max(a, 0):max(min(b, len(label)), 0)] = index.get(p.upper().rstrip("012"), index["SIL"])
    speech = np.flatnonzero(label != index["SIL"])
    identity = np.hstack([np.eye(13), np.zeros((13, 1))])
    out = []
    for st in range(feats.shape[0]):
        G, k = np.zeros((13, 14, 14)), np.zeros((13, 14))
        for t in speech:
            p, o = label[t], feats[st, t]
            mu, v = means[st, p], var[st, p]
            joint = log_w[st, p] - 0.5 * (np.log(2 * np.pi * v) + (o - mu) ** 2 / v).sum(-1)   # [states, 128]
            best = joint[np.argmax(np.logaddexp.reduce(joint, 1))]
            g = np.exp(best - np.logaddexp.reduce(best))
            keep = g > 1e-4
            xi = np.concatenate([mu[keep], np.ones((keep.sum(), 1))], 1)
            weight = g[keep][:, None] / v[keep]
            G += np.einsum("ji,ja,jb->iab", weight, xi, xi)
            k += np.einsum("ji,ja->ia", weight * o[None], xi)
        W = identity.copy()
        for i in range(13):
            if not G[i].any():
                continue
            if diagonal:
                both = [i, 13]
                W[i, both] = np.linalg.solve(G[i][np.ix_(both, both)], k[i][both])
            else:
                W[i] = np.linalg.solve(G[i], k[i])
        out.append((len(speech) * W + tau * identity) / max(len(speech) + tau, 1e-9))
    return out


def write_mllr(rows: list[np.ndarray], path: str) -> None:
    """PocketSphinx's MLLR file: classes, streams, then per stream its width, A, b and variance scales."""
    with open(path, "w", encoding="ascii") as fh:
        fh.write(f"1\n{len(rows)}\n")
        for W in rows:
            fh.write(f"{len(W)}\n")
            fh.writelines(" ".join(f"{v:.6f}" for v in r) + "\n" for r in W[:, :-1])
            fh.write(" ".join(f"{v:.6f}" for v in W[:, -1]) + "\n" + " ".join(["1.0"] * len(W)) + "\n")


def run_variant(name: str, cases: list, extra: dict | None = None, mllr: tuple[str, bool, float] | None = None,
                first_pass: list | None = None) -> tuple[str, list]:
    """``name``'s (set, hits, bilabials, false, score, phones) per case."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (set_name, _, x, ref) in enumerate(cases):
            settings = dict(extra or {})
            if mllr is not None:
                source, diagonal, tau = mllr
                path = os.path.join(tmp, f"{i}.mllr")
                write_mllr(mllr_transform(x, ref if source == "sup" else first_pass[i], diagonal, tau), path)
                settings["mllr"] = path
            phones, score = words_phones(x, settings)
            rows.append((set_name, *hits(ref, phones), score, phones))
    return name, rows


def adapted_words_mode(source: str, tau: float = 300.0):
    """A ``bench/lipsync.py`` predictor: the words mode with the model's means adapted (full MLLR,
    ``tau``) to each recording, its /p b m/ sealed as the words mode seals them. ``source`` 'words':
    the words mode as shipped first (helpers and all), then a second, adapted recognition pass here;
    'loop': the phone loop's phones (which the words mode computes anyway) give the transform and
    the only recognition pass is adapted."""
    from talkface.bench import lipsync
    from talkface.core.audio import inference

    class AdaptedWords(lipsync.Network):
        def __init__(self):
            super().__init__("shipped")
            self.name += f" +words, MLLR from the {source} (tau {tau:g})"

        def predict(self, case):
            if source == "words":
                first, listened = inference.recognise_and_listen(case.audio, self.net)
                heard = first.phones
            else:
                listened = inference.listen_to(case.audio, self.net, hear=True)
                heard = listened.heard
            x = samples_16k(case.audio)
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "take.mllr")
                write_mllr(mllr_transform(x, heard, False, tau), path)
                adapted, _ = words_phones(x, {"mllr": path})
            return inference.animate(case.audio, self.net, "Neutral", listened=listened, recognised=adapted)

    return AdaptedWords()


def end_to_end(sets: str, sources: list[str], tau: float) -> None:
    """``bench/lipsync.py``'s closure table for the words mode as shipped and adapted."""
    from talkface.bench import lipsync

    built = lipsync.build_sets(sets.split(","), "", 30, 0)
    face = lipsync.load_face_model()
    results = []
    for pred in [lipsync.NetworkWithWords("shipped")] + [adapted_words_mode(s, tau) for s in sources]:
        for name, cases in built.items():
            results.append((pred.name, name, lipsync.SET_SOURCE.get(name) in pred.trained_on,
                            lipsync.score(cases, pred, face)))
    lipsync.print_table(results)


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
                         "words mode as shipped and with MLLR from --sources at the first --tau (default 300)")
    ap.add_argument("--sources", default="loop,words", help="--end-to-end: what the transform is estimated from")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    if args.end_to_end:
        tests = {"real", "real-new"} & set(args.end_to_end.split(","))
        if tests:
            ap.error(f"{', '.join(sorted(tests))}: test sets; choose on the dev sets (and check the seen engines)")
        end_to_end(args.end_to_end, [s for s in args.sources.split(",") if s],
                   float(args.tau.split(",")[0]) if args.tau else 300.0)
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
