# SPDX-License-Identifier: GPL-3.0-or-later
"""Turns a ``FaceFit`` into Blender data: head Empty, face mesh with ARKit shape keys,
photo-projected UVs and material, and a camera that sees the face as the photo did.

Everything is written in bulk with ``foreach_set``; the fit, the photo and pointers to the head
and camera are stored on the mesh object (``scene_data``) so the animate and bake stages find
them again from the scene alone.
"""

from __future__ import annotations

import math
import os

import bpy
import numpy as np

from ..core.errors import InputError
from ..core.face.model import ARKIT_NAMES
from . import scene_data

COLLECTION_NAME = "TalkFace"


def _collection(scene) -> bpy.types.Collection:
    coll = bpy.data.collections.get(COLLECTION_NAME)
    if coll is None:
        coll = bpy.data.collections.new(COLLECTION_NAME)
    if scene.collection.children.get(coll.name) is None:
        scene.collection.children.link(coll)
    return coll


def _build_mesh(name: str, verts: np.ndarray, triangles: np.ndarray) -> bpy.types.Mesh:
    mesh = bpy.data.meshes.new(name)
    n_tri = len(triangles)
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", verts.astype(np.float32).ravel())
    mesh.loops.add(3 * n_tri)
    mesh.loops.foreach_set("vertex_index", triangles.astype(np.int32).ravel())
    mesh.polygons.add(n_tri)
    mesh.polygons.foreach_set("loop_start", np.arange(0, 3 * n_tri, 3, dtype=np.int32))
    mesh.polygons.foreach_set("loop_total", np.full(n_tri, 3, dtype=np.int32))
    mesh.polygons.foreach_set("use_smooth", np.ones(n_tri, dtype=bool))
    mesh.update(calc_edges=True)
    mesh.validate(clean_customdata=False)
    return mesh


def _add_shape_keys(obj, neutral: np.ndarray, deltas: np.ndarray, names, values) -> None:
    obj.shape_key_add(name="Basis", from_mix=False)
    for name, delta, value in zip(names, deltas, values):
        key = obj.shape_key_add(name=name, from_mix=False)
        key.data.foreach_set("co", (neutral + delta).astype(np.float32).ravel())
        key.slider_min, key.slider_max = 0.0, 1.0
        key.value = float(value)
    obj.data.shape_keys.name = f"{obj.name} Keys"


def _add_photo_uvs(mesh, triangles: np.ndarray, uv_per_vertex: np.ndarray) -> None:
    layer = mesh.uv_layers.new(name="Photo")
    loop_uv = uv_per_vertex[triangles.ravel()]
    layer.data.foreach_set("uv", loop_uv.astype(np.float32).ravel())


def _photo_material(name: str, image) -> bpy.types.Material:
    """Emission of the photo: under the Standard view transform it shows the photo's pixels."""
    mat = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):  # 5.0 materials always have a node tree
        mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = image
    tex.interpolation = "Cubic"
    uv = nodes.new("ShaderNodeUVMap")
    uv.uv_map = "Photo"
    emit = nodes.new("ShaderNodeEmission")
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(uv.outputs["UV"], tex.inputs["Vector"])
    links.new(tex.outputs["Color"], emit.inputs["Color"])
    links.new(emit.outputs["Emission"], out.inputs["Surface"])
    uv.location, tex.location, emit.location, out.location = (-600, 0), (-350, 0), (0, 0), (250, 0)
    return mat


def configure_camera(cam_obj, camera, scene) -> None:
    """Match Blender's camera to the fitted pinhole (focal, principal point, image size)."""
    cam = cam_obj.data
    cam.sensor_fit = "AUTO"
    cam.sensor_width = 36.0
    cam.lens, cam.shift_x, cam.shift_y = camera.blender_intrinsics(cam.sensor_width)
    cam.clip_start, cam.clip_end = 0.01, 100.0
    cam_obj.location = (0.0, 0.0, 0.0)
    cam_obj.rotation_mode = "XYZ"
    cam_obj.rotation_euler = (math.pi / 2.0, 0.0, 0.0)
    scene.render.resolution_x = camera.width
    scene.render.resolution_y = camera.height
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0


