"""Head pose: Blender Euler 'XYZ' rotations plus translation, vectorised over frames.

Keeping Blender's exact convention here means a pose keyed on the head Empty in Blender and a
pose fed to ``FaceModel.vertices`` give the same world vertices.
"""

from __future__ import annotations

import numpy as np


def euler_xyz_matrix(angles: np.ndarray) -> np.ndarray:
    """Rotation matrices ``Rz @ Ry @ Rx`` for angles ``[..., 3]`` in radians (Blender 'XYZ')."""
    angles = np.asarray(angles, dtype=np.float64)
    cx, cy, cz = np.cos(angles[..., 0]), np.cos(angles[..., 1]), np.cos(angles[..., 2])
    sx, sy, sz = np.sin(angles[..., 0]), np.sin(angles[..., 1]), np.sin(angles[..., 2])
    m = np.empty(angles.shape[:-1] + (3, 3))
    m[..., 0, 0] = cy * cz
    m[..., 0, 1] = sx * sy * cz - cx * sz
    m[..., 0, 2] = cx * sy * cz + sx * sz
    m[..., 1, 0] = cy * sz
    m[..., 1, 1] = sx * sy * sz + cx * cz
    m[..., 1, 2] = cx * sy * sz - sx * cz
    m[..., 2, 0] = -sy
    m[..., 2, 1] = sx * cy
    m[..., 2, 2] = cx * cy
    return m


def matrix_to_euler_xyz(m: np.ndarray) -> np.ndarray:
    """Inverse of ``euler_xyz_matrix`` (away from gimbal lock, |ry| < 90 degrees)."""
    m = np.asarray(m, dtype=np.float64)
    ry = np.arcsin(np.clip(-m[..., 2, 0], -1.0, 1.0))
    rx = np.arctan2(m[..., 2, 1], m[..., 2, 2])
    rz = np.arctan2(m[..., 1, 0], m[..., 0, 0])
    return np.stack([rx, ry, rz], axis=-1)


def apply_pose(verts: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """World vertices ``R @ v + t`` for verts ``[F, V, 3]`` (or ``[V, 3]``) and pose ``[F, 6]``."""
    pose = np.atleast_2d(np.asarray(pose, dtype=np.float64))
    rot = euler_xyz_matrix(pose[:, :3])
    verts = np.asarray(verts)
    if verts.ndim == 2:
        verts = verts[None]
    out = np.einsum("fij,fvj->fvi", rot, verts) + pose[:, None, 3:6]
    return out.astype(np.float32)
