"""'Fit Face from Photo' in Blender: mesh, ARKit shape keys, UVs, material, camera, head control."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import PORTRAIT

PKG = "bl_ext.user_default.talkface"


@pytest.fixture
def fitted(scene, blender):
    assert blender.ops.talkface.fit_face(filepath=PORTRAIT) == {"FINISHED"}
    return blender.context.active_object


def test_face_mesh_with_every_arkit_shape_key(fitted, blender):
    import importlib

    names = importlib.import_module(f"{PKG}.core.face.model").ARKIT_NAMES
    keys = fitted.data.shape_keys.key_blocks
    assert keys[0].name == "Basis"
    assert [k.name for k in keys[1:]] == list(names)
    assert len(fitted.data.vertices) >= 400
    assert all(len(p.vertices) == 3 for p in fitted.data.polygons)
    # the photo's own expression is dialled in, so the face matches the photo at rest
    assert keys["mouthSmileLeft"].value > 0.3


def test_head_control_camera_and_material(fitted, blender):
    scene = blender.context.scene
    head = fitted.parent
    assert head is not None and head.type == "EMPTY"
    fit = json.loads(fitted["talkface_fit"])
    np.testing.assert_allclose(tuple(head.rotation_euler) + tuple(head.location), fit["pose"], atol=1e-5)
    assert scene.camera is not None and scene.camera.data.background_images[0].image is not None
    assert (scene.render.resolution_x, scene.render.resolution_y) == tuple(fit["image_size"])
    mat = fitted.data.materials[0]
    images = [n.image for n in mat.node_tree.nodes if n.type == "TEX_IMAGE"]
    assert images and images[0].size[0] == 512
    assert fitted.data.uv_layers.get("Photo") is not None
    assert fit["photo_sha256"] and fitted["talkface_photo"].endswith("portrait.png")
    # the head control and camera are linked by pointer (a rename keeps the link), not by name
    assert fitted["talkface_head_object"] == head and fitted["talkface_camera_object"] == scene.camera
    assert "talkface_head" not in fitted and "talkface_camera" not in fitted


def test_blender_camera_projects_mesh_onto_photo_landmarks(fitted, blender):
    """Blender's own camera maths must put every vertex on its landmark (error < 1 px)."""
    from bpy_extras.object_utils import world_to_camera_view

    scene = blender.context.scene
    depsgraph = blender.context.evaluated_depsgraph_get()
    evaluated = fitted.evaluated_get(depsgraph)
    world = evaluated.matrix_world
    w, h = scene.render.resolution_x, scene.render.resolution_y
    px = np.array([tuple(world_to_camera_view(scene, scene.camera, world @ v.co))[:2]
                   for v in evaluated.data.vertices])
    px = np.stack([px[:, 0] * w, (1.0 - px[:, 1]) * h], axis=1)
    landmarks = np.asarray(json.loads(fitted["talkface_fit"])["landmarks_2d"]).reshape(-1, 2)
    iod = json.loads(fitted["talkface_fit"])["error_px"] / json.loads(fitted["talkface_fit"])["error_iod"]
    assert np.mean(np.linalg.norm(px - landmarks, axis=1)) < 0.03 * iod


def test_uvs_sample_the_photo_where_the_vertex_is_seen(fitted, blender):
    fit = json.loads(fitted["talkface_fit"])
    w, h = fit["image_size"]
    uv = np.zeros(len(fitted.data.loops) * 2, np.float32)
    fitted.data.uv_layers["Photo"].data.foreach_get("uv", uv)
    loop_vert = np.zeros(len(fitted.data.loops), np.int32)
    fitted.data.loops.foreach_get("vertex_index", loop_vert)
    uv = uv.reshape(-1, 2)
    landmarks = np.asarray(fit["landmarks_2d"]).reshape(-1, 2)
    px = np.stack([uv[:, 0] * w, (1 - uv[:, 1]) * h], 1)
    assert np.median(np.linalg.norm(px - landmarks[loop_vert], axis=1)) < 3.0


def test_export_neutral_glb_and_obj(fitted, blender, tmp_path):
    import trimesh

    for ext in ("glb", "obj"):
        path = tmp_path / f"face.{ext}"
        assert blender.ops.talkface.export_neutral(filepath=str(path), file_format=ext.upper()) == {"FINISHED"}
        mesh = trimesh.load(str(path), force="mesh", process=False)
        assert len(mesh.vertices) == len(fitted.data.vertices)


def test_refit_keeps_the_first_face(fitted, blender):
    first = fitted.name
    assert blender.ops.talkface.fit_face(filepath=PORTRAIT) == {"FINISHED"}
    assert first in blender.data.objects and blender.context.active_object.name != first


def test_not_a_photo_is_reported(scene, blender, tmp_path):
    fake = tmp_path / "face.jpg"
    fake.write_text("hello")
    with pytest.raises(RuntimeError) as err:
        blender.ops.talkface.fit_face(filepath=str(fake))
    assert "face.jpg" in str(err.value) and "unexpectedly" not in str(err.value)
    assert len(blender.data.objects) == 0
