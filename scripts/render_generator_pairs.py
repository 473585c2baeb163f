"""Render training pairs for the flow-guided generator with Blender (Cycles, CPU, headless).

Run with the project's Python (bpy is a module there):

    .venv/bin/python scripts/render_generator_pairs.py --out /tmp/gen_pairs --size 256 --targets 48

No talking-face data can be downloaded, so the generator learns from our own fitted faces:
each photo is fitted (``core.fitting``), its face mesh is textured by projecting the photo
through the fitted camera, and a mouth interior the photo never shows is added behind the lips
(a dark cavity following the lips, upper teeth fixed to the skull, lower teeth and tongue
following the jaw). The reference frame is the photo's own state; two thirds of the targets
are frames the audio network animates from espeak speech (``--audio-share``), the rest random
speech-like ARKit mixes with small head motion. Everything is flat emission shading, so a
rendered pixel is the photo's pixel wherever the photo shows that surface point: the only
things a warp cannot explain are the interior and resampling, which is what the generator
must learn.

The face layer is rendered over a transparent film and composited over the photo in numpy.
That is exactly what a camera-filling photo plane behind the head renders (flat emission,
pixel-aligned), and it also keeps the face layer's coverage, which training needs to put the
flow's own guess for hair and neck (which a flat plane cannot move) outside the face.

Output, per photo ``OUT/NAME/``: ``reference.png`` (photo state), ``NNNN.png`` (target,
composited over the still photo), ``NNNN_alpha.png`` (face-layer coverage) and ``states.npz``
(``weights`` [N, 52], ``pose`` [N, 6] absolute, ``ref_weights``, ``ref_pose``, ``identity``,
``camera`` (focal, cx, cy, width, height) at the render size, ``photo`` the 512 px photo).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from talkface.core.face import topology
from talkface.core.face.model import ARKIT_NAMES, load_face_model

ROOT = Path(__file__).resolve().parents[1]

PHOTO_PX = 512  # photos are square-cropped to this before fitting
IDX = {n: i for i, n in enumerate(ARKIT_NAMES)}


# ----------------------------------------------------------------------------------- photos
def builtin_photos(n_lfw: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """Offline portraits (uint8 RGB, square): the astronaut, Grace Hopper, LFW crops; + mirrors."""
    import cv2
    import matplotlib.cbook as cbook
    import skimage

    def square(img):
        h, w = img.shape[:2]
        s = min(h, w)
        y0 = max(0, (h - s) // 3)  # keep the head: crop more from the bottom than the top
        x0 = (w - s) // 2
        img = img[y0:y0 + s, x0:x0 + s]
        return cv2.resize(img, (PHOTO_PX, PHOTO_PX), interpolation=cv2.INTER_AREA if s > PHOTO_PX
                          else cv2.INTER_CUBIC)

    astro = cv2.cvtColor(cv2.imread(str(ROOT / "samples" / "portrait.png")), cv2.COLOR_BGR2RGB)
    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        hopper = cv2.imdecode(np.frombuffer(fh.read(), np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    photos = [("astronaut", square(astro)), ("hopper", square(hopper))]
    lfw = np.load(os.path.join(os.path.dirname(skimage.__file__), "data", "lfw_subset.npy"))
    rng = np.random.default_rng(seed)
    for k in rng.choice(len(lfw), size=min(n_lfw, len(lfw)), replace=False):
        face = (np.clip(lfw[k], 0, 1) * 255).astype(np.uint8)
        # The 25 px crops are tight on the face: pad with edge colours so the head fits.
        face = cv2.copyMakeBorder(face, 6, 6, 6, 6, cv2.BORDER_REPLICATE)
        face = cv2.resize(face, (PHOTO_PX, PHOTO_PX), interpolation=cv2.INTER_CUBIC)
        photos.append((f"lfw{int(k):03d}", np.repeat(face[..., None], 3, -1)))
    photos += [(name + "_flip", np.ascontiguousarray(img[:, ::-1])) for name, img in photos[:2]]
    return photos


def fit_photo_array(name: str, rgb: np.ndarray, model, tmp: Path):
    import cv2

    from talkface.core.face.fitting import fit_photo_file

    path = tmp / f"{name}.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return fit_photo_file(path, model)


# ----------------------------------------------------------------------------------- states
def random_states(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Speech-like ARKit mixes [n, 52] and head offsets [n, 6] (rad, m) from the photo pose."""
    w = np.zeros((n, len(ARKIT_NAMES)), np.float32)

    def some(name, p, lo, hi, power=1.0):
        on = rng.random(n) < p
        w[:, IDX[name]] = np.where(on, lo + (hi - lo) * rng.random(n) ** power, w[:, IDX[name]])

    some("jawOpen", 0.8, 0.0, 0.85, 1.3)
    pair = rng.random(n)
    for side in ("Left", "Right"):
        for name, p, hi in (("mouthSmile", 0.3, 0.8), ("mouthStretch", 0.2, 0.6),
                            ("mouthLowerDown", 0.35, 0.7), ("mouthUpperUp", 0.3, 0.6),
                            ("mouthFrown", 0.1, 0.5), ("mouthPress", 0.1, 0.5),
                            ("mouthDimple", 0.1, 0.5), ("eyeBlink", 0.0, 1.0),
                            ("eyeSquint", 0.1, 0.5), ("browOuterUp", 0.15, 0.6),
                            ("browDown", 0.1, 0.5), ("cheekSquint", 0.1, 0.4)):
            some(name + side, p, 0.0, hi)
    # Blinks and smiles are mostly symmetric.
    blink = (rng.random(n) < 0.15) * rng.uniform(0.4, 1.0, n)
    w[:, IDX["eyeBlinkLeft"]] = w[:, IDX["eyeBlinkRight"]] = blink
    sym = pair < 0.7
    w[sym, IDX["mouthSmileRight"]] = w[sym, IDX["mouthSmileLeft"]]
    for name, p, hi in (("mouthFunnel", 0.25, 0.7), ("mouthPucker", 0.25, 0.7),
                        ("mouthRollLower", 0.1, 0.5), ("mouthRollUpper", 0.1, 0.4),
                        ("mouthShrugLower", 0.1, 0.5), ("mouthShrugUpper", 0.1, 0.4),
                        ("browInnerUp", 0.25, 0.7), ("mouthLeft", 0.05, 0.4),
                        ("mouthRight", 0.05, 0.4), ("jawLeft", 0.05, 0.3), ("jawRight", 0.05, 0.3),
                        ("jawForward", 0.05, 0.3), ("cheekPuff", 0.03, 0.5)):
        some(name, p, 0.0, hi)
    close = rng.random(n) < 0.15  # lips together over an open jaw (bilabials)
    w[close, IDX["mouthClose"]] = w[close, IDX["jawOpen"]] * rng.uniform(0.5, 1.0, close.sum())
    offs = np.zeros((n, 6))
    moving = rng.random(n) < 0.6
    offs[:, :3] = rng.normal(0.0, [0.05, 0.05, 0.035], (n, 3)) * moving[:, None]
    offs[:, 3:] = rng.normal(0.0, 0.003, (n, 3)) * moving[:, None]
    return np.clip(w, 0.0, 1.0), offs


