"""Keys for hand cleanup: how many keys a take keeps, whether every closure survives, how far the
keyed curve strays, and how long writing a take into Blender takes.

    .venv/bin/python bench/keyframes.py [--tolerance 0.01] [--sentences 8] [--minutes 1 5 20] [--fps 25]

Quality (``core.animation.fit_keys``, what ``blender_talkface.keyframes`` writes): the shipped
network's take on synthetic speech (flite's awb and rms voices, the piper joe voice) and on the
real recording that ships in the moonshine-voice wheel, each resampled to the scene rate. Per
channel group: the share of frames that carry a key (channels that never move beyond the
tolerance get no F-curve and are counted apart), the largest error of the keyed curve against
the dense one, and /p b m/ closure (inner-lip gap <= 1 mm during the phone, as in
bench/lipsync.py) on the dense and on the keyed curves. Goal (issue 14): mouth <= 35 % keys at
the default tolerance, the same closure as the dense curve, max error <= tolerance.
Speed: the sample tiled to each length, written onto a mesh with all 52 ARKit shape keys.
Prints tables; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def quality(tolerance: float, sentences: int, fps: float) -> None:
    from talkface.bench.lipsync import bilabial_closed, build_sets, is_bilabial
    from talkface.core.animation import channel_group, fit_keys, is_flat
    from talkface.core.audio import inference
    from talkface.core.face.model import ARKIT_NAMES, load_face_model
    from talkface.training.lip_metrics import gap_mm

    net, model = inference.load_animator(), load_face_model()
    sets = build_sets(["flite", "piper", "real"], "", sentences, 0)
    print(f"tolerance {tolerance:g}, scene {fps:g} fps, clean recordings only")
    print(f"{'set':<7} {'group':<7} {'keys':>7} {'flat ch.':>9} {'max err':>8}   {'closure dense':>13} {'keyed':>6}")
    for name, cases in sets.items():
        keys, frames, flat, worst = {}, {}, {}, {}
        closed_dense, closed_keyed = [], []
        for case in (c for c in cases if c.clean):
            dense = inference.animate(case.audio, net, "Neutral").resample(fps)
            values = dense.values[:, :52].astype(np.float64)
            keyed = values.copy()
            for c, channel in enumerate(ARKIT_NAMES):
                group = channel_group(channel)
                if is_flat(values[:, c], tolerance):
                    flat[group] = flat.get(group, 0) + 1
                    keyed[:, c] = 0.0
                else:
                    fitted = fit_keys(values[:, c], tolerance)
                    keyed[:, c] = fitted.evaluate(len(values))
                    keys[group] = keys.get(group, 0) + len(fitted.index)
                    frames[group] = frames.get(group, 0) + len(values)
                worst[group] = max(worst.get(group, 0.0), float(np.abs(keyed[:, c] - values[:, c]).max()))
            gd, gk = gap_mm(model, values), gap_mm(model, keyed)
            for phone, start, end in case.phones:
                if is_bilabial(str(phone)):
                    closed_dense.append(bilabial_closed(gd, start, end, fps))
                    closed_keyed.append(bilabial_closed(gk, start, end, fps))
        for i, group in enumerate(sorted(set(keys) | set(flat))):
            share = keys.get(group, 0) / frames[group] if frames.get(group) else 0.0
            closure = (f"{100 * np.mean(closed_dense):12.1f}% {100 * np.mean(closed_keyed):5.1f}%"
                       if i == 0 and closed_dense else "")
            print(f"{name if i == 0 else '':<7} {group:<7} {100 * share:6.1f}% {flat.get(group, 0):9d} "
                  f"{worst.get(group, 0.0):8.4f}   {closure}")
    print("keys: share of frames keyed over the channels that move; flat ch.: channel-takes with no F-curve")


def speed(tolerance: float, minutes_list: list[float]) -> None:
    import bpy

    from talkface.blender_talkface import keyframes
    from talkface.core.animation import Animation
    from talkface.core.audio import inference
    from talkface.core.audio.loading import load_audio
    from talkface.core.face.model import ARKIT_NAMES

    anim = inference.animate(load_audio(os.path.join(ROOT, "samples", "speech.wav")), inference.load_animator())
    print(f"{'audio':>8} {'write s':>8} {'s / audio min':>14} {'keys':>9} {'dense':>10} {'kept':>6}")
    for minutes in minutes_list:
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        bpy.ops.mesh.primitive_grid_add()
        obj = bpy.context.object
        obj.shape_key_add(name="Basis")
        for name in ARKIT_NAMES:
            obj.shape_key_add(name=name)
        reps = int(minutes * 60 / anim.duration) + 1
        long = Animation(anim.fps, anim.channels, np.tile(anim.values, (reps, 1))[: int(minutes * 60 * anim.fps)])
        t0 = time.perf_counter()
        take = keyframes.write_take(long, name="bench", start_frame=1, scene_fps=25.0, face_obj=obj,
                                    tolerance=tolerance)
        wall = time.perf_counter() - t0
        print(f"{minutes:7.0f}m {wall:8.2f} {wall / minutes:14.2f} {take.n_keys:9d} {take.n_dense:10d} "
              f"{100 * take.n_keys / take.n_dense:5.1f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tolerance", type=float, default=0.01)
    ap.add_argument("--sentences", type=int, default=8, help="sentences per synthetic voice")
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--minutes", type=float, nargs="*", default=[1.0, 5.0, 20.0])
    args = ap.parse_args()
    quality(args.tolerance, args.sentences, args.fps)
    if args.minutes:
        print()
        speed(args.tolerance, args.minutes)


if __name__ == "__main__":
    main()
