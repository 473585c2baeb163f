"""Benchmark of the one-shot photo fit (issue 3, item 6).

Real photos that ship inside installed packages (scikit-image's astronaut, matplotlib's Grace
Hopper, faces from scikit-image's LFW subset) give the landmark reprojection error as a fraction
of the inter-ocular distance (goal <= 3 %) and the time per photo (goal <= 2 s on 2 cores).
Synthetic landmark sets projected from the model with known identity, expression, pose and
camera give parameter-recovery errors.

    .venv/bin/python bench/fit.py [--synthetic N] [--lfw N] [--noise 0.01] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import numpy as np

from talkface.core.face.camera import Camera
from talkface.core.face.fitting import FitConfig, fit_landmarks, fit_photo, inter_ocular
from talkface.core.face.image_io import Photo, load_photo
from talkface.core.face.landmarks import detect_landmarks
from talkface.core.face.model import ARKIT_NAMES, load_face_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Expression channels the synthetic faces use: what a portrait photo plausibly shows.
SYNTH_CHANNELS = ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft",
                  "eyeBlinkRight", "browInnerUp", "mouthFunnel", "mouthPucker",
                  "mouthFrownLeft", "mouthFrownRight", "eyeWideLeft", "eyeWideRight",
                  "browDownLeft", "browDownRight")


def _u8_photo(rgb: np.ndarray, name: str) -> Photo:
    return Photo(rgb=rgb.astype(np.float32) / 255.0, path=name, sha256="",
                 original_size=(rgb.shape[1], rgb.shape[0]))


def real_photos(n_lfw: int) -> list[Photo]:
    """Public-domain / research photos shipped in installed wheels; nothing is downloaded."""
    import skimage.data
    from matplotlib.cbook import get_sample_data

    hopper = load_photo(get_sample_data("grace_hopper.jpg", asfileobj=False))
    photos = [_u8_photo(skimage.data.astronaut(), "skimage astronaut"),
              dataclasses.replace(hopper, path="matplotlib grace_hopper")]
    if n_lfw:
        import cv2

        faces = skimage.data.lfw_subset()[:100]  # the first 100 of the 200 crops are faces
        for i, face in enumerate(faces[:n_lfw]):
            big = cv2.resize((face * 255).astype(np.uint8), (200, 200),
                             interpolation=cv2.INTER_CUBIC)
            canvas = cv2.copyMakeBorder(big, 60, 60, 60, 60, cv2.BORDER_REPLICATE)
            photos.append(_u8_photo(np.repeat(canvas[..., None], 3, axis=2), f"lfw {i:03d}"))
    return photos


def bench_real(model, n_lfw: int) -> list[dict]:
    rows = []
    for photo in real_photos(n_lfw):
        t0 = time.perf_counter()
        try:
            lm = detect_landmarks(photo)
        except Exception as exc:  # a bench row, not a crash: report and go on
            rows.append({"photo": photo.path, "error": str(exc)})
            continue
        t1 = time.perf_counter()
        fit = fit_photo(photo, lm, model)
        t2 = time.perf_counter()
        top = np.argsort(-fit.expression)[:3]
        rows.append({
            "photo": photo.path, "size": f"{photo.width}x{photo.height}", "landmarks": 468,
            "face_px": round(lm.face_width), "err_px": fit.error_px,
            "err_iod_pct": 100 * fit.error_iod, "detect_s": t1 - t0, "fit_s": t2 - t1,
            "yaw_deg": float(np.degrees(fit.pose[2])),
            "distance_m": float(np.linalg.norm(fit.pose[3:])),
            "top_expression": ", ".join(f"{ARKIT_NAMES[i]} {fit.expression[i]:.2f}" for i in top
                                        if fit.expression[i] > 0.05),
        })
    return rows


def synthetic_case(model, rng, noise_iod: float, yaw_deg: float):
    """Known parameters -> projected landmarks (+ MediaPipe-like relative depth) with noise."""
    width, height = 640, 480
    cam = Camera.from_fov(width, height, rng.uniform(30.0, 60.0))
    identity = rng.normal(0.0, 0.8, model.n_identity)
    expression = np.zeros(len(ARKIT_NAMES))
    chosen = rng.choice(len(SYNTH_CHANNELS), size=3, replace=False)
    for k in chosen:
        expression[ARKIT_NAMES.index(SYNTH_CHANNELS[k])] = rng.uniform(0.2, 0.8)
    dist = rng.uniform(0.6, 2.0)
    # Keep the face inside the frame: lateral offset a fraction of the visible half-width.
    tx = rng.uniform(-0.2, 0.2) * dist * (width / 2) / cam.focal
    tz = rng.uniform(-0.2, 0.2) * dist * (height / 2) / cam.focal
    pose = np.array([np.radians(rng.uniform(-10, 10)), np.radians(rng.uniform(-8, 8)),
                     np.radians(yaw_deg), tx, dist, tz])
    world = model.vertices(identity, expression[None], pose[None])[0].astype(np.float64)
    uvd = cam.project(world)
    iod = inter_ocular(uvd[:, :2])
    points = uvd[:, :2] + rng.normal(0.0, noise_iod * iod, uvd[:, :2].shape)
    depth = cam.focal * (world[:, 1] - world[:, 1].mean()) / pose[4]
    depth = depth + rng.normal(0.0, 2 * noise_iod * iod, depth.shape)
    return points, depth, (width, height), cam, identity, expression, pose


def bench_synthetic(model, n: int, noise_iod: float, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    cfg = FitConfig()
    rows = []
    yaws = np.linspace(-30.0, 30.0, n) if n > 1 else np.array([0.0])
    for i, yaw in enumerate(yaws):
        points, depth, size, cam, identity, expression, pose = synthetic_case(
            model, rng, noise_iod, yaw)
        t0 = time.perf_counter()
        fit = fit_landmarks(points, model, size, depth=depth, config=cfg)
        dt = time.perf_counter() - t0
        free = [j for j, name in enumerate(ARKIT_NAMES) if name not in cfg.locked]
        rows.append({
            "case": i, "yaw_deg": float(yaw),
            "rot_err_deg": float(np.degrees(np.abs(fit.pose[:3] - pose[:3])).max()),
            "yaw_err_deg": float(np.degrees(abs(fit.pose[2] - pose[2]))),
            "trans_err_pct": float(100 * np.linalg.norm(fit.pose[3:] - pose[3:])
                                   / np.linalg.norm(pose[3:])),
            "focal_err_pct": float(100 * (fit.focal / cam.focal - 1.0)),
            "expr_mae": float(np.abs(fit.expression[free] - expression[free]).mean()),
            "expr_max_err": float(np.abs(fit.expression[free] - expression[free]).max()),
            "identity_corr": float(np.corrcoef(fit.identity, identity)[0, 1]),
            "err_iod_pct": 100 * fit.error_iod, "fit_s": dt,
        })
    return rows


def _table(rows: list[dict], cols: list[str]) -> str:
    def fmt(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthetic", type=int, default=9, help="synthetic cases (yaw -30..30)")
    ap.add_argument("--lfw", type=int, default=20, help="LFW faces to include (0..100)")
    ap.add_argument("--noise", type=float, default=0.01, help="synthetic noise, fraction of IOD")
    ap.add_argument("--json", help="also write the rows here")
    args = ap.parse_args(argv)

    model = load_face_model()
    real = bench_real(model, args.lfw)
    ok = [r for r in real if "error" not in r]
    print("Real photos (landmark reprojection error, % of inter-ocular distance):")
    print(_table(real, ["photo", "size", "landmarks", "face_px", "err_px", "err_iod_pct",
                        "detect_s", "fit_s", "yaw_deg", "distance_m", "top_expression", "error"]))
    if ok:
        e = np.array([r["err_iod_pct"] for r in ok])
        t = np.array([r["detect_s"] + r["fit_s"] for r in ok])
        print(f"\n{len(ok)}/{len(real)} photos fitted; error % IOD median {np.median(e):.2f}, "
              f"max {e.max():.2f} (goal <= 3); detect+fit s median {np.median(t):.2f}, "
              f"max {t.max():.2f} (goal <= 2)")

    synth = bench_synthetic(model, args.synthetic, args.noise)
    print(f"\nSynthetic recovery (landmark noise {100 * args.noise:.1f}% IOD):")
    cols = ["case", "yaw_deg", "rot_err_deg", "yaw_err_deg", "trans_err_pct", "focal_err_pct",
            "expr_mae", "expr_max_err", "identity_corr", "err_iod_pct", "fit_s"]
    print(_table(synth, cols))
    summary = {c: float(np.median([r[c] for r in synth])) for c in cols[2:]}
    print("median " + ", ".join(f"{k} {v:.3g}" for k, v in summary.items()))
    result = {"real": real, "synthetic": synth, "synthetic_median": summary}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return result


if __name__ == "__main__":
    main()