def audio_states(n: int, rng: np.random.Generator, animator) -> tuple[np.ndarray, np.ndarray]:
    """States [n, 52] + head offsets [n, 6] as the audio network animates speech: espeak
    sentences in random training voices through ``core.lipsync.animate``, frames drawn at
    random. What the generator will be asked to render at bake time, coarticulation included."""
    from talkface.core.audio import inference
    from talkface.core.audio.loading import DEFAULT_SR, from_array, resample
    from talkface.training.corpus import espeak
    from talkface.training.corpus.build import make_sentence, speakers

    voices = speakers("train")
    frames = []
    while sum(len(f) for f in frames) < 4 * n:  # a few sentences give a few hundred frames
        accent, variant = voices[rng.integers(len(voices))]
        spoken = espeak.synthesize(make_sentence(rng), f"{accent}+{variant}",
                                   rate=int(rng.integers(130, 230)), pitch=int(rng.integers(25, 76)))
        audio = from_array(resample(spoken.samples, spoken.sample_rate, DEFAULT_SR), DEFAULT_SR)
        anim = inference.animate(audio, animator, seed=int(rng.integers(1 << 30)))
        frames.append(anim.values)
    values = np.concatenate(frames)[rng.choice(sum(len(f) for f in frames), n, replace=False)]
    return np.clip(values[:, :len(ARKIT_NAMES)], 0.0, 1.0), values[:, len(ARKIT_NAMES):].astype(np.float64)


