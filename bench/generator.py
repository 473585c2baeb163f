"""Benchmark of the frame generator: speed, memory and image quality, warp-only and neural.

Run from the repository root: ``.venv/bin/python bench/generator.py [--frames 24] [--save DIR]
[--modes warp,neural,mouth] [--weights DIR]`` (``mouth``: the face pass, the mouth model and the painted
interior, as a neural bake with the shipped weights runs); ``--mouth [PHOTO ...]`` measures the mouth region's
sharpness on speech-driven headless bakes of held-out portraits (``bash bench/fetch_photos.sh``)
and writes a contact sheet of mouth crops with ``--save``; ``--pairs DIR`` scores the face model
alone and with the mouth model on rendered pairs no model trained on. The neural rows need trained generator weights
(``python -m talkface.training.generator``); without them they are skipped with the reason.

Uses scikit-image's astronaut portrait with a face mesh built directly from its MediaPipe
landmarks (Delaunay over the 468 points; vertex i = landmark i, as in the face model) and a
synthetic talking animation (jaw opening plus small head motion), so it needs no fitted model.
Prints one row per measurement with its goal.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from talkface.core.device import resolve_device
from talkface.core.face import topology
from talkface.core.face.camera import Camera
from talkface.core.face.pose import apply_pose
from talkface.core.video.flow import dense_flow
from talkface.core.video.warp import prepare_photo, prepare_source, warp_image

ROOT = Path(__file__).resolve().parents[1]

FACE_WIDTH_M = 0.15


class LandmarkFace:
    """World mesh of the photo's face from landmarks, with a jaw-opening direction."""

    def __init__(self, points: np.ndarray, camera: Camera):
        from scipy.spatial import Delaunay

        f = camera.focal
        width_px = np.ptp(points[:, 0])
        d0 = f * FACE_WIDTH_M / width_px
        depth = d0 + points[:, 2] * d0 / f
        x = (points[:, 0] - camera.cx) * depth / f
        z = -(points[:, 1] - camera.cy) * depth / f
        world = np.stack([x, depth, z], -1)
        tris = Delaunay(points[:, :2]).simplices
        in_mouth = np.isin(tris, topology.INNER_LIP_LOOP).all(1)
        self.triangles = tris[~in_mouth]
        # Head pivot behind the face centre; the photo pose is a pure translation to it.
        pivot = world.mean(0) + np.array([0.0, 0.08, -0.03])
        self.pose_ref = np.array([0, 0, 0, *pivot])
        self.model = (world - pivot).astype(np.float32)
        mouth_v = points[list(topology.MOUTH_CORNERS), 1].mean()
        face_h = np.ptp(points[:, 1])
        mouth_u = points[list(topology.MOUTH_CORNERS), 0].mean()
        down = np.clip((points[:, 1] - mouth_v) / (0.2 * face_h), 0, 1)
        side = np.clip(1.5 - np.abs(points[:, 0] - mouth_u) / (0.35 * width_px), 0, 1)
        jaw = down * side
        jaw[list(topology.LOWER_LIP)] = 1.0
        self.jaw = jaw.astype(np.float32)

    def frames(self, jaw_open_m: np.ndarray, pose_offsets: np.ndarray):
        """World vertices [F, V, 3] and absolute poses [F, 6] for per-frame jaw and head motion."""
        verts = self.model[None].repeat(len(jaw_open_m), 0)
        verts[..., 2] -= jaw_open_m[:, None] * self.jaw[None]
        poses = self.pose_ref[None] + pose_offsets
        return apply_pose(verts, poses), poses


def talking_animation(n: int, fps: float = 25.0):
    """Jaw opening at syllable rate and slow small head motion (offsets from the photo)."""
    t = np.arange(n) / fps
    jaw = 0.012 * np.clip(np.sin(2 * np.pi * 3.0 * t), 0, 1) ** 0.7
    offs = np.zeros((n, 6))
    offs[:, 0] = 0.05 * np.sin(2 * np.pi * 0.4 * t)
    offs[:, 1] = 0.04 * np.sin(2 * np.pi * 0.3 * t + 1.0)
    offs[:, 2] = 0.06 * np.sin(2 * np.pi * 0.25 * t + 2.0)
    offs[:, 3] = 0.004 * np.sin(2 * np.pi * 0.2 * t)
    return jaw, offs


