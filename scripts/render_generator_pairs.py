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
# Tooth widths (m) from the midline outwards: incisors, lateral incisors, canines, premolars
# (typical adult crowns, rounded). Enough of each arch for a wide smile.
UPPER_TEETH = (0.0085, 0.0066, 0.0076, 0.0069, 0.0066)
LOWER_TEETH = (0.0053, 0.0058, 0.0068, 0.0070, 0.0071)
TOOTH_GRID = (5, 7)      # vertices across and down each crown: rounded outline, shading gradients
TONGUE_GRID = (11, 7)


def _grid_faces(first: int, nu: int, nv: int) -> list[tuple[int, int, int, int]]:
    return [(first + v * nu + u, first + v * nu + u + 1, first + (v + 1) * nu + u + 1, first + (v + 1) * nu + u)
            for v in range(nv - 1) for u in range(nu - 1)]


class MouthInterior:
    """Cavity, gums, two arches of shaped teeth and a tongue, as one mesh with fixed topology and
    per-vertex colours (plus a per-vertex amount of fine procedural grain, ``detail``).

    Built in model space (metres; the face looks toward -Y, Z is up) from the person's neutral
    face (upper teeth and gums: skull) and the current state (cavity: lips; lower teeth, gums and
    tongue: the jaw line's displacement), then posed. Everything here is made in this file: crown
    widths from typical adult teeth; colours are enamel, gum and tongue tones with the gradients a
    flat-lit photo shows (cervical yellowing, translucent incisal edge, darker interproximal edges
    and teeth further back, a tongue groove). ``parts`` names each part's vertex range.
    """

    def __init__(self, model, identity: np.ndarray, rng: np.random.Generator):
        self.model = model
        self.loop = np.array(topology.INNER_LIP_LOOP)
        self.upper = model.index_sets["lip_inner_upper"]
        self.lower = model.index_sets["lip_inner_lower"]
        self.jaw = model.index_sets["jaw_line"]
        self.neutral = model.neutral_vertices(identity)
        self.enamel = np.clip(np.array([0.88, 0.84, 0.76]) * rng.uniform(0.82, 1.08)
                              + np.array([0.0, 0.0, -0.04]) * rng.uniform(0, 1), 0, 1)
        self.cavity_rgb = np.array([0.10, 0.03, 0.03]) * rng.uniform(0.6, 1.4)
        self.gum_rgb = np.array([0.66, 0.30, 0.31]) * rng.uniform(0.8, 1.1)
        self.tongue_rgb = np.array([0.62, 0.25, 0.27]) * rng.uniform(0.8, 1.1)
        self.arch = rng.uniform(0.9, 1.1)              # how sharply the arches curve back
        self.faces, self.colours, self.detail, self.parts = self._topology()

    # ------------------------------------------------------------------ topology and colours
    def _topology(self):
        L = len(self.loop)
        faces, cols, detail, parts = [], [], [], {}

        def add(name, n, colours, grain):
            start = len(cols)
            cols.extend(colours)
            detail.extend([grain] * n)
            parts[name] = slice(start, start + n)
            return start

        c = add("cavity", 3 * L + 1, [self.gum_rgb * 0.8] * L + [self.cavity_rgb * 1.2] * L
                + [self.cavity_rgb * 0.6] * L + [self.cavity_rgb * 0.4], 0.0)
        for r in range(2):
            faces += [(c + r * L + i, c + r * L + (i + 1) % L, c + (r + 1) * L + (i + 1) % L, c + (r + 1) * L + i)
                      for i in range(L)]
        faces += [(c + 2 * L + i, c + 2 * L + (i + 1) % L, c + 3 * L) for i in range(L)]
        nu, nv = TOOTH_GRID
        for arch, widths in (("upper", UPPER_TEETH), ("lower", LOWER_TEETH)):
            n_teeth = 2 * len(widths)
            gum = add(f"{arch}_gum", 2 * (n_teeth + 1), self._gum_colours(n_teeth), 0.05)
            faces += _grid_faces(gum, n_teeth + 1, 2)
            first = len(cols)
            for t in range(n_teeth):
                rank = abs(t - (n_teeth - 1) / 2) - 0.5          # 0 = central incisors
                start = add(f"{arch}_tooth{t}", nu * nv, self._tooth_colours(rank / len(widths), arch), 0.025)
                faces += _grid_faces(start, nu, nv)
            parts[f"{arch}_teeth"] = slice(first, len(cols))
        tu, tv = TONGUE_GRID
        t0 = add("tongue", tu * tv, self._tongue_colours(), 0.14)
        faces += _grid_faces(t0, tu, tv)
        return faces, np.array(cols, np.float32), np.array(detail, np.float32), parts

    def _tooth_colours(self, back: float, arch: str) -> list[np.ndarray]:
        """Down the crown (v: gum -> biting edge) and across it (u): yellower at the gum, a grey
        translucent edge, darker at the sides, and darker for teeth further back (shadowed)."""
        nu, nv = TOOTH_GRID
        out = []
        for v in np.linspace(0, 1, nv):
            for u in np.linspace(0, 1, nu):
                col = self.enamel * (0.86 + 0.14 * np.sin(np.pi * u) ** 0.5)
                col = col * (1.0 - 0.10 * (1 - v) ** 2) + np.array([0.02, 0.01, -0.05]) * (1 - v) ** 2
                col = col * (1 - 0.25 * v ** 6) + np.array([0.55, 0.58, 0.62]) * 0.25 * v ** 6
                col = col * (1.0 - 0.55 * back ** 1.5) * (0.93 if arch == "lower" else 1.0)
                out.append(np.clip(col, 0, 1))
        return out

    def _gum_colours(self, n_teeth: int) -> list[np.ndarray]:
        edge = [self.gum_rgb * (1.05 - 0.4 * abs(i / n_teeth - 0.5) * 2) for i in range(n_teeth + 1)]
        return [e * 0.75 for e in edge] + edge            # row 0 away from the teeth, row 1 at them

    def _tongue_colours(self) -> list[np.ndarray]:
        tu, tv = TONGUE_GRID
        out = []
        for v in np.linspace(0, 1, tv):                   # v: tip (0) -> back (1)
            for u in np.linspace(-1, 1, tu):
                groove = 1.0 - 0.18 * np.exp(-(u / 0.18) ** 2) * (0.4 + 0.6 * v)
                out.append(self.tongue_rgb * groove * (1.0 - 0.75 * v ** 1.2) * (1.0 - 0.25 * u ** 4))
        return out

    # ------------------------------------------------------------------------------ geometry
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
        contact = 0.5 * (up_n[:, 2].mean() + lo_n[:, 2].mean())
        front = 0.5 * (up_n[:, 1].mean() + lo_n[:, 1].mean())
        upper = self._arch(UPPER_TEETH, front + 0.0045, gum_z=contact + 0.0085, edge_z=contact - 0.0026, down=-1)
        lower = self._arch(LOWER_TEETH, front + 0.0068, gum_z=contact - 0.0110, edge_z=contact - 0.0032, down=1)
        tongue = self._tongue(front + 0.0090, contact - 0.0015) + jaw_shift
        return np.concatenate([ring0, ring1, ring2, centre[None], upper[0], upper[1],
                               lower[0] + jaw_shift, lower[1] + jaw_shift, tongue])

    def _arch_point(self, x: np.ndarray, front: float) -> tuple[np.ndarray, np.ndarray]:
        """Depth (y) of the dental arch at lateral position x, and the outward normal's angle."""
        k = 22.0 * self.arch                               # 1/m: a parabola curving back
        return front + k * x ** 2, np.arctan(2 * k * x)

    def _arch(self, widths, front, gum_z, edge_z, down):
        """(gum strip vertices, crown vertices) of one arch. Crowns are centred on the midline,
        each a TOOTH_GRID of points: convex towards the lips, narrower at the gum, rounded corners
        at the biting edge (the central ones longest). ``down`` = -1 for the upper arch."""
        nu, nv = TOOTH_GRID
        half = np.cumsum((0.0,) + tuple(widths))            # tooth borders from the midline
        borders = np.concatenate([-half[::-1], half[1:]])    # left to right
        gum_xs = borders
        gy, _ = self._arch_point(gum_xs, front)
        gum = np.concatenate([np.stack([gum_xs, gy + 0.001, np.full_like(gum_xs, gum_z - down * 0.006)], -1),
                              np.stack([gum_xs, gy - 0.0004, np.full_like(gum_xs, gum_z + down * 0.0008)], -1)])
        crowns = []
        n = len(borders) - 1
        for t in range(n):
            x0, x1 = borders[t] + 0.00018, borders[t + 1] - 0.00018
            rank = abs(t - (n - 1) / 2) - 0.5
            length = (edge_z - gum_z) * (1.0 - 0.06 * rank)   # laterals shorter than centrals
            for v in np.linspace(0, 1, nv):
                # narrower at the gum (cervical) and rounded at the biting edge
                shrink = 0.12 * (1 - v) ** 2 + 0.22 * max(0.0, (v - 0.7) / 0.3) ** 3
                xs = np.linspace(x0, x1, nu)
                xs = 0.5 * (x0 + x1) + (xs - 0.5 * (x0 + x1)) * (1 - shrink)
                y, _ = self._arch_point(xs, front)
                u = np.linspace(0, 1, nu)
                y = y - 0.0007 * np.sin(np.pi * u) * np.sin(np.pi * (0.15 + 0.7 * v))   # labial bulge
                edge_round = 0.0008 * (np.abs(2 * u - 1) ** 3) if v == 1.0 else 0.0
                z = gum_z + length * v - down * edge_round
                crowns.append(np.stack([xs, y, np.broadcast_to(z, xs.shape)], -1))
        return gum, np.concatenate(crowns)

    def _tongue(self, front: float, top_z: float) -> np.ndarray:
        """A low dome from just behind the lower incisors back into the mouth."""
        tu, tv = TONGUE_GRID
        u = np.linspace(-1, 1, tu)[None, :]
        v = np.linspace(0, 1, tv)[:, None]
        width = 0.021 * (0.55 + 0.45 * np.sqrt(v))          # narrow tip, wide body
        x = u * width
        y = front + 0.035 * v + 0.003 * u ** 2
        z = top_z - 0.004 * u ** 2 - 0.002 * (1 - v) ** 2 + 0.005 * np.sin(np.pi * v) - 0.008 * v ** 2   # humps, then falls to the throat
        return np.stack([x + 0 * v, y + 0 * u, z], -1).reshape(-1, 3)


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
        else:  # vertex colour x (1 + detail * grain): fine texture that holds up at 1024 px
            attr = nodes.new("ShaderNodeAttribute")
            attr.attribute_name = "col"
            amount = nodes.new("ShaderNodeAttribute")
            amount.attribute_name = "detail"
            coords = nodes.new("ShaderNodeTexCoord")
            noise = nodes.new("ShaderNodeTexNoise")
            links.new(coords.outputs["Object"], noise.inputs["Vector"])
            noise.inputs["Scale"].default_value = 900.0       # per metre: ~1 mm grain
            noise.inputs["Detail"].default_value = 4.0
            grain = nodes.new("ShaderNodeMath")
            grain.operation = "MULTIPLY_ADD"                  # (noise - 0.5) * 2 * detail + 1
            centred = nodes.new("ShaderNodeMath")
            centred.operation = "MULTIPLY_ADD"
            centred.inputs[1].default_value = 2.0
            centred.inputs[2].default_value = -1.0
            links.new(noise.outputs["Fac"], centred.inputs[0])
            links.new(centred.outputs[0], grain.inputs[0])
            links.new(amount.outputs["Fac"], grain.inputs[1])
            grain.inputs[2].default_value = 1.0
            mix = nodes.new("ShaderNodeVectorMath")
            mix.operation = "SCALE"
            links.new(attr.outputs["Color"], mix.inputs[0])
            links.new(grain.outputs[0], mix.inputs["Scale"])
            links.new(mix.outputs[0], emit.inputs["Color"])
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

    def set_interior(self, verts, faces, colours, detail):
        bpy = self.bpy
        if self.interior is not None:
            bpy.data.objects.remove(self.interior)
        mesh = bpy.data.meshes.new("interior")
        mesh.from_pydata(verts.tolist(), [], [list(f) for f in faces])
        attr = mesh.color_attributes.new("col", "FLOAT_COLOR", "POINT")
        rgba = np.concatenate([colours, np.ones((len(colours), 1), np.float32)], 1)
        attr.data.foreach_set("color", rgba.ravel())
        grain = mesh.attributes.new("detail", "FLOAT", "POINT")
        grain.data.foreach_set("value", np.asarray(detail, np.float32))
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
def open_reference(expression: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo's expression with the lips parted: jaw open 0.12-0.32, sometimes smiling, so the
    reference frame itself shows teeth (as many real portraits do) and a model learns to keep
    what the photo shows and draw only what it hides."""
    w = np.array(expression, np.float32)
    w[IDX["jawOpen"]] = max(w[IDX["jawOpen"]], rng.uniform(0.12, 0.32))
    w[IDX["mouthClose"]] = 0.0
    if rng.random() < 0.5:
        w[IDX["mouthSmileLeft"]] = w[IDX["mouthSmileRight"]] = rng.uniform(0.2, 0.6)
    return w


def render_photo(scene: Scene, name, rgb, fit, model, out: Path, n_targets, rng, tmp: Path,
                 audio_share: float = 0.0, ref_expression: np.ndarray | None = None):
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
    ref_w = np.asarray(fit.expression if ref_expression is None else ref_expression, np.float32)[None]
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
                       interior.faces, interior.colours, interior.detail)

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
    ap.add_argument("--open-references", action="store_true",
                    help="also render each photo as NAME_open: the reference frame with the lips parted "
                         "(open_reference), so pairs start from a frame that shows teeth")
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
            if args.open_references:
                render_photo(scene, f"{name}_open", rgb, fit, model, args.out, args.targets, rng, tmp,
                             args.audio_share, open_reference(fit.expression, rng))
                done.append(f"{name}_open")
            print(f"{name}: fit error {fit.error_px:.2f} px, {args.targets} targets, "
                  f"{time.perf_counter() - t0:.0f} s so far", flush=True)
    print(f"rendered {len(done)} photos x {args.targets} targets in "
          f"{time.perf_counter() - t0:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