def target_states(n: int, rng: np.random.Generator, audio_share: float) -> tuple[np.ndarray, np.ndarray]:
    """``audio_share`` of the targets from the audio network, the rest random mixes (which
    reach the extremes and the asymmetric shapes an animator may key by hand)."""
    k = int(round(n * audio_share))
    if k == 0:
        return random_states(n, rng)
    from talkface.core.audio import inference

    wa, oa = audio_states(k, rng, inference.load_animator())
    wr, orr = random_states(n - k, rng)
    return np.concatenate([wa, wr]), np.concatenate([oa, orr])


# ----------------------------------------------------------------------------- mouth interior
class MouthInterior:
    """Cavity, teeth rows and tongue as one mesh with fixed topology and per-vertex colours.

    Built in model space from the person's neutral face (upper teeth: skull) and the current
    state (cavity: lips; lower teeth and tongue: the jaw line's displacement), then posed.
    """

    def __init__(self, model, identity: np.ndarray, rng: np.random.Generator, n_teeth: int = 8):
        self.model = model
        self.loop = np.array(topology.INNER_LIP_LOOP)
        self.upper = model.index_sets["lip_inner_upper"]
        self.lower = model.index_sets["lip_inner_lower"]
        self.jaw = model.index_sets["jaw_line"]
        self.neutral = model.neutral_vertices(identity)
        self.n_teeth = n_teeth
        shade = rng.uniform(0.85, 1.1)
        self.teeth_rgb = np.clip(np.array([0.86, 0.82, 0.74]) * shade, 0, 1)
        self.cavity_rgb = np.array([0.10, 0.03, 0.03]) * rng.uniform(0.6, 1.4)
        self.gum_rgb = np.array([0.55, 0.22, 0.22]) * rng.uniform(0.8, 1.1)
        self.tongue_rgb = np.array([0.62, 0.26, 0.27]) * rng.uniform(0.8, 1.1)
        self.faces, self.colours = self._topology()

    # Vertex layout: cavity rings (3 x L) + back centre, upper teeth, lower teeth, tongue fan.
    def _topology(self):
        L, k = len(self.loop), self.n_teeth
        faces, cols = [], []
        for r in range(2):
            for i in range(L):
                j = (i + 1) % L
                faces.append((r * L + i, r * L + j, (r + 1) * L + j, (r + 1) * L + i))
        centre = 3 * L
        faces += [(2 * L + i, 2 * L + (i + 1) % L, centre) for i in range(L)]
        cols += [self.gum_rgb] * L + [self.cavity_rgb * 1.5] * L + [self.cavity_rgb] * L
        cols += [self.cavity_rgb * 0.7]
        base = centre + 1
        for row in range(2):  # each tooth: a quad, darker towards the mouth corners
            for t in range(k):
                v = base + 4 * t
                faces.append((v, v + 1, v + 2, v + 3))
                side = abs((t + 0.5) / k - 0.5) * 2
                cols += [self.teeth_rgb * (1.0 - 0.45 * side ** 2)] * 4
            base += 4 * k
        n_fan = 10
        faces += [(base, base + 1 + i, base + 1 + (i + 1) % n_fan) for i in range(n_fan)]
        cols += [self.tongue_rgb] + [self.tongue_rgb * 0.75] * n_fan
        return faces, np.array(cols, np.float32)

    def vertices(self, state_local: np.ndarray) -> np.ndarray:
        """Interior vertices [N, 3] in model space for one face state (model space, no pose)."""
        neu, cur = self.neutral, state_local
        back = np.array([0.0, 1.0, 0.0])  # into the head (the face looks toward -Y)
        lip = cur[self.loop]
        mid = lip.mean(0)
        ring0 = lip + 0.002 * back
        flat = np.array([1.0, 0.0, 1.0])  # widen in x and z; depth is set per ring
        ring1 = mid + 1.6 * (lip - mid) * flat
        ring1[:, 1] = lip[:, 1] + 0.012
        ring2 = mid + 1.9 * (lip - mid) * flat
        ring2[:, 1] = mid[1] + 0.03
        centre = mid + 0.035 * back
        jaw_shift = (cur[self.jaw] - neu[self.jaw]).mean(0)
        up_n, lo_n = neu[self.upper], neu[self.lower]
        half_w = 0.5 * abs(up_n[-1, 0] - up_n[0, 0])
        contact = 0.5 * (up_n[:, 2].mean() + lo_n[:, 2].mean())
        upper = self._teeth(up_n, half_w, top=contact + 0.008, bottom=contact - 0.0012,
                            depth=0.005, long_mid=0.0015)
        lower = self._teeth(lo_n, half_w, top=contact - 0.0008, bottom=contact - 0.009,
                            depth=0.007, long_mid=-0.001) + jaw_shift
        tongue = self._tongue(lo_n, half_w, contact) + jaw_shift
        return np.concatenate([ring0, ring1, ring2, centre[None], upper, lower, tongue])

    def _teeth(self, lip_n, half_w, top, bottom, depth, long_mid):
        """k quads along the neutral lip curve, ``depth`` behind it, small gaps between teeth."""
        k = self.n_teeth
        xs = np.linspace(-0.85 * half_w, 0.85 * half_w, k + 1)
        order = np.argsort(lip_n[:, 0])
        ys = np.interp(xs, lip_n[order, 0], lip_n[order, 1]) + depth
        gap = 0.00025
        quads = []
        for t in range(k):
            x0, x1 = xs[t] + gap, xs[t + 1] - gap
            y0, y1 = ys[t], ys[t + 1]
            centre = 1.0 - abs((t + 0.5) / k - 0.5) * 2
            b = bottom - long_mid * centre  # central incisors reach further
            quads += [(x0, y0, top), (x1, y1, top), (x1, y1, b), (x0, y0, b)]
        return np.array(quads)

    def _tongue(self, lip_n, half_w, contact, n_fan: int = 10):
        centre = np.array([0.0, lip_n[:, 1].mean() + 0.016, contact - 0.007])
        ang = np.linspace(0, 2 * np.pi, n_fan, endpoint=False)
        rim = np.stack([0.75 * half_w * np.cos(ang), 0.012 * np.sin(ang),
                        -0.003 * np.sin(ang)], -1) + centre
        return np.concatenate([centre[None], rim])