def laplacian_energy(img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared Laplacian of the luminance over ``mask`` per image: [B]."""
    lum = (img * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    lap = F.conv2d(lum, k, padding=1)[:, 0] ** 2
    return (lap * mask).sum((-2, -1)) / mask.sum((-2, -1)).clamp(min=1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def person_mask(rgb_u8: np.ndarray) -> np.ndarray | None:
    try:
        import mediapipe as mp

        with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
            return seg.process(rgb_u8).segmentation_mask
    except Exception as exc:  # the bench still runs without a mask
        print(f"(no person mask: {exc})")
        return None


def run(size: int, face: LandmarkFace, photo, camera, mask, n_frames: int, batch: int, device,
        save: Path | None, generator=None, mouth=None):
    """One speed and quality row: warp-only, the neural face pass, or (``mouth``) the face pass
    followed by the mouth model and the painted interior, as a neural bake with the shipped
    weights runs."""
    jaw, offs = talking_animation(n_frames)
    verts, poses = face.frames(jaw, offs)
    ref = face.frames(np.zeros(1), np.zeros((1, 6)))[0][0]
    source = prepare_source(photo, size, device)
    src = prepare_photo(photo, size, device)  # what a zero-motion frame must reproduce
    label = "warp-only" if generator is None else "neural" if mouth is None else "neural + mouth"
    if mouth is not None:
        uv = camera.scaled(size, size).project(ref)[:, :2]
        lips = uv[list(topology.OUTER_LIP_LOOP)]
        mouth_box = mouth.mouth_box((*lips.min(0), *lips.max(0)), (size, size))
    goal = "goal >= 10 at 512" if generator is None else (
        "goal >= 100 at 512 on an H100" if device.type == "cuda" else "goal >= 5 at 512, >= 2 at 1024")

    @torch.no_grad()
    def render(fl):
        if generator is None:
            return warp_image(source, fl.flow, fl.occlusion)
        with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
            out = generator(src, fl)
            if mouth is not None:
                out = mouth.refine_mouth(out, src, fl, mouth_box)
            return out.float()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Warm-up so one-time allocations and thread start-up are not timed.
    render(dense_flow(ref, verts[:batch], face.triangles, camera, size, face.pose_ref,
                      poses[:batch], mask, device=device))
    t_flow = t_warp = 0.0
    frames, faces, occs = [], [], []
    for s in range(0, n_frames, batch):
        t0 = time.perf_counter()
        fl = dense_flow(ref, verts[s:s + batch], face.triangles, camera, size, face.pose_ref,
                        poses[s:s + batch], mask, device=device)
        t1 = time.perf_counter()
        out = render(fl)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        t_flow, t_warp = t_flow + t1 - t0, t_warp + t2 - t1
        frames.append(out.cpu())
        faces.append(fl.face.cpu())
        occs.append(fl.occlusion.cpu())
    frames, faces, occs = torch.cat(frames), torch.cat(faces), torch.cat(occs)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    zero = dense_flow(ref, ref[None], face.triangles, camera, size, face.pose_ref,
                      face.pose_ref[None], mask, device=device)
    still = render(zero).cpu()
    src_cpu = src.cpu()
    ref_face = (zero.face > 0.5).float().cpu()
    sharp_src = laplacian_energy(src_cpu, ref_face)
    sharp_out = laplacian_energy(frames, (faces > 0.5).float() * (occs < 0.01).float())
    bg = torch.as_tensor(mask < 0.05).float() if mask is not None else None
    if bg is not None:
        bg = F.interpolate(bg[None, None], size=(size, size), mode="nearest")[0, 0]
        diff = (frames[1:] - frames[:-1]).abs().mean(1)  # [F-1, H, W]
        flicker = float((diff * bg).sum() / (bg.sum() * diff.shape[0]) * 255)
    else:
        flicker = float("nan")
    fps = n_frames / (t_flow + t_warp)
    print(f"{size:>5} px  {label}  {fps:6.1f} frames/s ({goal})   "
          f"flow {1000 * t_flow / n_frames:5.1f} ms + {'warp' if generator is None else 'net+warp'}"
          f" {1000 * t_warp / n_frames:5.1f} ms per frame, batch {batch}, {device.type}")
    if device.type == "cuda":
        print(f"{size:>5} px  peak CUDA memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    print(f"{size:>5} px  peak RSS {rss / 1024:.0f} MiB (grew {max(0, rss - rss0) / 1024:.0f} MiB)")
    print(f"{size:>5} px  zero-motion PSNR {psnr(still, src_cpu):.1f} dB (goal >= 40)")
    ratio = float((sharp_out / sharp_src).mean())
    print(f"{size:>5} px  face sharpness out/src {ratio:.3f} (goal >= 0.9; "
          f"min frame {float((sharp_out / sharp_src).min()):.3f})")
    print(f"{size:>5} px  background flicker {flicker:.3f}/255 (goal < 0.5)")
    if save is not None:
        _save_sheet(save / f"{label.replace(' + ', '_').replace('-only', '')}_{size}.png", frames, src_cpu)


def _save_sheet(path: Path, frames: torch.Tensor, src: torch.Tensor):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    pick = torch.cat([src, frames[:: max(1, len(frames) // 5)][:5]])
    row = torch.cat(list(pick), dim=-1).permute(1, 2, 0).numpy()
    cv2.imwrite(str(path), cv2.cvtColor((row * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR))
    print(f"saved {path}")


# ------------------------------------------------------------- mouth sharpness (issue 17)
MOUTH_GOALS = "goals: median >= 0.90, worst 10 % >= 0.75"


def _mouth_box(points: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The lips' own box (outer lip contour, whatever the opening) grown by 10 % of the mouth's
    width on every side: lips, teeth, the opening, hardly any skin or beard."""
    lips = points[list(topology.OUTER_LIP_LOOP), :2]
    lo, hi = lips.min(0), lips.max(0)
    pad = 0.1 * (hi[0] - lo[0])
    x0, y0 = int(np.floor(max(lo[0] - pad, 0))), int(np.floor(max(lo[1] - pad, 0)))
    x1, y1 = int(np.ceil(min(hi[0] + pad, width))), int(np.ceil(min(hi[1] + pad, height)))
    return x0, y0, max(x1 - x0, 3), max(y1 - y0, 3)


def _lip_gap(points: np.ndarray) -> float:
    """Mean inner-lip gap over the lips' middle pairs, in units of the mouth's width."""
    gap = np.mean([np.linalg.norm(points[a, :2] - points[b, :2]) for a, b in topology.LIP_GAP_PAIRS])
    return float(gap / np.linalg.norm(points[topology.MOUTH_CORNERS[0], :2] - points[topology.MOUTH_CORNERS[1], :2]))


def _mouth_energy(img: np.ndarray, box) -> float:
    x0, y0, w, h = box
    crop = torch.from_numpy(np.ascontiguousarray(img[y0:y0 + h, x0:x0 + w])).permute(2, 0, 1)[None].float()
    return float(laplacian_energy(crop, torch.ones(1, h, w))[0])


def _frames_of(folder: Path) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(p).convert("RGB"), np.float32) / 255.0 for p in sorted(folder.glob("*.png"))]


