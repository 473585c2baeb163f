"""OBJ/GLB export of face-model vertices round-trips through trimesh with vertex order intact."""

from __future__ import annotations

import numpy as np
import pytest

from talkface.core.errors import InputError
from talkface.core.face.mesh_export import export_neutral, export_vertices, load_mesh
from talkface.core.face.model import load_face_model


@pytest.fixture(scope="module")
def model():
    return load_face_model()


@pytest.mark.parametrize("suffix", [".obj", ".glb"])
def test_fitted_neutral_round_trips(model, tmp_path, suffix):
    identity = np.linspace(-1.5, 1.5, model.n_identity).astype(np.float32)
    path = export_neutral(tmp_path / f"face{suffix}", model, identity)
    mesh = load_mesh(path)
    assert len(mesh.vertices) == model.n_vertices
    np.testing.assert_allclose(mesh.vertices, model.neutral_vertices(identity), atol=1e-6)
    np.testing.assert_array_equal(np.sort(mesh.faces, axis=1), np.sort(model.triangles, axis=1))


def test_glb_is_y_up_on_disk(model, tmp_path):
    """glTF readers (Blender included) expect +Y up: the forehead must be at +Y in the file."""
    import trimesh

    path = export_vertices(tmp_path / "f.glb", model.neutral, model.triangles)
    raw = trimesh.load(str(path), force="mesh", process=False)
    assert raw.vertices[10, 1] > raw.vertices[152, 1]  # forehead above chin along +Y
    assert raw.vertices[1, 2] > raw.vertices[234, 2]  # nose toward +Z (glTF front)


def test_any_frame_exports_and_bad_input_is_a_clear_error(model, tmp_path):
    verts = model.vertices(None, model.weights_from({"jawOpen": 1.0}))
    mesh = load_mesh(export_vertices(tmp_path / "open.obj", verts[0], model.triangles))
    np.testing.assert_allclose(mesh.vertices, verts[0], atol=1e-6)
    with pytest.raises(InputError):
        export_vertices(tmp_path / "x.stl", verts[0], model.triangles)
    with pytest.raises(InputError):
        export_vertices(tmp_path / "x.obj", verts, model.triangles)