# ------------------------------------------------------------------------------------ blender
class Scene:
    """A Cycles scene with the textured face, the mouth interior and the fitted camera."""

    def __init__(self, size: int, samples: int, threads: int):
        import bpy

        self.bpy = bpy
        bpy.ops.wm.read_factory_settings(use_empty=True)
        sc = bpy.context.scene
        sc.render.engine = "CYCLES"
        sc.cycles.device = "CPU"
        sc.cycles.samples = samples
        sc.cycles.use_adaptive_sampling = False
        sc.cycles.use_denoising = False
        sc.cycles.max_bounces = 0
        sc.cycles.pixel_filter_type = "BLACKMAN_HARRIS"
        sc.cycles.filter_width = 1.0
        sc.render.use_persistent_data = True
        sc.render.threads_mode = "FIXED"
        sc.render.threads = threads
        sc.render.film_transparent = True
        sc.render.resolution_x = sc.render.resolution_y = size
        sc.render.resolution_percentage = 100
        sc.render.image_settings.file_format = "PNG"
        sc.render.image_settings.color_mode = "RGBA"
        sc.render.image_settings.color_depth = "8"
        sc.view_settings.view_transform = "Standard"
        sc.view_settings.look = "None"
        sc.view_settings.exposure = 0.0
        sc.view_settings.gamma = 1.0
        self.scene, self.size = sc, size
        cam_data = bpy.data.cameras.new("cam")
        self.cam = bpy.data.objects.new("cam", cam_data)
        self.cam.rotation_euler = (math.pi / 2, 0.0, 0.0)
        sc.collection.objects.link(self.cam)
        sc.camera = self.cam
        self.face = self.interior = None

    def set_camera(self, cam):
        """Fitted pinhole -> Blender: sensor fit to the larger side, lens from f, shift for c."""
        data = self.cam.data
        data.sensor_fit = "AUTO"
        data.sensor_width = 36.0
        data.lens, data.shift_x, data.shift_y = cam.blender_intrinsics(data.sensor_width)
        data.clip_start, data.clip_end = 0.01, 1000.0

    def _emission_material(self, name, image=None):
        bpy = self.bpy
        mat = bpy.data.materials.new(name)
        mat.use_nodes = True
        nodes, links = mat.node_tree.nodes, mat.node_tree.links
        nodes.clear()
        out = nodes.new("ShaderNodeOutputMaterial")
        emit = nodes.new("ShaderNodeEmission")
        if image is not None:
            tex = nodes.new("ShaderNodeTexImage")
            tex.image = image
            tex.interpolation = "Cubic"
            tex.extension = "EXTEND"
            links.new(tex.outputs["Color"], emit.inputs["Color"])
        else:
            attr = nodes.new("ShaderNodeAttribute")
            attr.attribute_name = "col"
            links.new(attr.outputs["Color"], emit.inputs["Color"])
        links.new(emit.outputs["Emission"], out.inputs["Surface"])
        return mat

    def set_face(self, verts, triangles, uv, texture_path: str):
        """(Re)build the face mesh: world vertices, triangles, per-vertex UVs, photo texture."""
        bpy = self.bpy
        if self.face is not None:
            bpy.data.objects.remove(self.face)
        mesh = bpy.data.meshes.new("face")
        mesh.from_pydata(verts.tolist(), [], triangles.tolist())
        layer = mesh.uv_layers.new(name="uv")
        loop_v = np.zeros(len(mesh.loops), np.int64)
        mesh.loops.foreach_get("vertex_index", loop_v)
        layer.data.foreach_set("uv", uv[loop_v].astype(np.float32).ravel())
        image = bpy.data.images.load(texture_path)
        image.colorspace_settings.name = "sRGB"
        mesh.materials.append(self._emission_material("face_mat", image))
        self.face = bpy.data.objects.new("face", mesh)
        self.scene.collection.objects.link(self.face)

    def set_interior(self, verts, faces, colours):
        bpy = self.bpy
        if self.interior is not None:
            bpy.data.objects.remove(self.interior)
        mesh = bpy.data.meshes.new("interior")
        mesh.from_pydata(verts.tolist(), [], [list(f) for f in faces])
        attr = mesh.color_attributes.new("col", "FLOAT_COLOR", "POINT")
        rgba = np.concatenate([colours, np.ones((len(colours), 1), np.float32)], 1)
        attr.data.foreach_set("color", rgba.ravel())
        mesh.materials.append(self._emission_material("interior_mat"))
        self.interior = bpy.data.objects.new("interior", mesh)
        self.scene.collection.objects.link(self.interior)

    @staticmethod
    def move(obj, verts):
        obj.data.vertices.foreach_set("co", np.asarray(verts, np.float32).ravel())
        obj.data.update()

    def render(self, path: str):
        self.scene.render.filepath = path
        self.bpy.ops.render.render(write_still=True)


