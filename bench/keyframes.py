"""Writing a take into Blender: seconds per take and how many keys survive reduction.

    .venv/bin/python bench/keyframes.py [--minutes 1 5 20] [--tolerance 0.01]

Uses the real network on samples/speech.wav, tiled to each length, and writes it onto a mesh
with all 52 ARKit shape keys through blender_talkface.keyframes (bulk foreach_set + Bezier
check). Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 5.0, 20.0])
    ap.add_argument("--tolerance", type=float, default=0.01)
    args = ap.parse_args()

    import bpy
    import numpy as np

    from talkface.blender_talkface import keyframes
    from talkface.core.animation import Animation
    from talkface.core.audio import inference
    from talkface.core.audio.loading import load_audio
    from talkface.core.face.model import ARKIT_NAMES

    anim = inference.animate(load_audio(os.path.join(ROOT, "samples", "speech.wav")), inference.load_animator())
    print(f"{'audio':>8} {'write s':>8} {'s / audio min':>14} {'keys':>9} {'dense':>10} {'kept':>6}")
    for minutes in args.minutes:
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
                                    tolerance=args.tolerance)
        wall = time.perf_counter() - t0
        print(f"{minutes:7.0f}m {wall:8.2f} {wall / minutes:14.2f} {take.n_keys:9d} {take.n_dense:10d} "
              f"{100 * take.n_keys / take.n_dense:5.1f}%")


if __name__ == "__main__":
    main()