def show_photo_behind(cam_obj, image) -> None:
    """The photo as the camera's background, so camera view lines the face up with the photo."""
    cam = cam_obj.data
    cam.show_background_images = True
    bg = cam.background_images.new()
    bg.image = image
    bg.display_depth = "BACK"
    bg.frame_method = "FIT"
    bg.alpha = 1.0


def photo_image(photo_path: str, photo=None):
    """The photo as a Blender image with the pixels the fit saw: the file itself when it is stored
    upright in sRGB, else (an EXIF rotation, a colour profile converted) an image made from the
    upright sRGB pixels and packed into the .blend, so texture and camera background line up."""
    changed = photo is not None and any(n.startswith(("rotated upright", "converted from the colour profile"))
                                        for n in photo.notes)
    if not changed:
        return bpy.data.images.load(photo_path, check_existing=True)
    height, width = photo.rgb.shape[:2]
    image = bpy.data.images.new(os.path.basename(photo_path) + " (upright)", width, height, alpha=False)
    rgba = np.ones((height, width, 4), np.float32)
    rgba[..., :3] = photo.rgb[::-1]                 # Blender's rows run bottom to top
    image.pixels.foreach_set(rgba.ravel())          # a new byte image is sRGB already (setting it
    image.pack()                                    # again would regenerate it and drop the pixels)
    return image


def create_face(context, fit, model, photo_path: str, photo=None):
    """Create head Empty, face mesh and camera for ``fit``; return the mesh object. ``photo``:
    the loaded ``Photo`` (its upright pixels become the texture when the file is stored otherwise)."""
    scene = context.scene
    coll = _collection(scene)
    base = os.path.splitext(os.path.basename(photo_path))[0] or "Face"

    head = bpy.data.objects.new(f"{base} Head", None)
    head.empty_display_type = "SPHERE"
    head.empty_display_size = 0.12
    head.rotation_mode = "XYZ"
    head.rotation_euler = tuple(float(a) for a in fit.pose[:3])
    head.location = tuple(float(t) for t in fit.pose[3:6])
    coll.objects.link(head)

    neutral = model.neutral_vertices(fit.identity)
    mesh = _build_mesh(f"{base} Face", neutral, model.triangles)
    photo_state = model.vertices(fit.identity, fit.expression[None], fit.pose[None])[0]
    uvw = fit.camera.project(photo_state)
    uv = np.stack([uvw[:, 0] / fit.camera.width, 1.0 - uvw[:, 1] / fit.camera.height], axis=1)
    _add_photo_uvs(mesh, model.triangles, uv)
    image = photo_image(photo_path, photo)
    mesh.materials.append(_photo_material(f"{base} Photo", image))

    obj = bpy.data.objects.new(f"{base} Face", mesh)
    coll.objects.link(obj)
    obj.parent = head
    _add_shape_keys(obj, neutral, model.expression_basis, ARKIT_NAMES, fit.expression)
    scene_data.set_fit(obj, fit.to_dict())
    scene_data.set_photo_path(obj, photo_path)

    cam_obj = bpy.data.objects.new(f"{base} Camera", bpy.data.cameras.new(f"{base} Camera"))
    coll.objects.link(cam_obj)
    configure_camera(cam_obj, fit.camera, scene)
    show_photo_behind(cam_obj, image)
    scene.camera = cam_obj
    scene_data.set_camera_object(obj, cam_obj)
    scene_data.set_head_object(obj, head)

    for o in context.view_layer.objects:
        o.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj


def find_face(context):
    """The fitted face the user means: the active object if fitted, else the only fitted one."""
    active = context.active_object
    if scene_data.is_face(active):
        return active
    fitted = [o for o in context.scene.objects if scene_data.is_face(o)]
    return fitted[0] if len(fitted) == 1 else None


def load_fit(obj):
    """The face's ``FaceFit`` (core.face.fitting needs scipy: imported on use)."""
    from ..core.face.fitting import FaceFit

    data = scene_data.fit_dict(obj)
    if data is None:
        raise InputError(f"'{obj.name}' is not a fitted TalkFace face: run 'Fit Face from Photo' first")
    return FaceFit.from_dict(data)