# --------------------------------------------------------------------------------------- main
def render_photo(scene: Scene, name, rgb, fit, model, out: Path, n_targets, rng, tmp: Path,
                 audio_share: float = 0.0):
    import cv2

    from talkface.core.face.pose import apply_pose

    size = scene.size
    cam = fit.camera.scaled(size, size)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    photo_s = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    tex_path = tmp / f"{name}_tex.png"
    cv2.imwrite(str(tex_path), cv2.cvtColor(photo_s, cv2.COLOR_RGB2BGR))

    identity = np.asarray(fit.identity, np.float32)
    ref_w = np.asarray(fit.expression, np.float32)[None]
    ref_pose = np.asarray(fit.pose, np.float64)
    weights, offs = target_states(n_targets, rng, audio_share)
    poses = ref_pose[None] + offs
    local_ref = model.vertices(identity, ref_w)[0]
    local = model.vertices(identity, weights)
    ref_world = apply_pose(local_ref[None], ref_pose[None])[0]
    uvw = cam.project(ref_world)
    uv = np.stack([uvw[:, 0] / size, 1.0 - uvw[:, 1] / size], -1)

    interior = MouthInterior(model, identity, rng)
    scene.set_camera(cam)
    scene.set_face(ref_world, model.triangles, uv, str(tex_path))
    scene.set_interior(apply_pose(interior.vertices(local_ref)[None], ref_pose[None])[0],
                       interior.faces, interior.colours)

    def shoot(local_v, pose, stem):
        scene.move(scene.face, apply_pose(local_v[None], pose[None])[0])
        scene.move(scene.interior, apply_pose(interior.vertices(local_v)[None], pose[None])[0])
        raw = tmp / "frame.png"
        scene.render(str(raw))
        bgra = cv2.imread(str(raw), cv2.IMREAD_UNCHANGED).astype(np.float32) / 255.0
        alpha = bgra[..., 3:]
        comp = alpha * bgra[..., 2::-1] + (1.0 - alpha) * photo_s.astype(np.float32) / 255.0
        comp_u8 = np.clip(np.rint(comp * 255.0), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"{stem}.png"), cv2.cvtColor(comp_u8, cv2.COLOR_RGB2BGR))
        return np.rint(alpha[..., 0] * 255).astype(np.uint8)

    alpha_ref = shoot(local_ref, ref_pose, "reference")
    cv2.imwrite(str(folder / "reference_alpha.png"), alpha_ref)
    for i in range(n_targets):
        a = shoot(local[i], poses[i], f"{i:04d}")
        cv2.imwrite(str(folder / f"{i:04d}_alpha.png"), a)
    np.savez_compressed(
        folder / "states.npz", weights=weights, pose=poses, ref_weights=ref_w[0], ref_pose=ref_pose,
        identity=identity, camera=np.array([cam.focal, cam.cx, cam.cy, cam.width, cam.height]),
        photo=rgb,
    )
    with open(folder / "fit.json", "w", encoding="utf-8") as fh:
        json.dump(fit.to_dict(), fh)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=256, help="render size in pixels (square)")
    ap.add_argument("--targets", type=int, default=48, help="target states per photo")
    ap.add_argument("--lfw", type=int, default=6, help="LFW crops to use besides the portraits")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="comma-separated photo names (default: all)")
    ap.add_argument("--audio-share", type=float, default=0.67,
                    help="share of targets animated by the audio network (the rest: random mixes)")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    model = load_face_model()
    scene = Scene(args.size, args.samples, args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t0, done = time.perf_counter(), []
    only = {s for s in args.only.split(",") if s}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for name, rgb in builtin_photos(args.lfw, args.seed):
            if only and name not in only:
                continue
            try:
                fit = fit_photo_array(name, rgb, model, tmp)
            except Exception as exc:  # a crop the landmark detector rejects is skipped
                print(f"skip {name}: {exc}")
                continue
            render_photo(scene, name, rgb, fit, model, args.out, args.targets, rng, tmp, args.audio_share)
            done.append(name)
            print(f"{name}: fit error {fit.error_px:.2f} px, {args.targets} targets, "
                  f"{time.perf_counter() - t0:.0f} s so far", flush=True)
    print(f"rendered {len(done)} photos x {args.targets} targets in "
          f"{time.perf_counter() - t0:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
