"""Build ``weights/face_model.npz``: the TalkFace 3DMM (dev-time only, deterministic).

Run from the repository root::

    .venv/bin/python scripts/build_face_model.py

Inputs are real faces that ship inside installed packages (no download): scikit-image's
``astronaut`` (NASA, public domain), matplotlib's ``grace_hopper.jpg`` sample and the 100
face crops of scikit-image's ``lfw_subset`` (Labeled Faces in the Wild). MediaPipe FaceMesh
gives 468 3D landmarks per face; they are Procrustes-aligned, mirrored and averaged into a
symmetric neutral, and their residual variation (with the expression subspace projected out)
gives the identity basis. The 52 ARKit expression shapes are built geometrically on that
neutral: region fields (harmonic on the mesh, so the mouth and eye holes separate upper and
lower lids/lips), a jaw hinge for jawOpen and Laplacian smoothing of every delta.

Runtime code never runs this script; it only loads the npz it writes.
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.optimize import linear_sum_assignment

from talkface.core.face import topology as T
from talkface.core.face.model import ARKIT_NAMES

ROOT = Path(__file__).resolve().parents[1]

OUT_NPZ = ROOT / "weights" / "face_model.npz"
V = 468
IPD_M = 0.063  # adult mean inter-pupillary distance, sets metric scale
NEUTRAL_LIP_GAP = 0.0002  # lips touch without interpenetrating (0.2 mm)

# ---- MediaPipe FaceMesh landmark index sets (core.face.topology), as lists for numpy indexing
LIP_IN_UP, LIP_IN_LO = list(T.INNER_LIP_UPPER), list(T.INNER_LIP_LOWER)
LIP_OUT_UP, LIP_OUT_LO = list(T.OUTER_LIP_UPPER), list(T.OUTER_LIP_LOWER)
EYE_L_UP, EYE_L_LO = list(T.LEFT_EYE_UPPER), list(T.LEFT_EYE_LOWER)
EYE_R_UP, EYE_R_LO = list(T.RIGHT_EYE_UPPER), list(T.RIGHT_EYE_LOWER)
BROW_L, BROW_R = list(T.LEFT_BROW), list(T.RIGHT_BROW)
BROW_L_INNER, BROW_L_OUTER = list(T.LEFT_BROW_INNER), list(T.LEFT_BROW_OUTER)
NOSE, ANCHOR, MIDLINE, OVAL = list(T.NOSE), list(T.ANCHOR), list(T.MIDLINE), list(T.FACE_OVAL)
NOSE_TIP, NOSE_BASE, CHIN = T.NOSE_TIP, T.NOSE_BASE, T.CHIN
IRIS_L, IRIS_R = T.LEFT_IRIS, T.RIGHT_IRIS  # refine_landmarks iris centres, used only for the metric scale


# ---- inputs ---------------------------------------------------------------------------------
def input_images() -> list[tuple[str, np.ndarray]]:
    """Real face photos that ship offline inside installed wheels."""
    import cv2
    import matplotlib
    from skimage import data

    grace = cv2.imread(os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg"))
    images = [("skimage:astronaut", data.astronaut()),
              ("matplotlib:grace_hopper", cv2.cvtColor(grace, cv2.COLOR_BGR2RGB))]
    lfw = data.lfw_subset()[:100]  # the first 100 are faces, the rest are non-faces
    for i, crop in enumerate(lfw):
        big = cv2.resize((crop * 255).astype(np.uint8), (200, 200), interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, 60, 60, 60, 60, cv2.BORDER_REPLICATE)  # detector context
        images.append((f"skimage:lfw_subset[{i}]", np.repeat(big[..., None], 3, axis=2)))
    return images


def detect_landmarks(images) -> tuple[list[str], np.ndarray]:
    """478 landmarks per face in model axes (x right of subject's... image right, z up, y depth)."""
    import mediapipe.python.solutions.face_mesh as mp_face_mesh

    names, shapes = [], []
    with mp_face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1,
                               min_detection_confidence=0.3) as mesh:
        for name, img in images:
            res = mesh.process(img)
            if not res.multi_face_landmarks:
                continue
            h, w = img.shape[:2]
            p = np.array([[q.x * w, q.y * h, q.z * w] for q in res.multi_face_landmarks[0].landmark])
            # image x -> +X (subject's left), depth z (toward camera negative) -> Y, image y down -> -Z
            shapes.append(np.stack([p[:, 0], p[:, 2], -p[:, 1]], axis=1))
            names.append(name)
    return names, np.asarray(shapes)


# ---- topology -------------------------------------------------------------------------------
def tessellation_edges() -> np.ndarray:
    import mediapipe.python.solutions.face_mesh_connections as conn

    return np.array(sorted({tuple(sorted(e)) for e in conn.FACEMESH_TESSELATION}), dtype=np.int64)


def triangles_from_edges(edges: np.ndarray) -> np.ndarray:
    """3-cliques of the edge graph, minus cliques that cap a tetrahedron (all 3 edges used 3x)."""
    adj = [set() for _ in range(V)]
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    tris = sorted({tuple(sorted((a, b, k))) for a, b in edges for k in adj[a] & adj[b]})
    use = Counter(tuple(sorted(e)) for t in tris for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2])))
    keep = [t for t in tris
            if not all(use[tuple(sorted(e))] >= 3 for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2])))]
    return np.array(keep, dtype=np.int32)