def _bake(photo: str, audio: str, size: int, mode: str, out: Path) -> float:
    """A headless bake (fit, animate, frames) of ``photo`` speaking ``audio``; seconds taken."""
    import subprocess
    import sys

    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "blender_talkface" / "headless.py"), "--", "--photo", photo,
                           "--audio", audio, "--out", str(out), "--resolution", str(size), "--mode", mode,
                           "--overwrite"], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"headless bake failed: {done.stderr.strip().splitlines()[-1]}")
    return time.perf_counter() - t0


def mouth_bench(photos: list[str], audio: str, sizes: list[int], work: Path, sheet: Path | None) -> None:
    """Mouth-region sharpness of speech-driven frames relative to the photo: per frame, the mean
    squared Laplacian in a box around the lips (found again on each frame by the landmark
    detector) over the same in the photo at the frame's size. Median, 10th percentile and worst
    over all frames, and the median over the quarter of frames whose mouth is furthest from the
    photo's (|lip gap - photo's|)."""
    from talkface.core.face.image_io import load_photo
    from talkface.core.face.landmarks import detect_landmarks, mesh_on_crop

    print(f"\nmouth sharpness, frame / photo ({MOUTH_GOALS}); audio {os.path.basename(audio)}")
    print(f"{'photo':>12s} {'size':>5s} {'mode':>7s} {'median':>7s} {'p10':>6s} {'worst':>6s} "
          f"{'moving 25%':>10s} {'frames':>6s} {'bake s':>7s}")
    sheet_rows = []
    for photo_path in photos:
        photo = load_photo(photo_path)
        name = Path(photo_path).stem
        for size in sizes:
            crops = {}
            for mode in ("warp", "neural"):
                out = work / f"{name}_{size}_{mode}"
                seconds = _bake(photo_path, audio, size, mode, out)
                frames = _frames_of(out / "frames")
                h, w = frames[0].shape[:2]
                ref = prepare_photo(photo.rgb, (w, h))[0].permute(1, 2, 0).numpy()
                ref_pts = detect_landmarks(load_photo_array(ref)).points
                ref_box = _mouth_box(ref_pts, w, h)
                ref_energy = _mouth_energy(ref, ref_box)
                ratios, moves, boxes = [], [], []
                for img in frames:
                    cx, cy = ref_box[0] + ref_box[2] / 2, ref_box[1] + ref_box[3] / 2
                    pts = mesh_on_crop((img * 255).astype(np.uint8), cx, cy, 4.0 * ref_box[2])
                    lips = None if pts is None else pts[list(topology.OUTER_LIP_UPPER), :2].mean(0)
                    if lips is None or np.hypot(lips[0] - cx, lips[1] - cy) > 0.5 * ref_box[2]:
                        pts = ref_pts          # not found, or found elsewhere: the photo's box
                    box = _mouth_box(pts, w, h)
                    boxes.append(box)
                    ratios.append(_mouth_energy(img, box) / ref_energy)
                    moves.append(abs(_lip_gap(pts) - _lip_gap(ref_pts)))
                ratios, moves = np.asarray(ratios), np.asarray(moves)
                top = ratios[moves >= np.quantile(moves, 0.75)]
                print(f"{name:>12s} {size:5d} {mode:>7s} {np.median(ratios):7.2f} {np.quantile(ratios, 0.1):6.2f} "
                      f"{ratios.min():6.2f} {np.median(top):10.2f} {len(frames):6d} {seconds:7.1f}")
                crops[mode] = (frames, boxes, moves)
                crops["photo"] = (ref, ref_box)
            if sheet is not None:
                sheet_rows.append(_mouth_sheet_rows(crops))
    if sheet is not None and sheet_rows:
        _write_sheet(sheet, [r for rows in sheet_rows for r in rows])


