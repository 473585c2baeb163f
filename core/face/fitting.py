"""One-shot fit of the face model to a photo's landmarks: identity, the photo's own expression,
head pose and camera focal length.

Vertex ``i`` of the model is MediaPipe landmark ``i``, so the fit is a plain reprojection
least-squares problem. It alternates two cheap solves instead of one big nonlinear one:

* pose + focal length (7 numbers, nonlinear): ``scipy.optimize.least_squares``, robust loss,
  a log-normal prior on the camera distance (focal length and distance are nearly
  interchangeable for a face; the prior picks a plausible pair);
* identity + expression (linear once pose and depths are fixed, because ``u = cx + f x / y``
  becomes ``f x - (u - cx) y = 0``): ``scipy.optimize.lsq_linear`` with expression weights
  bounded to [0, 1], Gaussian priors, left/right symmetry, robust re-weighting.

Fitting the expression matters: if a smiling photo were fitted as neutral identity, every
animated frame would start from a smile. MediaPipe's relative depth ``z`` is a weak extra cue
for the face's 3D shape and head turn.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.optimize import least_squares, lsq_linear

from . import topology
from .camera import Camera
from .image_io import Photo, load_photo
from .landmarks import Landmarks, detect_landmarks
from .model import ARKIT_NAMES, load_face_model
from .pose import euler_xyz_matrix

#: Held at 0 in a photo fit: gaze is not expression (on this eyeball-less mesh the eyeLook shapes
#: only nudge the lids), the mesh has no tongue, and a puffed cheek barely moves landmarks.
LOCKED_IN_PHOTO = frozenset({
    "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "tongueOut", "cheekPuff"})
#: Large, unmistakable shapes (closed eyes, open jaw) that identity cannot mimic: weak prior,
#: so a blink or an open mouth is not shrunk toward neutral.
CLEAR_IN_PHOTO = frozenset({"eyeBlinkLeft", "eyeBlinkRight", "jawOpen"})
#: Sideways jaw/mouth shifts and subtle lip/nose shapes: rare in portraits, and the channels
#: that otherwise soak up whatever the 20 identity modes cannot explain (thin lips, a long nose).
RARE_IN_PHOTO = frozenset({
    "jawLeft", "jawRight", "jawForward", "mouthLeft", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthDimpleLeft", "mouthDimpleRight",
    "noseSneerLeft", "noseSneerRight"})


@dataclass(frozen=True)
class FitConfig:
    """Priors and solver settings. Residuals are measured in units of ``noise_iod`` x IOD,
    so the priors weigh the same for any image size."""

    noise_iod: float = 0.02  # expected landmark noise, fraction of IOD
    distance_m: float = 1.0  # prior camera-to-head distance ...
    distance_log_sigma: float = 0.2  # ... and its log-normal spread. MediaPipe landmarks carry
    # almost no perspective cue (fits drift to 3-9 m when this is loose), so the prior decides.
    identity_sigma: float = 1.0  # identity coefficients are unit-variance by construction
    identity_bound: float = 3.0
    expression_sigma: float = 0.15  # pull to neutral, so model mismatch does not become expression
    rare_expression_sigma: float = 0.07  # for the channels in ``rare``
    locked: frozenset = LOCKED_IN_PHOTO  # expression channels held at 0
    rare: frozenset = RARE_IN_PHOTO
    clear_expression_sigma: float = 0.4  # for the channels in ``clear``
    clear: frozenset = CLEAR_IN_PHOTO
    symmetry_sigma: float = 0.25  # Left/Right pairs may differ, but not for free
    depth_weight: float = 0.3  # weight of MediaPipe's relative z against x, y
    huber_iod: float = 0.04  # landmarks off by more than this are down-weighted
    iterations: int = 2  # pose / shape alternations before the joint solve
    joint_rounds: int = 2


@dataclass(frozen=True)
class LandmarkFit:
    """Result of ``fit_landmarks``: model parameters and how well they explain the points."""

    identity: np.ndarray  # [S]
    expression: np.ndarray  # [52]
    pose: np.ndarray  # [6]
    focal: float
    projected: np.ndarray  # [V, 2] model landmarks projected with the fitted camera
    error_px: float  # mean Euclidean reprojection error
    error_iod: float  # the same as a fraction of the inter-ocular distance
    iod_px: float


@dataclass(frozen=True, eq=False)
class FaceFit:
    """Everything later stages need from the photo, JSON-safe through ``to_dict``."""

    identity: np.ndarray  # [S]
    expression: np.ndarray  # [52], ARKit order: the photo's own expression
    pose: np.ndarray  # [6] (rx, ry, rz, tx, ty, tz) of the head in the photo
    camera: Camera
    photo_path: str
    photo_sha256: str
    image_size: tuple[int, int]  # (width, height)
    landmarks_2d: np.ndarray  # [468, 2] detected landmarks, full-res pixels
    error_px: float  # mean reprojection error of the fitted model
    error_iod: float  # the same as a fraction of the inter-ocular distance
    n_faces: int
    notes: tuple[str, ...] = field(default=())
    fit_seconds: float = 0.0

    def to_dict(self) -> dict:
        """Plain lists, floats and strings only (Blender ID properties, JSON)."""
        cam = self.camera
        return {
            "identity": [float(v) for v in self.identity],
            "expression": [float(v) for v in self.expression],
            "pose": [float(v) for v in self.pose],
            "camera": {"focal": float(cam.focal), "cx": float(cam.cx), "cy": float(cam.cy),
                       "width": int(cam.width), "height": int(cam.height)},
            "photo_path": self.photo_path,
            "photo_sha256": self.photo_sha256,
            "image_size": [int(v) for v in self.image_size],
            "landmarks_2d": [float(v) for v in np.asarray(self.landmarks_2d).ravel()],
            "error_px": float(self.error_px),
            "error_iod": float(self.error_iod),
            "n_faces": int(self.n_faces),
            "notes": list(self.notes),
            "fit_seconds": float(self.fit_seconds),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "FaceFit":
        cam = d["camera"]
        return cls(
            identity=np.asarray(d["identity"], dtype=np.float64),
            expression=np.asarray(d["expression"], dtype=np.float64),
            pose=np.asarray(d["pose"], dtype=np.float64),
            camera=Camera(float(cam["focal"]), float(cam["cx"]), float(cam["cy"]),
                          int(cam["width"]), int(cam["height"])),
            photo_path=str(d["photo_path"]),
            photo_sha256=str(d["photo_sha256"]),
            image_size=(int(d["image_size"][0]), int(d["image_size"][1])),
            landmarks_2d=np.asarray(d["landmarks_2d"], dtype=np.float64).reshape(-1, 2),
            error_px=float(d["error_px"]),
            error_iod=float(d["error_iod"]),
            n_faces=int(d["n_faces"]),
            notes=tuple(str(n) for n in d.get("notes", ())),
            fit_seconds=float(d.get("fit_seconds", 0.0)),
        )


# ----------------------------------------------------------------------------- helpers


def inter_ocular(points2d: np.ndarray) -> float:
    """Distance between the two eye-contour centres, in the points' units."""
    pts = np.asarray(points2d)
    return float(np.linalg.norm(pts[list(topology.LEFT_EYE), :2].mean(0) - pts[list(topology.RIGHT_EYE), :2].mean(0)))


