"""Lip-sync quality, speed and memory of the audio-to-animation network vs a naive baseline.

    .venv/bin/python bench/lipsync.py --data corpus/v3 [--weights weights/animator.safetensors]
        [--hours 1.0]
    .venv/bin/python bench/lipsync.py --engine flite:awb,flite:rms [--sentences 30] [--weights ...]

Quality on the corpus's held-out voices (never seen in training), measured on the face model's
geometry: the inner-lip gap in millimetres of predicted vs reference weights.
  closure  share of /p b m/ phonemes during which the predicted gap closes to <= 1 mm
  r        Pearson correlation of predicted vs reference gap curves
  lag      A/V lag in ms at the peak of their cross-correlation (+ = prediction late)
Speed (x real time, features + network) and peak memory over --hours of audio, in a fresh
process per length so memory is comparable. Goals: closure >= 95 %, r >= 0.85, |lag| <= 20 ms,
>= 100x real time, memory flat in audio length.

--engine: the same closure (and the median minimum gap at /p b m/) on speech from a synthesis
engine never trained on (flite voices awb, rms; kal, kal16 and slt are reserved and refused).
There are no reference weights there, so no r or lag, and no speed section.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from talkface.training.corpus.build import HELD_OUT_VARIANTS
from talkface.training.lip_metrics import gap_mm, lag_ms

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BILABIALS = ("p", "b", "m")


def _is_clean(aug: dict) -> bool:
    """No noise, reverb, band-limit, resampling, codec or clipping in this utterance."""
    return (aug.get("snr_db") == float("inf") and not aug.get("rt60") and not aug.get("via_rate")
            and not aug.get("codec_bits") and not aug.get("clip_at") and list(aug.get("band", [0, 0])) == [0, 0])


def heldout_utterances(folder: str, feature_kind: str = "mfcc"):
    import glob

    with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as fh:
        manifest = json.load(fh)
    channels = tuple(manifest["channels"])
    for shard in sorted(glob.glob(os.path.join(folder, "heldout", "*.npz"))):
        with np.load(shard) as d:
            for i in range(len(d["speaker"])):
                a, b = d["frame_offsets"][i], d["frame_offsets"][i + 1]
                p0, p1 = d["phoneme_offsets"][i], d["phoneme_offsets"][i + 1]
                yield {
                    "features": d["features" if feature_kind == "mfcc" else "features_logmel"][a:b],
                    "energy": d["features"][a:b, 15], "targets": d["targets"][a:b], "channels": channels,
                    "phonemes": d["phoneme"][p0:p1], "starts": d["phoneme_start"][p0:p1],
                    "ends": d["phoneme_end"][p0:p1], "fps": float(manifest["fps"]),
                    "clean": _is_clean(json.loads(d["augmentation"][i])),
                    "variant": str(d["variant"][i]), "accent": str(d["accent"][i]),
                }


def predict_network(net, utt) -> np.ndarray:
    from talkface.core.audio.inference import outputs_to_values
    from talkface.core.audio.network import run_chunked

    out = run_chunked(net, utt["features"], net.styles.weight.mean(0))
    return outputs_to_values(net, out)[:, :52]


def predict_baseline(utt) -> np.ndarray:
    """Audio energy -> jawOpen: the naive lip flap every tool starts from."""
    from talkface.core.face.model import ARKIT_NAMES

    energy = utt["energy"]
    lo, hi = np.percentile(energy, 10), np.percentile(energy, 95)
    w = np.zeros((len(energy), 52), np.float32)
    w[:, ARKIT_NAMES.index("jawOpen")] = 0.5 * np.clip((energy - lo) / max(hi - lo, 1e-6), 0, 1)
    return w


def bilabial_closed(gap: np.ndarray, start: float, end: float, fps: float) -> bool:
    """The closure column's test for one /p b m/ phone: the predicted gap [F] (mm) reaches
    <= 1 mm somewhere from the frame at or before its start to the frame after its end (about a
    frame of slack either side)."""
    a, b = bilabial_window(start, end, fps)
    return bool(gap[a:b].size and gap[a:b].min() <= 1.0)


def bilabial_window(start: float, end: float, fps: float) -> tuple[int, int]:
    """[a, b) frames over which a /p b m/ phone from start to end seconds is judged."""
    return int(np.floor(start * fps)), int(np.ceil(end * fps)) + 1


# --- other synthesis engines (never trained on) ------------------------------------------------

def parse_engines(spec: str) -> list[tuple[str, str]]:
    """'flite:awb,flite:rms' -> [('flite', 'awb'), ('flite', 'rms')]."""
    out = []
    for item in filter(None, (x.strip() for x in spec.split(","))):
        engine, sep, voice = item.partition(":")
        if engine != "flite" or not sep or not voice:
            raise SystemExit(f"--engine: expected flite:VOICE[,flite:VOICE...], got {item!r}")
        from talkface.training.corpus.flite import check_voice

        try:
            check_voice(voice)
        except ValueError as e:
            raise SystemExit(f"--engine: {e}") from None
        out.append((engine, voice))
    return out


def engine_utterances(voice: str, sentences: int, fps: float, feature_kind: str, seed: int = 0):
    """``sentences`` corpus-style texts (the same texts for every voice) spoken by flite
    ``voice``, as heldout_utterances()-like dicts: features, energy, phonemes, starts, ends."""
    from talkface.core.audio.features import FeatureConfig, compute_features
    from talkface.core.audio.loading import from_array
    from talkface.training.corpus import flite
    from talkface.training.corpus.build import make_sentence

    flite.check_voice(voice)
    rng = np.random.default_rng(seed)
    for _ in range(sentences):
        text = make_sentence(rng)
        samples, phones = flite.synthesize(text, voice)
        audio = from_array(samples, flite.SAMPLE_RATE)
        feats = compute_features(audio, FeatureConfig(kind=feature_kind, fps=fps))
        energy = (feats if feature_kind == "mfcc"
                  else compute_features(audio, FeatureConfig(kind="mfcc", fps=fps))).column("log_energy")
        yield {"features": feats.values, "energy": energy, "fps": fps, "text": text,
               "phonemes": [p for p, _, _ in phones], "starts": [s for _, s, _ in phones],
               "ends": [e for _, _, e in phones]}


def engine_quality(utts, predictor, model) -> dict:
    """closure (bilabial_closed over every /p b m/), the median over them of the minimum
    predicted gap in the same window (mm), and their count. No reference weights exist for
    another engine, so there is no r or lag."""
    closed, mins = [], []
    for utt in utts:
        pg = gap_mm(model, predictor(utt))
        fps = utt["fps"]
        for ph, s, e in zip(utt["phonemes"], utt["starts"], utt["ends"]):
            if ph in BILABIALS:
                a, b = bilabial_window(s, e, fps)
                closed.append(bilabial_closed(pg, s, e, fps))
                mins.append(float(pg[a:b].min()) if pg[a:b].size else float("nan"))
    return {"closure": float(np.mean(closed)) if closed else float("nan"),
            "median_min_gap_mm": float(np.nanmedian(mins)) if mins else float("nan"),
            "n_bilabials": len(closed)}


def engine_bench(engines: list[tuple[str, str]], sentences: int, net, model, seed: int = 0) -> list[tuple]:
    """Rows (engine:voice, method, quality dict) for the network and the energy baseline."""
    rows = []
    fps, kind = float(net.cfg.fps), net.cfg.feature_kind
    for engine, voice in engines:
        utts = list(engine_utterances(voice, sentences, fps, kind, seed))
        rows.append((f"{engine}:{voice}", "network", engine_quality(utts, lambda u: predict_network(net, u), model)))
        rows.append((f"{engine}:{voice}", "energy baseline", engine_quality(utts, predict_baseline, model)))
    return rows


def print_engine_table(rows, sentences: int) -> None:
    print(f"{'voice':<12} {'method':<16} {'closure':>8} {'median min gap':>15} {'/p b m/':>8}"
          f"   ({sentences} corpus-style sentences per voice; engines never trained on)")
    for voice, method, q in rows:
        print(f"{voice:<12} {method:<16} {100 * q['closure']:7.1f}% {q['median_min_gap_mm']:12.2f} mm "
              f"{q['n_bilabials']:8d}")
    print("closure: share of /p b m/ whose predicted inner-lip gap reaches <= 1 mm (the held-out "
          "bench's definition). gap r and A/V lag: not available (no reference weights for these engines).")


def quality(data: str, predictor, model, feature_kind: str = "mfcc") -> dict:
    closed, total, preds, refs, lags = 0, 0, [], [], []
    by_kind = {True: [], False: []}
    by_voice: dict[str, list[bool]] = {}
    for utt in heldout_utterances(data, feature_kind):
        ref_w = utt["targets"][:, :52]
        pg, rg = gap_mm(model, predictor(utt)), gap_mm(model, ref_w)
        fps = utt["fps"]
        for ph, s, e in zip(utt["phonemes"], utt["starts"], utt["ends"]):
            if ph in BILABIALS:
                total += 1
                ok = bilabial_closed(pg, s, e, fps)
                closed += ok
                by_kind[utt["clean"]].append(ok)
                voice = utt["variant"] if utt["variant"] in HELD_OUT_VARIANTS else utt["accent"]
                by_voice.setdefault(voice, []).append(ok)
        preds.append(pg)
        refs.append(rg)
        if rg.std() > 0.1 and pg.std() > 0.1:
            lags.append(lag_ms(pg, rg, fps))
    p, r = np.concatenate(preds), np.concatenate(refs)
    return {"closure": closed / max(total, 1), "n_bilabials": total,
            "closure_clean": float(np.mean(by_kind[True])) if by_kind[True] else float("nan"),
            "closure_degraded": float(np.mean(by_kind[False])) if by_kind[False] else float("nan"),
            "r": float(np.corrcoef(p, r)[0, 1]) if p.std() > 0 else float("nan"),
            "lag_ms": float(np.median(lags)) if lags else float("nan"),
            "closure_by_voice": {v: float(np.mean(oks)) for v, oks in sorted(by_voice.items())}}


def speed_child(seconds: float, weights: str | None) -> None:
    """Run in a fresh process: features + network on ``seconds`` of audio; print JSON."""
    import torch

    from talkface.core.audio import inference
    from talkface.core.audio.loading import from_array

    torch.set_num_threads(2)
    net = inference.load_animator_file(weights) if weights else inference.load_animator()
    sr = 16000
    # speech-like: a pitch-varying buzz gated at syllable rate, plus noise; one minute tiled
    t = np.arange(60 * sr, dtype=np.float32) / sr
    buzz = np.sign(np.sin(2 * np.pi * (120 + 30 * np.sin(2 * np.pi * 0.3 * t)) * t))
    gate = (np.sin(2 * np.pi * 4 * t) > 0).astype(np.float32)
    minute = (0.1 * buzz * gate + 0.01 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)
    x = np.resize(minute, int(seconds * sr))
    del t, buzz, gate, minute
    audio = from_array(x, sr)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    anim = inference.animate(audio, net, "Neutral")
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "wall": wall, "rt": seconds / wall,
                      "frames": anim.n_frames, "peak_mb": peak / 1024, "added_mb": (peak - base) / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "corpus", "v3"))
    ap.add_argument("--weights", default=None)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--engine", default=None, metavar="flite:VOICE,...",
                    help="instead of the corpus: speech from another engine (flite:awb,flite:rms)")
    ap.add_argument("--sentences", type=int, default=30, help="with --engine: sentences per voice")
    ap.add_argument("--seed", type=int, default=0, help="with --engine: the sentence generator's seed")
    ap.add_argument("--speed-child", type=float, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.speed_child is not None:
        speed_child(args.speed_child, args.weights)
        return
    from talkface.core.audio import inference
    from talkface.core.face.model import load_face_model

    engines = parse_engines(args.engine) if args.engine else None
    model = load_face_model()
    net = inference.load_animator_file(args.weights) if args.weights else inference.load_animator()
    if engines:
        print_engine_table(engine_bench(engines, args.sentences, net, model, args.seed), args.sentences)
        return
    rows = [("network", quality(args.data, lambda u: predict_network(net, u), model, net.cfg.feature_kind)),
            ("energy baseline", quality(args.data, predict_baseline, model))]
    print(f"{'method':<16} {'closure':>8} {'clean':>7} {'degraded':>9} {'r':>6} {'lag ms':>7}"
          f"   (held-out voices, {rows[0][1]['n_bilabials']} /p b m/)")
    for name, q in rows:
        print(f"{name:<16} {100 * q['closure']:7.1f}% {100 * q['closure_clean']:6.1f}% "
              f"{100 * q['closure_degraded']:8.1f}% {q['r']:6.3f} {q['lag_ms']:7.1f}")
    print()
    voices = rows[0][1]["closure_by_voice"]
    print("closure by held-out voice:", "  ".join(f"{v} {100 * c:.1f}%" for v, c in voices.items()))
    print()
    print(f"{'audio':>8} {'x real time':>12} {'peak MB':>9} {'added MB':>9}")
    for seconds in (60.0, 600.0, 3600.0 * args.hours):
        cmd = [sys.executable, __file__, "--speed-child", str(seconds)] + (["--weights", args.weights] if args.weights else [])
        res = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        print(f"{seconds / 60:7.0f}m {res['rt']:12.0f} {res['peak_mb']:9.0f} {res['added_mb']:9.0f}")


if __name__ == "__main__":
    main()
