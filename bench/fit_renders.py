"""Parameter recovery on images: Blender renders of the fitted, photo-textured face model with
known pose and expression, fitted again from the rendered pixels.

    .venv/bin/python bench/fit_renders.py [--cases 8] [--size 512] [--samples 2]

Unlike bench/fit.py's synthetic landmark sets, these go through the whole photo path: Cycles
render -> MediaPipe landmarks -> least-squares fit. The identity and camera of every render are
those of the astronaut fit, so the fitted pose, expression and camera can be compared with the
truth. Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO = os.path.join(ROOT, "samples", "portrait.png")

# (yaw deg, pitch deg, roll deg, {expression weights}) — head yaw up to the issue's +-30 degrees
CASES = [
    (0, 0, 0, {}),
    (15, 0, 0, {"jawOpen": 0.4}),
    (-15, 5, 0, {"mouthSmileLeft": 0.6, "mouthSmileRight": 0.6}),
    (30, 0, 0, {}),
    (-30, 0, 5, {"jawOpen": 0.25}),
    (0, -8, 0, {"eyeBlinkLeft": 0.8, "eyeBlinkRight": 0.8}),
    (10, 5, -5, {"browInnerUp": 0.7}),
    (-5, 0, 0, {"mouthFunnel": 0.5, "jawOpen": 0.15}),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=len(CASES))
    ap.add_argument("--samples", type=int, default=2)
    args = ap.parse_args()

    import bpy

    from talkface.blender_talkface import face_object
    from talkface.core.face.fitting import fit_photo
    from talkface.core.face.image_io import load_photo
    from talkface.core.face.landmarks import detect_landmarks
    from talkface.core.face.model import ARKIT_NAMES, load_face_model

    model = load_face_model()
    base = fit_photo(load_photo(PHOTO), detect_landmarks(load_photo(PHOTO)), model)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    face = face_object.create_face(bpy.context, base, model, PHOTO)
    head = face.parent
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = args.samples
    scene.cycles.use_denoising = False
    scene.view_settings.view_transform = "Standard"
    world = bpy.data.worlds.new("grey")
    world.color = (0.35, 0.35, 0.35)
    scene.world = world
    keys = face.data.shape_keys.key_blocks
    out_dir = tempfile.mkdtemp(prefix="talkface-fit-renders-")

    rows = []
    for k, (yaw, pitch, roll, weights) in enumerate(CASES[: args.cases]):
        for name in ARKIT_NAMES:
            keys[name].value = weights.get(name, 0.0)
        true_rot = np.array(base.pose[:3]) + np.radians([pitch, 0.0, 0.0]) + np.radians([0.0, roll, yaw])
        head.rotation_euler = tuple(true_rot)
        scene.render.filepath = os.path.join(out_dir, f"case{k}.png")
        t0 = time.perf_counter()
        bpy.ops.render.render(write_still=True)
        render_s = time.perf_counter() - t0
        photo = load_photo(scene.render.filepath)
        t0 = time.perf_counter()
        try:
            fit = fit_photo(photo, detect_landmarks(photo), model)
        except Exception as exc:  # noqa: BLE001 - a failed case is a row, not a crash
            rows.append((k, yaw, pitch, roll, f"fit failed: {exc}"))
            continue
        fit_s = time.perf_counter() - t0
        truth = np.array([weights.get(n, 0.0) for n in ARKIT_NAMES])
        active = [ARKIT_NAMES.index(n) for n in weights] or [ARKIT_NAMES.index("jawOpen")]
        rot_err = np.degrees(np.abs(np.asarray(fit.pose[:3]) - true_rot)).max()
        rows.append((k, yaw, pitch, roll,
                     f"{rot_err:7.2f} {np.abs(fit.expression - truth)[active].max():8.2f} "
                     f"{np.abs(fit.expression - truth).mean():8.3f} "
                     f"{100 * (fit.camera.focal / base.camera.focal - 1):+8.1f} "
                     f"{100 * fit.error_iod:6.2f} {render_s:6.1f} {fit_s:5.2f}"))
    print("case  yaw pitch roll  rot err  active    mean   focal  err    render  fit")
    print("      deg  deg   deg    deg    w err   w err     %    %IOD     s     s")
    for k, yaw, pitch, roll, text in rows:
        print(f"{k:4d} {yaw:4d} {pitch:5d} {roll:4d}  {text}")
    print(f"(renders in {out_dir}; truth identity/camera = astronaut fit, "
          f"focal {base.camera.focal:.0f} px)")


if __name__ == "__main__":
    main()