def _project(world: np.ndarray, focal: float, cx: float, cy: float) -> np.ndarray:
    """``[V, 3]`` world points -> ``[V, 2]`` pixels (the ARCHITECTURE.md pinhole)."""
    depth = world[:, 1]
    return np.stack([cx + focal * world[:, 0] / depth, cy - focal * world[:, 2] / depth], axis=1)


def _mirror_pairs(names: list[str]) -> np.ndarray:
    """Index pairs ``[P, 2]`` of ARKit channels named ...Left / ...Right."""
    index = {n: i for i, n in enumerate(names)}
    return np.array([(i, index[n[:-4] + "Right"]) for n, i in index.items()
                     if n.endswith("Left") and n[:-4] + "Right" in index], dtype=np.int64).reshape(-1, 2)


class _Problem:
    """The model's bases flattened for the solvers, free expression channels only."""

    def __init__(self, model, cfg: "FitConfig"):
        self.neutral = np.asarray(model.neutral, dtype=np.float64)  # [V, 3]
        ident = np.asarray(model.identity_basis, dtype=np.float64)  # [S, V, 3]
        expr = np.asarray(model.expression_basis, dtype=np.float64)  # [52, V, 3]
        names = list(ARKIT_NAMES)[: expr.shape[0]]
        self.n_expr_all = len(names)
        self.expr_index = np.array([i for i, n in enumerate(names) if n not in cfg.locked],
                                   dtype=np.int64)
        free_names = [names[i] for i in self.expr_index]
        self.n_id = ident.shape[0]
        self.n_expr = len(self.expr_index)
        self.basis = np.concatenate([ident, expr[self.expr_index]], axis=0).transpose(1, 2, 0)
        self.n_vert = self.neutral.shape[0]
        self.pairs = _mirror_pairs(free_names)
        sigma = np.array([cfg.rare_expression_sigma if n in cfg.rare else
                          cfg.clear_expression_sigma if n in cfg.clear else
                          cfg.expression_sigma for n in free_names])
        self.prior = np.concatenate([np.full(self.n_id, 1.0 / cfg.identity_sigma), 1.0 / sigma])
        self.lo = np.concatenate([np.full(self.n_id, -cfg.identity_bound), np.zeros(self.n_expr)])
        self.hi = np.concatenate([np.full(self.n_id, cfg.identity_bound), np.ones(self.n_expr)])

    def shape(self, coeffs: np.ndarray) -> np.ndarray:
        return self.neutral + self.basis @ coeffs

    def split(self, coeffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Identity ``[S]`` and the full 52-channel expression (locked channels are 0)."""
        expression = np.zeros(self.n_expr_all)
        expression[self.expr_index] = coeffs[self.n_id:]
        return coeffs[:self.n_id].copy(), expression


def _data_residuals(pose, f, shape, obs, depth_obs, cam_c, w_pt, cfg):
    """Weighted landmark residuals (pixels / scale), relative depths and the distance prior of
    ``shape`` under ``pose`` and focal ``f``; also returns the posed vertices."""
    cx, cy = cam_c
    world = shape @ euler_xyz_matrix(pose[:3]).T + pose[3:6]
    r = [((_project(world, f, cx, cy) - obs) * w_pt[:, None]).ravel()]
    if depth_obs is not None:
        dz = f * world[:, 1] / pose[4]
        r.append(cfg.depth_weight * w_pt * ((dz - dz.mean()) - depth_obs))
    dist = math.sqrt(float(pose[3:6] @ pose[3:6]))
    r.append(np.array([(math.log(dist) - math.log(cfg.distance_m)) / cfg.distance_log_sigma]))
    return np.concatenate(r), world


def _pose_step(shape, obs, depth_obs, pose, focal, cam_c, scale, cfg, weights, fix_focal=False):
    """Nonlinear fit of (rx, ry, rz, tx, ty, tz, log f) for a fixed model shape (MINPACK LM:
    seven unknowns, so no trust-region SVDs are needed)."""
    w_pt = weights / scale

    def residuals(p):
        f = focal if fix_focal else math.exp(p[6])
        return _data_residuals(p, f, shape, obs, depth_obs, cam_c, w_pt, cfg)[0]

    x0 = np.concatenate([pose, [math.log(focal)]])
    sol = least_squares(residuals, x0, method="lm", x_scale="jac", max_nfev=400)
    return sol.x[:6].copy(), (focal if fix_focal else float(math.exp(sol.x[6])))


def _linear_step(prob: _Problem, coeffs, obs, depth_obs, pose, focal, cam_c, scale, cfg,
                 weights):
    """Bounded linear least squares for identity + expression at fixed pose and focal."""
    cx, cy = cam_c
    rot = euler_xyz_matrix(pose[:3])
    t = pose[3:6]
    world = prob.shape(coeffs) @ rot.T + t
    depth = world[:, 1]  # current depths linearise the perspective division
    du, dv = obs[:, 0] - cx, obs[:, 1] - cy
    # u: f*Px - du*Py = 0 ; v: f*Pz + dv*Py = 0 ; each divided by the current depth (-> pixels)
    cu = (focal * rot[0][None] - du[:, None] * rot[1][None]) / depth[:, None]  # [V, 3]
    cv = (focal * rot[2][None] + dv[:, None] * rot[1][None]) / depth[:, None]
    ku = (focal * t[0] - du * t[1]) / depth
    kv = (focal * t[2] + dv * t[1]) / depth
    rows = [np.einsum("vc,vcp->vp", cu, prob.basis), np.einsum("vc,vcp->vp", cv, prob.basis)]
    rhs = [-(np.einsum("vc,vc->v", cu, prob.neutral) + ku),
           -(np.einsum("vc,vc->v", cv, prob.neutral) + kv)]
    w = np.concatenate([weights, weights]) / scale
    a_data = np.concatenate(rows) * w[:, None]
    b_data = np.concatenate(rhs) * w
    blocks, targets = [a_data], [b_data]
    if depth_obs is not None:
        # Relative depth f*(Py - mean Py)/ty, linear in the coefficients.
        cz = focal * rot[1] / t[1]
        az = np.einsum("c,vcp->vp", cz, prob.basis)
        az -= az.mean(0)
        nz = prob.neutral @ cz
        bz = depth_obs - (nz - nz.mean())
        wz = cfg.depth_weight * weights / scale
        blocks.append(az * wz[:, None])
        targets.append(bz * wz)
    n_p = prob.n_id + prob.n_expr
    blocks.append(np.diag(prob.prior))
    targets.append(np.zeros(n_p))
    if len(prob.pairs):
        sym = np.zeros((len(prob.pairs), n_p))
        sym[np.arange(len(prob.pairs)), prob.n_id + prob.pairs[:, 0]] = 1.0 / cfg.symmetry_sigma
        sym[np.arange(len(prob.pairs)), prob.n_id + prob.pairs[:, 1]] = -1.0 / cfg.symmetry_sigma
        blocks.append(sym)
        targets.append(np.zeros(len(prob.pairs)))
    lo, hi = prob.lo, prob.hi
    a, b = np.concatenate(blocks), np.concatenate(targets)
    # Same minimiser from the P x P Cholesky factor: bvls on a square system is ~50x faster.
    chol = np.linalg.cholesky(a.T @ a)
    rhs = solve_triangular(chol, a.T @ b, lower=True)
    return lsq_linear(chol.T, rhs, bounds=(lo, hi), method="bvls").x


def _bounded_lm(fun, jac, x, lo, hi, max_iter: int = 25, tol: float = 1e-5) -> np.ndarray:
    """Projected Levenberg-Marquardt: variables held at a bound by their gradient are frozen,
    the rest take a damped Gauss-Newton step on the small normal equations, then the result is
    clipped to the box; a step is kept only if it lowers the cost."""
    r = fun(x)
    cost = float(r @ r)
    lam = 1e-3
    for _ in range(max_iter):
        j = jac(x)
        h = j.T @ j
        g = j.T @ r
        held = ((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0))
        free = ~held
        h_ff, g_f = h[np.ix_(free, free)], g[free]
        damp = np.maximum(np.diag(h_ff), 1e-9)
        while True:
            step = np.zeros_like(x)
            step[free] = -cho_solve(cho_factor(h_ff + lam * np.diag(damp)), g_f)
            x_new = np.clip(x + step, lo, hi)
            r_new = fun(x_new)
            cost_new = float(r_new @ r_new)
            if cost_new < cost:
                break
            lam *= 4.0
            if lam > 1e8:
                return x
        gain = (cost - cost_new) / max(cost, 1e-30)
        x, r, cost = x_new, r_new, cost_new
        lam = max(lam / 3.0, 1e-9)
        if gain < tol:
            break
    return x


def _joint_step(prob: _Problem, pose, focal, coeffs, obs, depth_obs, cam_c, scale, cfg,
                weights, fix_focal):
    """All parameters at once (bounded trust-region least squares, analytic Jacobian for the
    shape coefficients): removes the pose/shape coupling the alternation converges slowly on."""
    n_p = prob.n_id + prob.n_expr
    wz = cfg.depth_weight
    w_pt = weights / scale
    prior = prob.prior
    n_sym = len(prob.pairs)
    sym = np.zeros((n_sym, n_p))
    if n_sym:
        sym[np.arange(n_sym), prob.n_id + prob.pairs[:, 0]] = 1.0 / cfg.symmetry_sigma
        sym[np.arange(n_sym), prob.n_id + prob.pairs[:, 1]] = -1.0 / cfg.symmetry_sigma

    def unpack(x):
        f = focal if fix_focal else math.exp(x[6])
        return x[:6], f, x[7:]

    def data(pose_, f, shape):
        return _data_residuals(pose_, f, shape, obs, depth_obs, cam_c, w_pt, cfg)

    def fun(x):
        pose_, f, c = unpack(x)
        r, _ = data(pose_, f, prob.shape(c))
        return np.concatenate([r, prior * c, sym @ c])

    def jac(x):
        pose_, f, c = unpack(x)
        shape = prob.shape(c)
        r0, world = data(pose_, f, shape)
        # Pose and log-focal columns by forward differences (7 cheap evaluations).
        cols = []
        for k in range(7):
            if k == 6 and fix_focal:
                cols.append(np.zeros_like(r0))
                continue
            h = 1e-6 * max(1.0, abs(x[k]))
            xk = x[:7].copy()
            xk[k] += h
            fk = focal if fix_focal else math.exp(xk[6])
            cols.append((data(xk[:6], fk, shape)[0] - r0) / h)
        j_pose = np.stack(cols, axis=1)
        # Shape columns: d(u, v)/dP  @  R @ basis.
        rot = euler_xyz_matrix(pose_[:3])
        dp = np.einsum("ij,vjp->vip", rot, prob.basis)  # [V, 3, P]
        px, py, pz = world[:, 0], world[:, 1], world[:, 2]
        du = f / py[:, None] * (dp[:, 0] - (px / py)[:, None] * dp[:, 1])
        dv = -f / py[:, None] * (dp[:, 2] - (pz / py)[:, None] * dp[:, 1])
        j_shape = [np.stack([du, dv], axis=1).reshape(-1, n_p) * np.repeat(w_pt, 2)[:, None]]
        if depth_obs is not None:
            dz = f / pose_[4] * dp[:, 1]
            j_shape.append(wz * w_pt[:, None] * (dz - dz.mean(0)))
        j_shape.append(np.zeros((1, n_p)))
        top = np.concatenate([j_pose, np.concatenate(j_shape)], axis=1)
        bottom = np.concatenate([np.zeros((n_p + n_sym, 7)), np.concatenate([np.diag(prior), sym])],
                                axis=1)
        return np.concatenate([top, bottom])

    lo_c, hi_c = prob.lo, prob.hi
    lo = np.concatenate([np.full(7, -np.inf), lo_c])
    hi = np.concatenate([np.full(7, np.inf), hi_c])
    x = _bounded_lm(fun, jac, np.clip(np.concatenate([pose, [math.log(focal)], coeffs]), lo, hi),
                    lo, hi)
    pose_, f, c = unpack(x)
    return pose_.copy(), float(f), c.copy()


def _initial_pose(shape, obs, focal, cam_c) -> np.ndarray:
    """Frontal head placed so its landmark centroid and size match the observed ones."""
    cx, cy = cam_c
    centre = shape.mean(0)
    size_m = np.linalg.norm(shape[:, [0, 2]] - centre[[0, 2]], axis=1).mean()
    size_px = np.linalg.norm(obs - obs.mean(0), axis=1).mean()
    dist = focal * size_m / size_px
    u, v = obs.mean(0)
    target = np.array([(u - cx) * dist / focal, dist, -(v - cy) * dist / focal])
    return np.concatenate([[0.0, 0.0, 0.0], target - centre])


def fit_landmarks(points: np.ndarray, model, image_size: tuple[int, int], *,
                  depth: np.ndarray | None = None, config: FitConfig = FitConfig(),
                  focal: float | None = None) -> LandmarkFit:
    """Fit ``model`` to 2D landmarks ``[V, 2]`` (pixels) of an image ``(width, height)``.

    ``depth`` is MediaPipe's relative z in pixels (optional weak cue); ``focal`` fixes the focal
    length when it is known (otherwise it is fitted under the distance prior)."""
    cfg = config
    obs = np.asarray(points, dtype=np.float64)[:, :2]
    prob = _Problem(model, cfg)
    if obs.shape[0] != prob.n_vert:
        raise ValueError(f"expected {prob.n_vert} landmarks, got {obs.shape[0]}")
    width, height = image_size
    cam_c = (width / 2.0, height / 2.0)
    iod = inter_ocular(obs)
    scale = cfg.noise_iod * iod
    depth_obs = None
    if depth is not None and cfg.depth_weight > 0:
        depth_obs = np.asarray(depth, dtype=np.float64) - float(np.mean(depth))

    coeffs = np.zeros(prob.n_id + prob.n_expr)
    shape = prob.shape(coeffs)
    # Focal from the distance prior: the face's pixel size at the prior distance.
    fixed = focal is not None
    f = float(focal) if fixed else 1.0
    if not fixed:
        size_m = np.linalg.norm(shape[:, [0, 2]] - shape[:, [0, 2]].mean(0), axis=1).mean()
        size_px = np.linalg.norm(obs - obs.mean(0), axis=1).mean()
        f = cfg.distance_m * size_px / size_m
    pose = _initial_pose(shape, obs, f, cam_c)
    weights = np.ones(prob.n_vert)
    pose, f = _pose_step(shape, obs, None, pose, f, cam_c, scale, cfg, weights, fixed)
    for _ in range(cfg.iterations):  # cheap alternation: a good start for the joint solve
        coeffs = _linear_step(prob, coeffs, obs, depth_obs, pose, f, cam_c, scale, cfg, weights)
        pose, f = _pose_step(prob.shape(coeffs), obs, depth_obs, pose, f, cam_c, scale, cfg,
                             weights, fixed)
    for _ in range(cfg.joint_rounds):  # joint solve, then robust re-weighting of landmarks
        pose, f, coeffs = _joint_step(prob, pose, f, coeffs, obs, depth_obs, cam_c, scale, cfg,
                                      weights, fixed)
        world = prob.shape(coeffs) @ euler_xyz_matrix(pose[:3]).T + pose[3:6]
        err = np.linalg.norm(_project(world, f, *cam_c) - obs, axis=1)
        huber = cfg.huber_iod * iod
        weights = np.where(err <= huber, 1.0, np.sqrt(huber / np.maximum(err, 1e-12)))

    world = prob.shape(coeffs) @ euler_xyz_matrix(pose[:3]).T + pose[3:6]
    proj = _project(world, f, *cam_c)
    err = np.linalg.norm(proj - obs, axis=1)
    identity, expression = prob.split(coeffs)
    return LandmarkFit(
        identity=identity,
        expression=expression,
        pose=pose,
        focal=f,
        projected=proj,
        error_px=float(err.mean()),
        error_iod=float(err.mean() / iod),
        iod_px=iod,
    )


MAX_TURN_DEG = 45.0      # head turn (about the vertical axis) the fit is made for
MAX_TILT_DEG = 40.0      # nod up or down


def fit_photo(photo: Photo, landmarks: Landmarks, model, config: FitConfig = FitConfig()) -> FaceFit:
    """Fit ``model`` to the landmarks of ``photo``; the result records which photo it was."""
    start = time.perf_counter()
    lf = fit_landmarks(landmarks.points[:, :2], model, (photo.width, photo.height),
                       depth=landmarks.points[:, 2], config=config)
    notes = list(photo.notes)
    if landmarks.n_faces > 1:
        notes.append(landmarks.message)
    if landmarks.warning:
        notes.append(landmarks.warning)
    if lf.error_iod > 0.05:
        notes.append(f"The fit is loose ({100 * lf.error_iod:.1f}% of the eye distance); "
                     "an unusual pose, occlusion or expression may be the cause.")
    turn, tilt = np.degrees(abs(lf.pose[2])), np.degrees(abs(lf.pose[0]))
    if turn > MAX_TURN_DEG or tilt > MAX_TILT_DEG:
        notes.append(f"The face is turned about {max(turn, tilt):.0f} degrees from the camera; the fit and the "
                     f"video are made for faces turned less than about {MAX_TURN_DEG:.0f} degrees: expect the far "
                     "side of the face to be wrong.")
    return FaceFit(
        identity=lf.identity,
        expression=lf.expression,
        pose=lf.pose,
        camera=Camera(lf.focal, photo.width / 2.0, photo.height / 2.0, photo.width, photo.height),
        photo_path=photo.path,
        photo_sha256=photo.sha256,
        image_size=(photo.width, photo.height),
        landmarks_2d=landmarks.points[:, :2].copy(),
        error_px=lf.error_px,
        error_iod=lf.error_iod,
        n_faces=landmarks.n_faces,
        notes=tuple(notes),
        fit_seconds=time.perf_counter() - start,
    )


def fit_photo_file(path: str | os.PathLike, model=None, config: FitConfig = FitConfig()) -> FaceFit:
    """Load, detect and fit in one call (the model is loaded from the shipped weights if None)."""
    if model is None:
        model = load_face_model()
    photo = load_photo(path)
    return fit_photo(photo, detect_landmarks(photo), model, config)