def symmetric_triangles(tris: np.ndarray, mirror: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Left half + its mirror image: MediaPipe's tessellation has 3 asymmetric diagonal flips."""
    xsum = verts[tris, 0].sum(1)
    left = tris[xsum > 1e-9]
    middle = tris[np.abs(xsum) <= 1e-9]
    out = {tuple(sorted(t)) for t in np.concatenate([left, mirror[left], middle])}
    return np.array(sorted(out), dtype=np.int32)


def orient(tris: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Consistent winding with normals pointing out of the face (toward -Y at the nose)."""
    import trimesh

    mesh = trimesh.Trimesh(verts, tris, process=False)
    trimesh.repair.fix_winding(mesh)
    faces = np.asarray(mesh.faces, dtype=np.int32)
    nose_faces = np.any(faces == NOSE_TIP, axis=1)
    if mesh.face_normals[nose_faces, 1].mean() > 0:
        faces = faces[:, ::-1]
    return np.ascontiguousarray(faces)


def boundary_loops(tris: np.ndarray) -> list[list[int]]:
    use = Counter(tuple(sorted(e)) for t in tris for e in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2])))
    nbr: dict[int, list[int]] = {}
    for (a, b), n in use.items():
        if n == 1:
            nbr.setdefault(a, []).append(b)
            nbr.setdefault(b, []).append(a)
    loops, seen = [], set()
    for s in sorted(nbr):
        if s in seen:
            continue
        loop, prev, cur = [s], -1, s
        seen.add(s)
        while True:
            nxt = [n for n in nbr[cur] if n != prev and n not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            loop.append(cur)
            seen.add(cur)
        loops.append(loop)
    return loops


# ---- alignment and symmetry -----------------------------------------------------------------
def similarity_align(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x similarity-aligned onto y (Umeyama)."""
    mx, my = x.mean(0), y.mean(0)
    a, b = x - mx, y - my
    u, s, vt = np.linalg.svd(a.T @ b)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    return (np.trace(np.diag(s) @ d) / (a ** 2).sum()) * (a @ rot) + my


def rigid_align(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    mx, my = x.mean(0), y.mean(0)
    u, _, vt = np.linalg.svd((x - mx).T @ (y - my))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    return (x - mx) @ (u @ d @ vt) + my


def procrustes(shapes: np.ndarray, iters: int = 6) -> np.ndarray:
    ref = shapes[0]
    for _ in range(iters):
        aligned = np.stack([similarity_align(s, ref) for s in shapes])
        ref = aligned.mean(0)
    return aligned


FLIP = np.array([-1.0, 1.0, 1.0])


def mirror_pairing(p: np.ndarray) -> np.ndarray:
    """Left/right vertex pairing: optimal assignment between the shape and its reflection."""
    mid = p[MIDLINE] - p[MIDLINE].mean(0)
    normal = np.linalg.svd(mid)[2][2]  # the midline landmarks span the symmetry plane
    normal *= np.sign(normal[0])
    rel = p - p[MIDLINE].mean(0)
    q = rel - 2 * np.outer(rel @ normal, normal)  # reflection across that plane
    _, col = linear_sum_assignment(np.linalg.norm(rel[:, None] - q[None], axis=2))
    return col


def symmetrise(p: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    """Average of the shape and its rigidly re-aligned mirror image, symmetry plane at x = 0."""
    q = rigid_align((p * FLIP)[mirror], p)
    s = 0.5 * (p + q)
    # rotate so that the mirror-pair chords are along X, then centre the midline at x = 0
    chords = s - s[mirror]
    _, _, vt = np.linalg.svd(chords.T @ chords)
    n = vt[0] * np.sign(vt[0, 0])
    axis = np.cross(n, [1.0, 0, 0])
    ang = np.arcsin(np.clip(np.linalg.norm(axis), -1, 1))
    if np.linalg.norm(axis) > 1e-12:
        k = axis / np.linalg.norm(axis)
        kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        r = np.eye(3) + np.sin(ang) * kx + (1 - np.cos(ang)) * kx @ kx
        s = s @ r.T
    s[:, 0] -= s[:, 0].mean()
    return 0.5 * (s + (s * FLIP)[mirror])


def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def upright(shapes: np.ndarray) -> np.ndarray:
    """Pitch so the facial plane (eye corners to mouth corners) is vertical."""
    m = shapes.mean(0)
    eyes = 0.5 * (m[33] + m[263])
    mouth = 0.5 * (m[61] + m[291])
    d = eyes - mouth
    a = -np.arctan2(d[1], d[2])  # rotate about X so that d has no Y component
    return shapes @ rot_x(a).T


# ---- mesh operators -------------------------------------------------------------------------
def uniform_laplacian(tris: np.ndarray) -> sp.csr_matrix:
    e = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    e = np.concatenate([e, e[:, ::-1]])
    a = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(V, V)).tocsr()
    a.data[:] = 1.0
    deg = np.asarray(a.sum(1)).ravel()
    return (sp.diags(deg) - a).tocsr()


class Mesh:
    """Neutral geometry plus the sparse operators the shape builders share."""

    def __init__(self, verts: np.ndarray, tris: np.ndarray):
        self.v = verts
        self.t = tris
        self.L = uniform_laplacian(tris)
        deg = self.L.diagonal()
        self.W = sp.diags(1.0 / deg) @ (sp.diags(deg) - self.L)  # neighbour-average operator

    def harmonic(self, fixed: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Values on ``fixed`` vertices extended smoothly (Laplace) over the rest of the mesh."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        fixed = np.asarray(fixed)
        free = np.setdiff1d(np.arange(V), fixed)
        out = np.zeros((V, values.shape[1]))
        out[fixed] = values
        lff = self.L[free][:, free].tocsc()
        rhs = -self.L[free][:, fixed] @ values
        out[free] = spla.splu(lff).solve(rhs)
        return out.squeeze()

    def smooth(self, delta: np.ndarray, fixed: np.ndarray | None = None, iters: int = 3,
               lam: float = 0.5) -> np.ndarray:
        """Laplacian smoothing of a delta field, keeping ``fixed`` vertices exact."""
        out = delta.copy()
        for _ in range(iters):
            new = (1 - lam) * out + lam * (self.W @ out)
            if fixed is not None:
                new[fixed] = out[fixed]
            out = new
        return out

    def gauss(self, centre: np.ndarray, sigma: float | np.ndarray) -> np.ndarray:
        d2 = (((self.v - centre) / sigma) ** 2).sum(1)
        return np.exp(-0.5 * d2)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


# ---- neutral --------------------------------------------------------------------------------
def close_lips(mesh: Mesh, gap: float) -> np.ndarray:
    """Move the inner lips vertically so each matched pair is ``gap`` apart (lips touching)."""
    v = mesh.v
    up, lo = np.array(LIP_IN_UP), np.array(LIP_IN_LO)
    mid = 0.5 * (v[up, 2] + v[lo, 2])
    dz_up = (mid + gap / 2) - v[up, 2]
    dz_lo = (mid - gap / 2) - v[lo, 2]
    dz_up[[0, -1]] = dz_lo[[0, -1]] = 0.0  # corners are shared by both loops
    anchors = np.setdiff1d(np.array(NOSE + [CHIN, 152, 175, 199, 200, 18]), np.r_[up, lo])
    far = np.where(np.abs(v[:, 2] - v[13, 2]) > 0.035)[0]
    zero = np.setdiff1d(np.r_[anchors, far], np.r_[up, lo])
    fixed = np.r_[up[1:-1], lo[1:-1], zero]
    vals = np.r_[dz_up[1:-1], dz_lo[1:-1], np.zeros(len(zero))]
    dz = mesh.harmonic(fixed, vals)
    out = v.copy()
    out[:, 2] += dz
    return out


# ---- expression shapes ----------------------------------------------------------------------
class ShapeBuilder:
    """Builds the 52 ARKit deltas on a symmetric neutral (Left shapes; Right by mirroring)."""

    def __init__(self, mesh: Mesh, mirror: np.ndarray):
        self.m = mesh
        self.mirror = mirror
        v = mesh.v
        self.v = v
        self.mouth_c = 0.5 * (v[13] + v[14])
        self.corner_l = v[291]
        self.nose_tip = v[NOSE_TIP]
        self.far_from_mouth = np.where(
            np.linalg.norm((v - self.mouth_c) * [1, 1, 1.3], axis=1) > 0.045)[0]
        self.up_lip, self.lo_lip = self._lip_fields()
        self.jaw = self._jaw_field()
        # condyle (TMJ): in front of the ear, ~10 cm behind and 1.5 cm above the nose tip; the
        # jaw rotates about it and glides forward/down (condylar translation) as it opens
        self.hinge = np.array([0.0, v[NOSE_TIP, 1] + 0.10, v[NOSE_TIP, 2] + 0.015])
        self.glide = np.array([0.0, -0.012, -0.006])
        self.jaw_angle = self._jaw_angle_for_gap(0.030)

    # fields ---------------------------------------------------------------------------------
    def _lip_fields(self) -> tuple[np.ndarray, np.ndarray]:
        """1 on one lip's inner edge, fading to 0 at nose/chin/cheeks (holes keep lips apart)."""
        v = self.v
        far = np.where(np.linalg.norm((v - self.mouth_c) * [1, 1, 1.3], axis=1) > 0.045)[0]
        up, lo = np.array(LIP_IN_UP[1:-1]), np.array(LIP_IN_LO[1:-1])
        corners = np.array([78, 308])
        stop_up = np.array([2, 164, 167, 393, 98, 327, 97, 326])  # nose base / philtrum top
        stop_lo = np.array([18, 200, 199, 175, 152])  # chin
        fu = np.unique(np.r_[far, up, lo, corners, stop_up])
        vu = np.where(np.isin(fu, up), 1.0, np.where(np.isin(fu, corners), 0.5, 0.0))
        fl = np.unique(np.r_[far, up, lo, corners, stop_lo])
        vl = np.where(np.isin(fl, lo), 1.0, np.where(np.isin(fl, corners), 0.5, 0.0))
        return self.m.harmonic(fu, vu), self.m.harmonic(fl, vl)

    def _jaw_field(self) -> np.ndarray:
        """Mandible weight: 1 on lower lip/chin/jaw line, 0 above the mouth, harmonic between."""
        v = self.v
        z_mouth = v[[61, 291], 2].mean()
        oval = np.array(OVAL)
        oval_w = smoothstep((z_mouth + 0.012 - v[oval, 2]) / 0.03)
        upper = np.array(LIP_IN_UP[1:-1] + LIP_OUT_UP[1:-1] + NOSE)
        above = np.where(v[:, 2] > v[NOSE_BASE, 2] + 0.004)[0]
        lower = np.array(LIP_IN_LO[1:-1] + LIP_OUT_LO[1:-1] + [18, 200, 199, 175, 152])
        fixed = np.r_[oval, upper, above, lower, [78, 308, 61, 291]]
        vals = np.r_[oval_w, np.zeros(len(upper) + len(above)), np.ones(len(lower)), [0.5] * 4]
        fixed, first = np.unique(fixed, return_index=True)
        field = self.m.harmonic(fixed, vals[first])
        return self.m.smooth(field[:, None], fixed=np.r_[lower, upper], iters=4)[:, 0]

    def _jaw_delta(self, angle: float) -> np.ndarray:
        r = rot_x(angle)  # chin down and back
        rel = self.v - self.hinge
        glide = self.glide * angle / 0.3  # full glide at ~17 degrees
        return self.jaw[:, None] * (rel @ r.T - rel + glide)

    def _jaw_angle_for_gap(self, gap: float) -> float:
        """Hinge angle giving ``gap`` metres between the central lip points (bisection)."""
        lo_a, hi_a = 0.0, 0.8
        for _ in range(40):
            a = 0.5 * (lo_a + hi_a)
            d = self._jaw_delta(a)
            opened = (self.v[13, 2] + d[13, 2]) - (self.v[14, 2] + d[14, 2])
            lo_a, hi_a = (a, hi_a) if opened < gap else (lo_a, a)
        return 0.5 * (lo_a + hi_a)

    def left_side(self, sigma_x: float = 0.012) -> np.ndarray:
        """0 on the right half, 1 on the left half, smooth across the midline."""
        return smoothstep(0.5 + self.v[:, 0] / (2 * sigma_x))

    def finish(self, delta: np.ndarray, fixed=None, iters: int = 3) -> np.ndarray:
        return self.m.smooth(delta, fixed=fixed, iters=iters)

    def mirror_delta(self, delta: np.ndarray) -> np.ndarray:
        return (delta * FLIP)[self.mirror]

    # individual shapes (metres at weight 1) -------------------------------------------------
    def jaw_open(self):
        return self._jaw_delta(self.jaw_angle)

    def mouth_close(self):
        """Lips meet against an open jaw: the lower lip keeps 40% of the jaw drop, the upper
        lip comes down by that same 40%, so jawOpen = mouthClose = w restores the contact."""
        jd = self._jaw_delta(self.jaw_angle)
        up, lo = np.array(LIP_IN_UP), np.array(LIP_IN_LO)
        d_lo = -0.6 * jd[lo]
        d_up = 0.4 * jd[lo]
        d_up[[0, -1]] = d_lo[[0, -1]]  # shared corners
        zero = np.setdiff1d(np.r_[self.far_from_mouth, NOSE, [152, 175, 199, 200]], np.r_[up, lo])
        fixed = np.r_[up, lo[1:-1], zero]
        vals = np.r_[d_up, d_lo[1:-1], np.zeros((len(zero), 3))]
        delta = self.m.harmonic(fixed, vals)
        return self.finish(delta, fixed=np.r_[up, lo])

    def tie_lips(self, delta: np.ndarray) -> np.ndarray:
        """Matched inner-lip points move together, so the shape cannot open or cross the lips."""
        up, lo = np.array(LIP_IN_UP), np.array(LIP_IN_LO)
        delta = delta.copy()
        mean = 0.5 * (delta[up] + delta[lo])
        delta[up] = mean
        delta[lo] = mean
        return self.m.smooth(delta, fixed=np.r_[up, lo], iters=2)

    def jaw_shift(self, vec):
        return self.jaw[:, None] * np.asarray(vec)[None]

    def lips_region(self) -> np.ndarray:
        return np.maximum(self.up_lip, self.lo_lip)

    def mouth_funnel(self):
        v, c = self.v, self.mouth_c
        w = np.sqrt(self.lips_region())[:, None]
        rel = v - c
        out = np.zeros_like(v)
        out[:, 0] = -0.22 * rel[:, 0]  # narrower
        out[:, 1] = -0.008  # flare forward
        opening = (self.up_lip - self.lo_lip) * 0.005  # round opening ~10 mm
        out[:, 2] = opening
        return self.finish(w * out)

    def mouth_pucker(self):
        v, c = self.v, self.mouth_c
        w = np.sqrt(self.lips_region())[:, None]
        rel = v - c
        out = np.zeros_like(v)
        out[:, 0] = -0.42 * rel[:, 0]
        out[:, 1] = -0.010 + 0.0
        out[:, 2] = -0.1 * rel[:, 2]
        return self.tie_lips(self.finish(w * out))

    def mouth_side(self):
        w = self.m.gauss(self.mouth_c, np.array([0.03, 0.03, 0.022]))[:, None]
        return self.tie_lips(self.finish(w * np.array([0.009, 0.002, 0.0])))

    def corner_field(self, sx=0.016, sz=0.016):
        return self.m.gauss(self.corner_l, np.array([sx, 0.03, sz])) * self.left_side()

    def smile(self):
        w = self.corner_field(0.018, 0.02)[:, None]
        cheek = self.m.gauss(self.v[205] * FLIP + [0, 0, 0.01], 0.02)[:, None] * self.left_side()[:, None]
        return self.tie_lips(self.finish(w * np.array([0.006, 0.004, 0.008]) + cheek * np.array([0.001, -0.002, 0.003])))

    def frown(self):
        w = self.corner_field(0.014, 0.02)[:, None]
        return self.tie_lips(self.finish(w * np.array([0.001, 0.0, -0.006])))

    def stretch(self):
        w = self.corner_field(0.018, 0.02)[:, None]
        lower = (self.lo_lip * self.left_side())[:, None]
        return self.finish(w * np.array([0.008, 0.002, -0.003]) + lower * np.array([0, 0, -0.0015]))

    def dimple(self):
        w = self.corner_field(0.01, 0.012)[:, None]
        return self.tie_lips(self.finish(w * np.array([0.002, 0.004, 0.0])))

    def roll(self, upper: bool):
        """Lip rolls inward: its vermilion border tucks toward the contact line and back."""
        v = self.v
        field = self.up_lip if upper else self.lo_lip
        inner = np.array(LIP_IN_UP if upper else LIP_IN_LO)[1:-1]
        outer = np.array(LIP_OUT_UP if upper else LIP_OUT_LO)[1:-1]
        sgn = 1.0 if upper else -1.0
        height = np.abs(v[outer, 2] - self.mouth_c[2])
        zero = np.setdiff1d(np.r_[OVAL, NOSE, [152, 175, 199, 200]], np.r_[inner, outer])
        fixed = np.r_[inner, outer, zero]
        d_inner = np.tile([0.0, 0.003, sgn * 0.0006], (len(inner), 1))
        d_outer = np.stack([np.zeros(len(outer)), np.full(len(outer), 0.004), -sgn * 0.6 * height], 1)
        vals = np.r_[d_inner, d_outer, np.zeros((len(zero), 3))]
        delta = self.m.harmonic(fixed, vals)
        return self.finish(delta * np.minimum(1.0, 2 * field)[:, None], fixed=np.r_[inner])

    def shrug_lower(self):
        chin = self.m.gauss(self.v[18] + [0, 0, -0.01], np.array([0.03, 0.03, 0.02]))
        w = np.maximum(self.lo_lip, chin * (self.jaw > 0.5))[:, None]
        lift = w * np.array([0.0, -0.002, 0.004])
        up_push = self.up_lip[:, None] ** 2 * np.array([0.0, -0.001, 0.0042])
        return self.finish(lift + up_push, fixed=np.r_[LIP_IN_UP, LIP_IN_LO])

    def shrug_upper(self):
        up = self.up_lip[:, None] * np.array([0.0, -0.002, 0.003])
        lo = self.lo_lip[:, None] * np.array([0.0, -0.001, 0.0026])
        return self.finish(up + lo, fixed=np.r_[LIP_IN_UP, LIP_IN_LO])

    def press(self):
        """Lips press together: borders move toward the contact line, contact line stays."""
        v = self.v
        side = self.m.gauss(self.corner_l + [-0.012, 0, 0], np.array([0.018, 0.05, 0.05]))
        side *= self.left_side(0.006)
        rel_z = v[:, 2] - self.mouth_c[2]
        thin = -0.25 * rel_z * self.lips_region()
        delta = np.zeros_like(v)
        delta[:, 2] = thin * side
        delta[:, 0] = 0.0015 * side * self.lips_region()
        return self.finish(delta, fixed=np.r_[LIP_IN_UP[1:-1], LIP_IN_LO[1:-1]])

    def lower_down(self):
        w = (self.lo_lip * self.m.gauss(self.corner_l + [-0.01, 0, 0], np.array([0.016, 0.05, 0.05]))
             * self.left_side(0.006))[:, None]
        return self.finish(w * np.array([0.0005, -0.001, -0.005]))

    def upper_up(self):
        w = (self.up_lip * self.m.gauss(self.corner_l + [-0.01, 0, 0], np.array([0.016, 0.05, 0.05]))
             * self.left_side(0.006))[:, None]
        return self.finish(w * np.array([0.0005, -0.001, 0.005]))

    def cheek_puff(self):
        v = self.v
        w = np.zeros(V)
        for sgn in (1, -1):
            c = np.array([sgn * 0.042, v[205, 1] + 0.005, self.mouth_c[2] + 0.005])
            w += self.m.gauss(c, np.array([0.02, 0.03, 0.022]))
        out = np.zeros_like(v)
        out[:, 0] = np.sign(v[:, 0]) * 0.006
        out[:, 1] = -0.004
        lips = self.lips_region()[:, None] * np.array([0, -0.002, 0])
        return self.tie_lips(self.finish(w[:, None] * out + lips))

    def cheek_squint(self):
        c = self.v[EYE_L_LO].mean(0) + [0.005, 0, -0.018]
        w = self.m.gauss(c, np.array([0.02, 0.03, 0.014])) * self.left_side()
        return self.finish(w[:, None] * np.array([0.0, -0.001, 0.003]))

    def nose_sneer(self):
        c = self.v[358]
        w = self.m.gauss(c + [0, 0, 0.004], np.array([0.01, 0.02, 0.012])) * self.left_side(0.004)
        return self.finish(w[:, None] * np.array([0.0005, -0.0005, 0.003]))

    def brow_field(self, ids, sigma):
        c = self.v[ids].mean(0)
        return self.m.gauss(c, np.array([sigma, 0.04, sigma * 1.3]))

    def brow_inner_up(self):
        w = self.brow_field(BROW_L_INNER, 0.016) * self.left_side(0.004)
        w = w + w[self.mirror]
        return self.finish(w[:, None] * np.array([0.0, 0.0, 0.008]))

    def brow_down(self):
        w = self.brow_field(BROW_L, 0.02) * self.left_side()
        inner = self.brow_field(BROW_L_INNER, 0.012) * self.left_side(0.004)
        return self.finish(w[:, None] * np.array([0.0, 0.0, -0.005])
                           + inner[:, None] * np.array([-0.003, -0.001, -0.001]))

    def brow_outer_up(self):
        w = self.brow_field(BROW_L_OUTER, 0.016) * self.left_side()
        return self.finish(w[:, None] * np.array([0.0, 0.0, 0.007]))

    def eyelids(self, d_up: np.ndarray, d_lo: np.ndarray) -> np.ndarray:
        """Lid-margin deltas extended over the lids; brows, nose and cheeks stay put."""
        v = self.v
        eye_c = v[EYE_L_UP + EYE_L_LO].mean(0)
        up, lo = np.array(EYE_L_UP[1:-1]), np.array(EYE_L_LO[1:-1])
        corners = np.array([EYE_L_UP[0], EYE_L_UP[-1]])
        far = np.where(np.linalg.norm((v - eye_c) * [1, 1, 1.4], axis=1) > 0.026)[0]
        fixed = np.r_[up, lo, corners, far]
        vals = np.r_[d_up, d_lo, np.zeros((len(corners) + len(far), 3))]
        fixed, first = np.unique(fixed, return_index=True)
        delta = self.m.harmonic(fixed, vals[first])
        return self.finish(delta, fixed=np.r_[up, lo, corners], iters=2)

    def blink(self):
        v = self.v
        up, lo = np.array(EYE_L_UP[1:-1]), np.array(EYE_L_LO[1:-1])
        meet = v[lo] + 0.2 * (v[up] - v[lo])  # lids meet low, as the upper lid does the work
        meet[:, 1] = np.minimum(v[up, 1], v[lo, 1]) - 0.0015  # over the cornea bulge
        eps = np.array([0.0, 0.0, 0.0001])
        return self.eyelids(meet + eps - v[up], meet - eps - v[lo])

    def eye_wide(self):
        n_up, n_lo = len(EYE_L_UP) - 2, len(EYE_L_LO) - 2
        prof = np.sin(np.linspace(0, np.pi, n_up + 2)[1:-1])[:, None]
        return self.eyelids(prof * [0, -0.0005, 0.0025], prof[:n_lo] * [0, 0, -0.0007])

    def eye_squint(self):
        prof = np.sin(np.linspace(0, np.pi, len(EYE_L_UP))[1:-1])[:, None]
        lids = self.eyelids(prof * [0, 0, -0.001], prof * [0, -0.0005, 0.002])
        return lids + 0.5 * self.cheek_squint()

    def eye_look(self, kind: str):
        """No eyeball on a surface mesh: only the lids follow the gaze slightly."""
        prof = np.sin(np.linspace(0, np.pi, len(EYE_L_UP))[1:-1])[:, None]
        if kind == "Up":
            return self.eyelids(prof * [0, 0, 0.001], prof * [0, 0, 0.0004])
        if kind == "Down":
            return self.eyelids(prof * [0, 0, -0.0015], prof * [0, 0, -0.0004])
        dx = 0.0006 if kind == "Out" else -0.0006  # left eye: out = +X
        return self.eyelids(prof * [dx, 0, 0], prof * [dx, 0, 0])

    def tongue_out(self):
        """No tongue geometry: the lower lip drops and pushes forward a little."""
        return self.finish(self.lo_lip[:, None] * np.array([0.0, -0.002, -0.003]))

    # assembly --------------------------------------------------------------------------------
    def build(self) -> np.ndarray:
        left = {
            "eyeBlink": self.blink(), "eyeLookDown": self.eye_look("Down"),
            "eyeLookIn": self.eye_look("In"), "eyeLookOut": self.eye_look("Out"),
            "eyeLookUp": self.eye_look("Up"), "eyeSquint": self.eye_squint(),
            "eyeWide": self.eye_wide(), "mouthSmile": self.smile(), "mouthFrown": self.frown(),
            "mouthDimple": self.dimple(), "mouthStretch": self.stretch(),
            "mouthPress": self.press(), "mouthLowerDown": self.lower_down(),
            "mouthUpperUp": self.upper_up(), "browDown": self.brow_down(),
            "browOuterUp": self.brow_outer_up(), "cheekSquint": self.cheek_squint(),
            "noseSneer": self.nose_sneer(),
        }
        jaw_side = self.jaw_shift([0.009, 0.0, 0.0])
        mouth_side = self.mouth_side()
        single = {
            "jawForward": self.jaw_shift([0.0, -0.008, 0.0]),
            "jawLeft": jaw_side, "jawRight": self.mirror_delta(jaw_side),
            "jawOpen": self.jaw_open(), "mouthClose": self.mouth_close(),
            "mouthFunnel": self.mouth_funnel(), "mouthPucker": self.mouth_pucker(),
            "mouthLeft": mouth_side, "mouthRight": self.mirror_delta(mouth_side),
            "mouthRollLower": self.roll(upper=False), "mouthRollUpper": self.roll(upper=True),
            "mouthShrugLower": self.shrug_lower(), "mouthShrugUpper": self.shrug_upper(),
            "browInnerUp": self.brow_inner_up(), "cheekPuff": self.cheek_puff(),
            "tongueOut": self.tongue_out(),
        }
        out = []
        for name in ARKIT_NAMES:
            if name in single:
                d = single[name]
            elif name.endswith("Left"):
                d = left[name[:-4]]
            else:
                d = self.mirror_delta(left[name[:-5]])
            out.append(d)
        basis = np.stack(out)
        # symmetric shapes are made exactly symmetric (numerical noise from the solvers)
        for k, name in enumerate(ARKIT_NAMES):
            if not (name.endswith("Left") or name.endswith("Right")):
                basis[k] = 0.5 * (basis[k] + self.mirror_delta(basis[k]))
        return basis


# ---- identity -------------------------------------------------------------------------------
def geometric_modes(mesh: Mesh, sb: ShapeBuilder) -> tuple[list[str], np.ndarray]:
    """Smooth, interpretable shape modes; amplitudes are about one population std."""
    v = mesh.v
    centre = v.mean(0)
    rel = v - centre
    lower = smoothstep((v[NOSE_BASE, 2] - v[:, 2]) / 0.03)
    nose = mesh.gauss(v[4], np.array([0.016, 0.03, 0.022]))
    eyes_l = mesh.gauss(v[EYE_L_UP + EYE_L_LO].mean(0), 0.014) * sb.left_side()
    eyes = eyes_l + eyes_l[sb.mirror]
    modes = {
        "size": 0.04 * rel,
        "face_width": np.c_[0.04 * rel[:, 0], 0 * rel[:, 1], 0 * rel[:, 2]],
        "lower_face_length": np.c_[0 * v[:, 0], 0 * v[:, 0], 0.05 * lower * (v[:, 2] - v[NOSE_BASE, 2])],
        "jaw_width": np.c_[0.06 * sb.jaw * rel[:, 0], 0 * v[:, 0], 0 * v[:, 0]],
        "chin_forward": np.c_[0 * v[:, 0], -0.004 * sb.jaw, 0 * v[:, 0]],
        "nose_width": np.c_[0.10 * nose * rel[:, 0], 0 * v[:, 0], 0 * v[:, 0]],
        "nose_protrusion": np.c_[0 * v[:, 0], -0.003 * nose, 0 * v[:, 0]],
        "eye_spacing": np.c_[0.0025 * eyes * np.sign(v[:, 0]), 0 * v[:, 0], 0 * v[:, 0]],
    }
    names = list(modes)
    return names, np.stack([mesh.smooth(modes[n]) for n in names])


def project_out(x: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Remove from each row of x (flattened) its least-squares component in span(basis)."""
    q, _ = np.linalg.qr(basis.reshape(len(basis), -1).T)
    flat = x.reshape(len(x), -1)
    return (flat - (flat @ q) @ q.T).reshape(x.shape)


def identity_basis(shapes: np.ndarray, mirror: np.ndarray, mesh: Mesh, sb: ShapeBuilder,
                   expr: np.ndarray, n_pca: int = 12) -> tuple[list[str], np.ndarray]:
    """Geometric modes + PCA of real residuals; expression span projected out of both."""
    data = np.concatenate([shapes, (shapes * FLIP)[:, mirror]])  # mirrored faces too
    res = data - data.mean(0)
    res = project_out(res, expr)
    geo_names, geo = geometric_modes(mesh, sb)
    geo = project_out(geo, expr)
    res = project_out(res, geo)  # PCA explains what the geometric modes do not
    flat = res.reshape(len(res), -1)
    _, s, vt = np.linalg.svd(flat, full_matrices=False)
    std = s[:n_pca] / np.sqrt(len(res) - 1)
    pca = (vt[:n_pca] * std[:, None]).reshape(n_pca, V, 3)
    pca = np.stack([mesh.smooth(p, iters=2) for p in pca])
    pca = project_out(project_out(pca, expr), geo)
    names = geo_names + [f"pca{i:02d}" for i in range(n_pca)]
    return names, keep_lips_touching(np.concatenate([geo, pca]), expr)


def tie_pairs(modes: np.ndarray) -> np.ndarray:
    """Orthogonal projection onto fields that move matched inner-lip points identically."""
    up, lo = np.array(LIP_IN_UP), np.array(LIP_IN_LO)
    out = modes.copy()
    mean = 0.5 * (out[:, up] + out[:, lo])
    out[:, up] = mean
    out[:, lo] = mean
    return out


def keep_lips_touching(modes: np.ndarray, expr: np.ndarray, iters: int = 50) -> np.ndarray:
    """Identity must neither part nor cross the lips and must stay outside the expression
    span: alternate the two orthogonal projections until they agree (their intersection)."""
    for _ in range(iters):
        modes = project_out(tie_pairs(modes), expr)
    return tie_pairs(modes)


# ---- main -----------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    names, raw = detect_landmarks(input_images())
    print(f"faces with landmarks: {len(raw)}")
    aligned = procrustes(raw[:, :V])
    # metric scale from the refined iris centres, measured on each similarity-aligned face
    ipd = np.array([np.linalg.norm(r[IRIS_L] - r[IRIS_R]) * np.linalg.norm(a - a.mean(0)) /
                    np.linalg.norm(r[:V] - r[:V].mean(0)) for r, a in zip(raw, aligned)])
    aligned = aligned * (IPD_M / ipd.mean())
    aligned = aligned - aligned.mean((0, 1))

    mean0 = aligned.mean(0)
    mirror = mirror_pairing(mean0)
    assert np.all(mirror[mirror] == np.arange(V)), "mirror pairing is not an involution"
    sym_mean = symmetrise(mean0, mirror)
    aligned = np.stack([similarity_align(a, sym_mean) for a in aligned])
    aligned = upright(aligned)
    sym_mean = symmetrise(aligned.mean(0), mirror)
    aligned = np.stack([rigid_align(a, sym_mean) for a in aligned])

    tris = symmetric_triangles(triangles_from_edges(tessellation_edges()), mirror, sym_mean)
    tris_m = np.sort(mirror[tris], axis=1)
    assert {tuple(t) for t in tris_m} == {tuple(t) for t in np.sort(tris, axis=1)}, \
        "mirror pairing is not a mesh symmetry"

    # neutral: faces with closed, relaxed mouths, symmetrised, lips exactly touching
    gap = aligned[:, 13, 2] - aligned[:, 14, 2]
    corner = aligned[:, [61, 291], 2].mean(1) - aligned[:, 13, 2]
    calm = (gap < 0.0025) & (np.abs(corner - np.median(corner)) < 0.004)
    print(f"calm-mouth faces for the neutral: {int(calm.sum())}")
    neutral = symmetrise(aligned[calm].mean(0), mirror)
    neutral = close_lips(Mesh(neutral, tris), NEUTRAL_LIP_GAP)
    neutral = 0.5 * (neutral + (neutral * FLIP)[mirror])
    # origin at the head pivot: top of the neck, ~10.5 cm behind and 2 cm below the nose tip
    pivot = np.array([0.0, neutral[NOSE_TIP, 1] + 0.105, neutral[NOSE_TIP, 2] - 0.02])
    neutral = neutral - pivot
    aligned = aligned - pivot
    tris = orient(tris, neutral)
    loops = boundary_loops(tris)

    mesh = Mesh(neutral, tris)
    sb = ShapeBuilder(mesh, mirror)
    expr = sb.build()
    id_names, ident = identity_basis(aligned, mirror, mesh, sb, expr)

    jaw_line = [i for i in OVAL if neutral[i, 2] < neutral[[61, 291], 2].mean()]
    arrays = dict(
        neutral=neutral.astype(np.float32),
        identity_basis=ident.astype(np.float32),
        expression_basis=expr.astype(np.float32),
        triangles=tris.astype(np.int32),
        mirror=mirror.astype(np.int32),
        names=np.array(ARKIT_NAMES),
        identity_names=np.array(id_names),
        jaw_hinge=(sb.hinge).astype(np.float32),
        jaw_open_angle=np.float32(sb.jaw_angle),
        idx_lip_inner_upper=np.array(LIP_IN_UP), idx_lip_inner_lower=np.array(LIP_IN_LO),
        idx_lip_outer_upper=np.array(LIP_OUT_UP), idx_lip_outer_lower=np.array(LIP_OUT_LO),
        idx_eye_left_upper=np.array(EYE_L_UP), idx_eye_left_lower=np.array(EYE_L_LO),
        idx_eye_right_upper=np.array(EYE_R_UP), idx_eye_right_lower=np.array(EYE_R_LO),
        idx_brow_left=np.array(BROW_L), idx_brow_right=np.array(BROW_R),
        idx_face_oval=np.array(OVAL), idx_jaw_line=np.array(jaw_line),
        idx_nose=np.array(NOSE), idx_anchor=np.array(ANCHOR),
    )
    OUT_NPZ.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT_NPZ, **arrays)

    import cv2
    import matplotlib
    import mediapipe
    import scipy
    import skimage
    prov = {
        "file": "weights/face_model.npz",
        "sha256": sha256(OUT_NPZ),
        "command": ".venv/bin/python scripts/build_face_model.py",
        "built_with": {"python": platform.python_version(), "numpy": np.__version__,
                       "scipy": scipy.__version__, "mediapipe": mediapipe.__version__,
                       "opencv": cv2.__version__, "scikit-image": skimage.__version__,
                       "matplotlib": matplotlib.__version__},
        "inputs": {
            "landmark_model": "mediapipe 0.10.21 FaceMesh (face_landmark_with_attention.tflite), "
                              "Apache-2.0; its FACEMESH_TESSELATION edge list gives the topology",
            "photos": [
                "skimage.data.astronaut (NASA, public domain)",
                "matplotlib sample_data/grace_hopper.jpg (US Navy photo, public domain)",
                "skimage.data.lfw_subset()[:100] (Labeled Faces in the Wild crops, 25x25, "
                "upsampled x8; LFW is distributed for research use)",
            ],
            "faces_detected": len(names),
            "faces_in_neutral": int(calm.sum()),
        },
        "method": {
            "alignment": "generalized Procrustes (similarity), metric scale from mean "
                         f"inter-iris distance = {IPD_M} m, symmetrised with the mirror pairing",
            "neutral": "mean of calm-mouth faces, symmetrised, inner lips moved to touch "
                       f"({NEUTRAL_LIP_GAP * 1000:.1f} mm gap); origin at head pivot 10.5 cm "
                       "behind and 2 cm below the nose tip",
            "triangles": "3-cliques of FACEMESH_TESSELATION minus 2 tetrahedron caps; "
                         f"{len(tris)} triangles, boundary loops {sorted(len(l) for l in loops)}",
            "expression": "52 ARKit shapes built geometrically (harmonic region fields, jaw "
                          "hinge rotation, Laplacian smoothing); Right = mirrored Left",
            "identity": f"{len(id_names)} modes: geometric {id_names[:8]} + PCA of aligned "
                        "faces and their mirror images; expression span projected out; "
                        "coefficients are in population standard deviations",
        },
        "licence_note": "Derived numeric shape statistics only; no images are shipped.",
    }
    from talkface.core.weights import record_provenance

    prov = record_provenance(OUT_NPZ.name, {k: v for k, v in prov.items() if k != "sha256"}, OUT_NPZ.parent)
    print(f"wrote {OUT_NPZ} ({OUT_NPZ.stat().st_size} bytes) sha256 {prov['sha256'][:12]}")


if __name__ == "__main__":
    main()
