"""Export face-model vertices (e.g. the fitted neutral) as OBJ or GLB through trimesh.

Vertex order is preserved (``process=False``) so that vertex ``i`` of the file is still
MediaPipe landmark ``i``; tools that rely on that correspondence keep working after a round trip.

glTF is +Y up with the model facing +Z, so GLB files get ``(x, y, z) -> (x, z, -y)``; Blender's
glTF importer turns that back into our +Z up, face toward -Y. OBJ keeps model axes as-is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from ..errors import InputError
from .model import FaceModel

FORMATS = {".obj": "obj", ".glb": "glb"}


def face_mesh(vertices: np.ndarray, triangles: np.ndarray) -> trimesh.Trimesh:
    """A trimesh for one frame of vertices ``[V, 3]`` without merging or reordering vertices."""
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise InputError("Mesh export needs one frame of vertices shaped (V, 3).")
    return trimesh.Trimesh(vertices=vertices, faces=np.asarray(triangles), process=False)


def export_vertices(path: str | Path, vertices: np.ndarray, triangles: np.ndarray) -> Path:
    """Write ``vertices`` as ``.obj`` or ``.glb`` (chosen from the suffix); returns the path."""
    path = Path(path)
    file_type = FORMATS.get(path.suffix.lower())
    if file_type is None:
        raise InputError(f"Mesh export supports .obj and .glb, not '{path.suffix}'.")
    path.parent.mkdir(parents=True, exist_ok=True)
    vertices = np.asarray(vertices, dtype=np.float64)
    if file_type == "glb" and vertices.ndim == 2:
        vertices = _z_up_to_y_up(vertices)
    face_mesh(vertices, triangles).export(str(path), file_type=file_type)
    return path


def export_neutral(path: str | Path, model: FaceModel, identity: np.ndarray | None = None) -> Path:
    """Write the person's fitted neutral face (model space, metres, +Z up) as OBJ or GLB."""
    return export_vertices(path, model.neutral_vertices(identity), model.triangles)


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """Read an exported OBJ/GLB back as a single mesh with its vertex order intact."""
    loaded = trimesh.load(str(path), force="mesh", process=False)
    if Path(path).suffix.lower() == ".glb":
        loaded.vertices = _y_up_to_z_up(np.asarray(loaded.vertices))
    return loaded


def _z_up_to_y_up(v: np.ndarray) -> np.ndarray:
    return np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)


def _y_up_to_z_up(v: np.ndarray) -> np.ndarray:
    return np.stack([v[:, 0], -v[:, 2], v[:, 1]], axis=1)
