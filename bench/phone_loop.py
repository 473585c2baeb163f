"""How well the phone loop hears /p b m/: TalkFace's own loop (``core.audio.phone_loop``) at several
insertion penalties beside PocketSphinx's ``allphone`` search (the loop before it), and its closure
detector (forward-backward posteriors of /p b m/ over a threshold) at several acoustic scales and
thresholds, on the same test sets as ``bench/lipsync.py``.

    .venv/bin/python bench/phone_loop.py [--sets espeak,flite,piper] [--penalties -3,-5,-7,-10,-15]
        [--scales 1,0.5,0.25,0.12] [--thresholds 0.5,0.3,0.15,0.08] [--data corpus/v3] [--sentences 30] [--words]

Columns per set and decoder:
  recall   share of the reference /p b m/ that a heard /p b m/ overlaps within +-30 ms
  false    heard /p b m/ that overlap no reference /p b m/ within +-30 ms (they shut the lips
           where nothing does), and all heard
  s/min    decoding time per minute of audio (the own loop: its Viterbi only; the phone scores it
           decodes are computed for the network's posteriors anyway)
Each penalty runs without and (--bigram-penalties) with the phone bigram that PocketSphinx's search
used; the rows 'post SCALE>THRESHOLD' are the closure detector (the bigram loop at the shipped
penalty): /p b m/ heard where their posterior exceeds the threshold. The decoder is chosen on the
synthetic sets only (espeak, flite, piper): the largest mean recall whose false /p b m/, summed over
those sets, stay at or below allphone's. The real recordings ('real') are a test: report them, never
choose on them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lipsync  # noqa: E402  (the test sets)

from talkface.core.audio import phone_loop, phones, senones  # noqa: E402
from talkface.core.audio.loading import Audio  # noqa: E402

TOLERANCE_S = 0.03


def _decoded_chunks(audio: Audio, **settings):
    """(chunk start sample, chunk end sample, the decoder after it) for each of the add-on's chunks,
    each decoded from the model's initial state by a PocketSphinx decoder with ``settings``."""
    from pocketsphinx import Decoder

    dec = Decoder(hmm=os.path.join(phones.model_dir(), "en-us"), samprate=16000, loglevel="FATAL", **settings)
    cmn = dec.get_cmn()
    for a, b in phones.chunk_bounds(audio.samples, audio.sample_rate):
        dec.reinit_feat()
        dec.set_cmn(cmn)
        dec.start_utt()
        dec.process_raw(phones.to_pcm16(audio.samples[a:b]).tobytes(), full_utt=True)
        dec.end_utt()
        yield a, b, dec


def allphone(audio: Audio) -> list[tuple[str, float, float]]:
    """PocketSphinx's phone loop with the settings TalkFace shipped before its own loop (narrow
    beams, 2 Gaussians per senone, language weight 1), chunk by chunk as it ran them."""
    out = []
    for a, _, dec in _decoded_chunks(audio, allphone=os.path.join(phones.model_dir(), "en-us-phone.lm.bin"),
                                     beam=1e-30, pbeam=1e-30, topn=2, lw=1.0):
        t0 = a / audio.sample_rate
        out += [(seg.word.upper(), t0 + seg.start_frame * phones.FRAME_S, t0 + (seg.end_frame + 1) * phones.FRAME_S)
                for seg in dec.seg()]
    return out


def words(audio: Audio) -> list[tuple[str, float, float]]:
    """The 'words' listening mode's phones: word recognition with PocketSphinx's US-English
    language model and dictionary (what Rhubarb Lip Sync does), the words aligned to their chunk
    (``core.audio.recognition``)."""
    from talkface.core.audio import recognition

    return recognition.recognise(audio).phones


def own_loop(chunks: list, penalty: float, follow: np.ndarray | None) -> list[tuple[str, float, float]]:
    model = senones.acoustic_model()
    return [(p.phone, p.start, p.end) for t0, states in chunks
            for p in phone_loop.chunk_phones(t0, states, model, penalty, follow)]


def detector(chunks: list, scale: float, threshold: float, follow: np.ndarray) -> list[tuple[str, float, float]]:
    model = senones.acoustic_model()
    return [(p.phone, p.start, p.end) for t0, states in chunks
            for p in phone_loop.closures(t0, states, model, follow, threshold, scale)]


def bilabial_counts(reference: list, heard: list) -> tuple[int, int, int, int]:
    """(reference /p b m/ heard, reference /p b m/, heard /p b m/ with no reference, heard /p b m/)."""
    ref = [(float(s), float(e)) for p, s, e in reference if lipsync.is_bilabial(str(p))]
    got = [(s, e) for p, s, e in heard if phones.phone_class(p) == "bilabial"]
    near = lambda a, b: a[0] < b[1] + TOLERANCE_S and a[1] > b[0] - TOLERANCE_S   # noqa: E731
    hits = sum(any(near(g, r) for g in got) for r in ref)
    false = sum(not any(near(g, r) for r in ref) for g in got)
    return hits, len(ref), false, len(got)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="espeak,flite,piper")
    ap.add_argument("--penalties", default="-3,-5,-7,-10,-15", help="penalties without the phone bigram")
    ap.add_argument("--bigram-penalties", default="0,-2,-4,-7",
                    help="penalties with the phone bigram (weight 1) between phones; '' for none")
    ap.add_argument("--scales", default="1,0.5,0.25,0.12", help="closure detector: acoustic scales ('' for none)")
    ap.add_argument("--thresholds", default="0.5,0.3,0.15,0.08", help="closure detector: posterior thresholds")
    ap.add_argument("--data", default=os.path.join(lipsync.ROOT, "corpus", "v3"))
    ap.add_argument("--sentences", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--words", action="store_true", help="also word recognition with the language model, aligned")
    args = ap.parse_args()
    penalties = [(float(p), None) for p in args.penalties.split(",") if p]
    bigram = phone_loop.phone_bigram()
    penalties += [(float(p), bigram) for p in args.bigram_penalties.split(",") if p]
    model = senones.acoustic_model()
    print(f"{'set':<8} {'decoder':<16} {'recall':>7} {'false':>13} {'s/min':>6}")
    for name, cases in lipsync.build_sets(args.sets.split(","), args.data, args.sentences, args.seed).items():
        minutes = sum(c.audio.duration for c in cases) / 60.0
        scored = []
        for c in cases:
            chunks = []
            senones.phone_logliks(c.audio, model, each_chunk=lambda t0, s, into=chunks: into.append((t0, s)))
            scored.append(chunks)
        rows = [("allphone", lambda i: allphone(cases[i].audio))] + ([("words", lambda i: words(cases[i].audio))]
                                                                     if args.words else [])
        rows += [(f"own {p:g}" + (" bigram" if f is not None else ""), lambda i, p=p, f=f: own_loop(scored[i], p, f))
                 for p, f in penalties]
        rows += [(f"post {k:g}>{th:g}", lambda i, k=k, th=th: detector(scored[i], k, th, bigram))
                 for k in (float(v) for v in args.scales.split(",") if v)
                 for th in (float(v) for v in args.thresholds.split(",") if v)]
        for label, hear in rows:
            t0, total = time.perf_counter(), np.zeros(4, int)
            for i, c in enumerate(cases):
                total += bilabial_counts(c.phones, hear(i))
            spent = (time.perf_counter() - t0) / minutes
            hits, n, false, heard = total
            print(f"{name + ('' if name != 'real' else ' (test)'):<8} {label:<16} {hits / max(n, 1):7.3f} "
                  f"{false:6d}/{heard:<6d} {spent:6.2f}", flush=True)


if __name__ == "__main__":
    main()