def load_photo_array(rgb: np.ndarray):
    from talkface.core.face.image_io import Photo

    return Photo(np.ascontiguousarray(rgb, np.float32), "", "", (rgb.shape[1], rgb.shape[0]))


def _window(img: np.ndarray, cx: int, cy: int, w: int, h: int, zoom: int = 1) -> np.ndarray:
    """The w x h pixels of ``img`` [..., H, W, C] centred on (cx, cy), edges repeated past the
    frame, each pixel shown ``zoom`` x ``zoom`` (pixel for pixel, no resampling)."""
    pad = [(0, 0)] * (img.ndim - 3) + [(h, h), (w, w), (0, 0)]
    out = np.pad(img, pad, mode="edge")[..., cy + h - h // 2:cy + h - h // 2 + h, cx + w - w // 2:cx + w - w // 2 + w, :]
    return np.repeat(np.repeat(out, zoom, -3), zoom, -2)


def _mouth_sheet_rows(crops: dict, n: int = 5, px: int = 160) -> list[np.ndarray]:
    """Rows photo / warp-only / neural of the n frames whose mouth moved most (same frames): a
    window around each mouth box's centre, at 512 shown at 2x and at 1024 at 1x (the same face
    area)."""

    def crop(img, box):
        x0, y0, w, h = box
        small = img.shape[0] <= 600
        side = px // 2 if small else px
        return _window(img, x0 + w // 2, y0 + h // 2, side, side, 2 if small else 1)

    frames, boxes, moves = crops["neural"]
    pick = sorted(np.argsort(moves)[-n:])
    ref, ref_box = crops["photo"]
    rows = [np.concatenate([crop(ref, ref_box)] * len(pick), 1)]
    for mode in ("warp", "neural"):
        fr, bx, _ = crops[mode]
        rows.append(np.concatenate([crop(fr[i], bx[i]) for i in pick], 1))
    return rows


def _write_sheet(path: Path, rows: list[np.ndarray]) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.concatenate(rows, 0)
    cv2.imwrite(str(path), cv2.cvtColor((img * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR))
    print(f"saved {path} (per photo and size: rows photo, warp-only, neural; the 5 frames whose mouth moved most)")


def pairs_bench(folder: str, weights_dir: str | None = None) -> None:
    """Rendered pairs (``scripts/render_generator_pairs.py``), every target held out: the face
    model alone and with the mouth model, on the face crop: PSNR, L1 in the hidden mouth opening,
    and frames per second of the full-frame pass."""
    import math

    from talkface.core.video.generator import load_generator, load_mouth_generator
    from talkface.training.generator import RenderedPairs, _crop, region_box, training_target

    face, mouth = load_generator(weights_dir), load_mouth_generator(weights_dir)
    data = RenderedPairs(folder, hold_out=10 ** 6)            # every target is a test target
    sums: dict[str, float] = {}
    for name in data.names:
        ids = [i for n, i in data.indices("heldout") if n == name]
        for s in range(0, len(ids), 4):
            b = data.batch(name, ids[s:s + 4])
            box = face.face_box(b.flow)
            source = prepare_source(b.photo, (b.photo.shape[-1], b.photo.shape[-2]))
            target = training_target(b, box, source)
            occ = (_crop(b.flow.occlusion[:, None], box) > 0.5).float()
            with torch.no_grad():
                t0 = time.perf_counter()
                full = face(b.photo, b.flow, box)
                t1 = time.perf_counter()
                outs = {"face model": (_crop(full, box), t1 - t0)}
                if mouth is not None:
                    refined = mouth.refine_mouth(full.clone(), b.photo, b.flow, region_box(mouth, b))
                    outs["face + mouth model"] = (_crop(refined, box), time.perf_counter() - t0)
            sums["px"] = sums.get("px", 0.0) + float(target[:, :1].numel())
            sums["mpx"] = sums.get("mpx", 0.0) + float(occ.sum())
            sums["n"] = sums.get("n", 0.0) + len(ids[s:s + 4])
            for key, (img, seconds) in outs.items():
                err = (img - target).abs().mean(1, keepdim=True)
                for part, value in (("mse", float(((img - target) ** 2).mean(1).sum())),
                                    ("mouth", float((err * occ).sum())), ("s", seconds)):
                    sums[f"{key}/{part}"] = sums.get(f"{key}/{part}", 0.0) + value
    print(f"\nheld-out rendered pairs in {folder}: {int(sums['n'])} targets "
          "(goals: mouth L1 < 0.21, crop PSNR >= 33.3 dB)")
    print(f"{'':20s} {'crop PSNR':>10s} {'mouth L1':>9s} {'frames/s':>9s}")
    for key in ("face model", "face + mouth model"):
        if f"{key}/mse" in sums:
            psnr_db = 10 * math.log10(sums["px"] / max(sums[f"{key}/mse"], 1e-12))
            print(f"{key:20s} {psnr_db:10.2f} {sums[f'{key}/mouth'] / max(sums['mpx'], 1):9.4f} "
                  f"{sums['n'] / sums[f'{key}/s']:9.1f}")


def open_sweep(photos: list[str], sheet: Path, size: int = 512, jaw=(0.25, 0.45, 0.65),
               weights_dir: str | None = None) -> None:
    """A contact sheet of the mouth at wide jaw openings (the photo's pose and expression, the jaw
    opened ``jaw`` further):
    per photo a row with the face model alone and a row with the mouth model, a column per
    opening; crops at 2x around the photo's lips. For judging the drawn interior by eye."""
    from PIL import Image

    from talkface.core.face.fitting import fit_photo_file
    from talkface.core.face.image_io import load_photo
    from talkface.core.face.model import ARKIT_NAMES, load_face_model
    from talkface.core.video.generator import load_generator, load_mouth_generator
    from talkface.core.video.synthesis import FaceState, FrameSynthesizer

    model, face, mouth = load_face_model(), load_generator(weights_dir), load_mouth_generator(weights_dir)
    rows = []
    for photo in photos:
        fit = fit_photo_file(photo, model)
        weights = np.repeat(np.asarray(fit.expression, np.float32)[None], len(jaw), 0)   # the photo's smile kept
        j = ARKIT_NAMES.index("jawOpen")
        weights[:, j] = np.clip(weights[:, j] + jaw, 0, 1)
        state = FaceState(weights, np.repeat(fit.pose[None], len(jaw), 0))
        for m in (None, mouth) if mouth is not None else (None,):
            synth = FrameSynthesizer(model, fit, load_photo(photo).rgb, size, generator=face, mouth_generator=m)
            frames = synth.render(state)
            uv = fit.camera.scaled(*synth.size).project(synth.ref_verts)[:, :2]
            lips = uv[list(topology.OUTER_LIP_LOOP)]
            wide = int(0.9 * np.ptp(lips[:, 0])) // 2 * 4    # a 3:2 window centred on the lips, at 2x
            cx, cy = (int(v) for v in lips.mean(0))
            rows.append(np.concatenate(list(_window(frames, cx, cy, wide, wide * 2 // 3, 2)), 1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    sheet.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(sheet)
    print(f"saved {sheet}: per photo a row without and a row with the mouth model; the photo's jawOpen "
          f"+ {', '.join(map(str, jaw))}")


def held_out_photos() -> list[str]:
    """Portraits no generator was trained on, listed in bench/photos.txt (fetched by the tools
    named there); the training photos are the astronaut, Grace Hopper and LFW crops."""
    listing = ROOT / "bench" / "photos.txt"
    found = []
    for line in listing.read_text().splitlines() if listing.exists() else []:
        line = line.split("#", 1)[0].strip()
        path = ROOT / os.path.expanduser(line) if line else None     # relative: to the repository
        if path is not None and path.exists():
            found.append(str(path))
    if not found:
        raise SystemExit(f"no held-out photos found: run bash bench/fetch_photos.sh (see {listing}), or name "
                         "photos after --mouth")
    return found


def default_speech(work: Path) -> str:
    import importlib.util

    import soundfile as sf

    spec = importlib.util.find_spec("moonshine_voice")
    path = os.path.join(os.path.dirname(spec.origin), "assets", "beckett.wav")
    samples, sr = sf.read(path)
    out = work / "beckett_8s.wav"
    sf.write(out, samples[: 8 * sr], sr)
    return str(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", default="512,1024")
    ap.add_argument("--save", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    ap.add_argument("--modes", default="warp,neural,mouth",
                    help="comma-separated: warp, neural (the face pass), mouth (face pass + mouth model)")
    ap.add_argument("--weights", default=None, help="weights folder (default: the shipped one)")
    ap.add_argument("--mouth", nargs="*", metavar="PHOTO", default=None,
                    help="mouth sharpness of speech-driven headless bakes of these photos (none given: the "
                         "held-out photos of bench/photos.txt) at --sizes, instead of the rows above")
    ap.add_argument("--audio", default=None, help="speech for --mouth (default: the first 8 s of a human "
                                                  "recording, moonshine-voice's beckett.wav)")
    ap.add_argument("--pairs", default=None, metavar="DIR",
                    help="rendered pairs never trained on (scripts/render_generator_pairs.py with a new --seed): "
                         "face model alone and with the mouth model, instead of the rows above")
    ap.add_argument("--open-sweep", nargs="*", metavar="PHOTO", default=None,
                    help="a contact sheet (--save DIR/open_sweep.png) of wide jaw openings without and with "
                         "the mouth model (no photos given: the held-out ones)")
    args = ap.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.open_sweep is not None:
        open_sweep(args.open_sweep or held_out_photos(), (args.save or Path(".")) / "open_sweep.png",
                   weights_dir=args.weights)
        return
    if args.pairs:
        pairs_bench(args.pairs, args.weights)
        return
    if args.mouth is not None:
        import tempfile

        with tempfile.TemporaryDirectory() as work:
            mouth_bench(args.mouth or held_out_photos(), args.audio or default_speech(Path(work)),
                        [int(s) for s in args.sizes.split(",")], Path(work), args.save and args.save / "mouth_sheet.png")
        return

    import skimage

    from talkface.core.face.image_io import load_photo
    from talkface.core.face.landmarks import detect_landmarks

    device = resolve_device(args.device)
    photo = load_photo(os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png"))
    marks = detect_landmarks(photo)
    camera = Camera.from_fov(photo.width, photo.height, 30.0)
    face = LandmarkFace(marks.points, camera)
    mask = person_mask(photo.to_uint8())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{len(face.triangles)} triangles, {args.frames} frames")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    generator = mouth = None
    if "neural" in modes or "mouth" in modes:
        from talkface.core.errors import MissingWeightsError
        from talkface.core.video.generator import load_generator, load_mouth_generator

        try:
            generator = load_generator(args.weights, device)
            mouth = load_mouth_generator(args.weights, device) if "mouth" in modes else None
        except MissingWeightsError as exc:
            print(f"neural rows skipped: {exc}")
            modes = [m for m in modes if m == "warp"]
        if mouth is None:
            modes = [m for m in modes if m != "mouth"]
    for mode in modes:
        for size in (int(s) for s in args.sizes.split(",")):
            run(size, face, photo.rgb, camera, mask, args.frames, args.batch, device, args.save,
                None if mode == "warp" else generator, mouth if mode == "mouth" else None)


if __name__ == "__main__":
    main()
