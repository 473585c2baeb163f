"""The TalkFace face model (3DMM): neutral + identity + ARKit expression blendshapes + pose.

Vertex ``i`` is MediaPipe FaceMesh landmark ``i`` (468 vertices), in metres, +Z up, face toward
-Y, +X the subject's left, origin at the head pivot (ARCHITECTURE.md). The arrays are built
offline by ``scripts/build_face_model.py`` and only loaded here, so runtime needs no landmark
model.

Expression weights follow Apple's 52 ARKit blendshapes in Apple's documented order. On a
surface-only mesh the eye-gaze shapes (``eyeLook*``) only move the lids a little (there is no
eyeball) and ``tongueOut`` only drops and pushes the lower lip (there is no tongue).
``mouthClose`` closes the lips against an open jaw, as in ARKit captures: it is meant to be used
with ``jawOpen >= mouthClose``; alone it pushes the lips through each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import MissingWeightsError
from ..weights import weights_path
from . import topology
from .pose import apply_pose

ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)

MODEL_FILE = "face_model.npz"



@dataclass(frozen=True, eq=False)
class FaceModel:
    """Linear face model; ``identity`` coefficients are in population standard deviations."""

    neutral: np.ndarray  # [V, 3] float32
    identity_basis: np.ndarray  # [S, V, 3]
    expression_basis: np.ndarray  # [52, V, 3], ARKIT_NAMES order, delta at weight 1
    triangles: np.ndarray  # [T, 3] int32, outward winding
    mirror: np.ndarray  # [V] left/right partner of each vertex (midline maps to itself)
    index_sets: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. "lip_inner_upper"
    identity_names: tuple[str, ...] = ()
    jaw_hinge: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))

    @property
    def n_vertices(self) -> int:
        return int(self.neutral.shape[0])

    @property
    def n_identity(self) -> int:
        return int(self.identity_basis.shape[0])

    @property
    def names(self) -> tuple[str, ...]:
        return ARKIT_NAMES

    def neutral_vertices(self, identity: np.ndarray | None = None) -> np.ndarray:
        """The person's expressionless face ``[V, 3]`` in model space (no pose)."""
        if identity is None:
            return self.neutral.copy()
        identity = np.asarray(identity, dtype=np.float32)
        return self.neutral + np.einsum("s,svc->vc", identity, self.identity_basis)

    def vertices(self, identity: np.ndarray | None, weights: np.ndarray,
                 pose: np.ndarray | None = None) -> np.ndarray:
        """Vertices ``[F, V, 3]`` for identity ``[S]`` or ``[F, S]``, weights ``[F, 52]``, pose ``[F, 6]``."""
        weights = np.atleast_2d(np.asarray(weights, dtype=np.float32))
        frames = weights.shape[0]
        out = np.broadcast_to(self.neutral, (frames,) + self.neutral.shape).copy()
        if identity is not None:
            identity = np.asarray(identity, dtype=np.float32)
            if identity.ndim == 1:
                out += np.einsum("s,svc->vc", identity, self.identity_basis)[None]
            else:
                out += np.einsum("fs,svc->fvc", identity, self.identity_basis)
        out += np.einsum("fk,kvc->fvc", weights, self.expression_basis)
        if pose is not None:
            out = apply_pose(out, np.broadcast_to(np.atleast_2d(pose), (frames, 6)))
        return out.astype(np.float32, copy=False)

    def weights_from(self, named: dict[str, float], frames: int = 1) -> np.ndarray:
        """A ``[frames, 52]`` weight array from ``{arkit_name: value}`` (unknown names raise)."""
        w = np.zeros((frames, len(ARKIT_NAMES)), np.float32)
        for name, value in named.items():
            w[:, ARKIT_NAMES.index(name)] = value
        return w


def _as_model(data) -> FaceModel:
    sets = {k[4:]: np.asarray(data[k]) for k in data.files if k.startswith("idx_")}
    names = tuple(str(n) for n in data["names"])
    if names != ARKIT_NAMES:
        raise MissingWeightsError("The face model file does not list the 52 ARKit shapes in order.")
    return FaceModel(
        neutral=np.asarray(data["neutral"], np.float32),
        identity_basis=np.asarray(data["identity_basis"], np.float32),
        expression_basis=np.asarray(data["expression_basis"], np.float32),
        triangles=np.asarray(data["triangles"], np.int32),
        mirror=np.asarray(data["mirror"], np.int64),
        index_sets=sets,
        identity_names=tuple(str(n) for n in data["identity_names"]),
        jaw_hinge=np.asarray(data["jaw_hinge"], np.float32),
    )


@lru_cache(maxsize=4)
def _load_cached(path: str) -> FaceModel:
    with np.load(path, allow_pickle=False) as data:
        return _as_model(data)


def load_face_model(path: str | Path | None = None) -> FaceModel:
    """Load (once per path) the model built by ``scripts/build_face_model.py``."""
    if path is None:  # the shipped model: checked against its recorded sha256

        path = weights_path(MODEL_FILE)
    path = Path(path)
    if not path.is_file():
        raise MissingWeightsError(f"The face model file is missing: {path}.")
    return _load_cached(str(path.resolve()))


def _to_model_frame(model: FaceModel, verts: np.ndarray) -> np.ndarray:
    """Undo each frame's rigid pose (Kabsch on the forehead/nose-bridge anchors)."""
    verts = np.asarray(verts, dtype=np.float64)
    if verts.ndim == 2:
        verts = verts[None]
    anchor = model.index_sets["anchor"]
    src = verts[:, anchor]
    dst = model.neutral[anchor].astype(np.float64)
    src_c, dst_c = src.mean(1, keepdims=True), dst.mean(0)
    h = np.einsum("fai,aj->fij", src - src_c, dst - dst_c)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    u[:, :, 2] *= d[:, None]
    rot = u @ vt  # row-vector rotation: (x - c) @ rot ~ dst - dst_c
    return np.einsum("fvi,fij->fvj", verts - src_c, rot) + dst_c


def inner_lip_gap(model: FaceModel, verts: np.ndarray) -> np.ndarray:
    """Lip gap ``[F]`` in metres: smallest vertical distance over the central inner-lip pairs.

    Measured in the head's own frame (pose removed), so it is the quantity that decides a
    bilabial closure; negative when the lips pass through each other.
    """
    local = _to_model_frame(model, verts)
    up, lo = np.array(topology.LIP_GAP_PAIRS).T
    return (local[:, up, 2] - local[:, lo, 2]).min(axis=1)


def lip_pair_gaps(model: FaceModel, verts: np.ndarray) -> np.ndarray:
    """Vertical gap ``[F, P]`` of every matched inner-lip pair (corners excluded)."""
    local = _to_model_frame(model, verts)
    up = model.index_sets["lip_inner_upper"][1:-1]
    lo = model.index_sets["lip_inner_lower"][1:-1]
    return local[:, up, 2] - local[:, lo, 2]


def eye_opening(model: FaceModel, verts: np.ndarray) -> np.ndarray:
    """Mean vertical lid-margin distance ``[F, 2]`` in metres, columns (Left, Right) eye."""
    local = _to_model_frame(model, verts)
    cols = []
    for pairs in topology.EYE_PAIRS:
        up, lo = np.array(pairs).T
        cols.append((local[:, up, 2] - local[:, lo, 2]).mean(axis=1))
    return np.stack(cols, axis=1)
