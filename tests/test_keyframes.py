"""Animation -> Blender F-curves on a real mesh with ARKit-named shape keys, and back."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

PKG = "bl_ext.user_default.talkface"
CHANNELS = ("jawOpen", "mouthClose", "browInnerUp", "eyeBlinkLeft", "head_rx", "head_ry", "head_rz",
            "head_tx", "head_ty", "head_tz")


@pytest.fixture
def kf(blender):
    return importlib.import_module(f"{PKG}.blender_talkface.keyframes")


@pytest.fixture
def anim_mod(blender):
    return importlib.import_module(f"{PKG}.core.animation")


@pytest.fixture
def face(scene, blender):
    bpy = blender
    bpy.ops.mesh.primitive_grid_add(x_subdivisions=4, y_subdivisions=4)
    obj = bpy.context.object
    obj.shape_key_add(name="Basis")
    for name in ("jawOpen", "mouthClose", "browInnerUp", "eyeBlinkLeft", "mouthSmileLeft"):
        obj.shape_key_add(name=name)
    head = bpy.data.objects.new("Head", None)
    scene.collection.objects.link(head)
    obj.parent = head
    return obj, head


def speech_like(anim_mod, fps=25.0, seconds=4.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(seconds * fps)
    t = np.arange(n) / fps
    values = np.zeros((n, len(CHANNELS)), np.float32)
    values[:, 0] = np.clip(0.4 + 0.4 * np.sin(2 * np.pi * 4 * t) + 0.1 * rng.standard_normal(n), 0, 1)
    values[:, 1] = (np.sin(2 * np.pi * 1.3 * t) > 0.8).astype(np.float32)
    values[:, 2] = 0.2 + 0.1 * np.sin(2 * np.pi * 0.4 * t)
    values[:, 4] = 0.05 * np.sin(2 * np.pi * 0.3 * t)
    values[:, 9] = 0.01 * np.sin(2 * np.pi * 0.2 * t)
    return anim_mod.Animation(fps, CHANNELS, values)


def evaluate(action, scene, obj, head, kf, names, frames):
    weights, pose = kf.read_state(scene, obj, head, names, frames)
    return weights, pose


@pytest.mark.parametrize("scene_fps", [23.976, 25.0, 29.97, 60.0])
def test_take_is_reduced_and_within_tolerance(scene, blender, kf, anim_mod, face, scene_fps):
    obj, head = face
    anim = speech_like(anim_mod)
    rest = np.array([0.1, 0.0, 0.05, 0.0, 0.6, 0.0])
    report = kf.write_take(anim, name="speech", start_frame=10, scene_fps=scene_fps,
                           face_obj=obj, head_obj=head, head_rest=rest, tolerance=0.02)
    action = report.action
    assert report.missing_channels == []
    assert 0 < report.n_keys < report.n_dense / 2  # far fewer keys than frames
    assert obj.data.shape_keys.animation_data.action == action
    assert head.animation_data.action == action
    if hasattr(action, "slots"):
        assert {s.target_id_type for s in action.slots} == {"KEY", "OBJECT"}

    dense = anim.resample(scene_fps)
    frames = 10 + np.arange(dense.n_frames)
    weights, pose = kf.read_state(scene, obj, head, ["jawOpen", "mouthClose", "browInnerUp"], frames)
    ref = np.stack([dense.channel(c) for c in ("jawOpen", "mouthClose", "browInnerUp")], 1)
    assert np.max(np.abs(weights - ref)) <= 0.02 + 1e-4
    assert np.max(np.abs(pose[:, 0] - (rest[0] + dense.channel("head_rx")))) <= 0.002 + 1e-5
    assert np.max(np.abs(pose[:, 4] - (rest[4] + dense.channel("head_ty")))) <= 0.002 + 1e-5


def test_rerun_makes_new_action_and_keeps_edited_one(scene, blender, kf, anim_mod, face):
    obj, head = face
    first = kf.write_take(speech_like(anim_mod), name="take", start_frame=1, scene_fps=25.0,
                          face_obj=obj, head_obj=head).action
    # the animator edits a key by hand
    bag_curves = [fc for fc in _fcurves(first) if fc.data_path == 'key_blocks["jawOpen"].value']
    point = bag_curves[0].keyframe_points[1]
    point.co.y = 0.77
    edited = [tuple(p.co) for p in bag_curves[0].keyframe_points]

    second = kf.write_take(speech_like(anim_mod, seed=1), name="take", start_frame=1, scene_fps=25.0,
                           face_obj=obj, head_obj=head).action
    assert second != first and second.name != first.name
    assert [tuple(p.co) for p in bag_curves[0].keyframe_points] == edited
    assert obj.data.shape_keys.animation_data.action == second
    # each take is an NLA strip on its own track; the new one plays, the earlier one is muted
    for owner in (obj.data.shape_keys, head):
        tracks = {t.name: t for t in owner.animation_data.nla_tracks}
        assert [(s.action, t.mute) for t in tracks.values() for s in t.strips] == [(first, True), (second, False)]


def test_missing_channels_reported(scene, blender, kf, anim_mod, face):
    obj, _ = face
    anim = anim_mod.Animation(25.0, ("jawOpen", "cheekPuff", "tongueOut"), np.zeros((20, 3)))
    report = kf.write_take(anim, name="t", start_frame=1, scene_fps=25.0, face_obj=obj)
    assert report.missing_channels == ["cheekPuff", "tongueOut"]


def test_read_state_sees_hand_edits(scene, blender, kf, anim_mod, face):
    obj, head = face
    action = kf.write_take(speech_like(anim_mod), name="t", start_frame=1, scene_fps=25.0,
                           face_obj=obj, head_obj=head, tolerance=0.0).action
    fc = next(fc for fc in _fcurves(action) if fc.data_path == 'key_blocks["browInnerUp"].value')
    fc.keyframe_points[20].co.y = 0.9
    fc.update()
    weights, _ = kf.read_state(scene, obj, head, ["browInnerUp", "mouthSmileLeft", "notAKey"], [21])
    assert abs(weights[0, 0] - 0.9) < 1e-5
    assert weights[0, 2] == 0.0


def _fcurves(action):
    if not hasattr(action, "slots"):
        return list(action.fcurves)
    return [fc for layer in action.layers for strip in layer.strips
            for bag in strip.channelbags for fc in bag.fcurves]


def test_blender_evaluates_the_fitted_curve(scene, blender, kf, anim_mod, face):
    """The keys and aligned handles written are exactly the fitted cubic: Blender's own
    evaluation matches core.animation.Keys at every frame."""
    from talkface.core.animation import fit_keys

    obj, _ = face
    values = speech_like(anim_mod).channel("browInnerUp").astype(np.float64)
    action = blender.data.actions.new("fit")
    _, fcurves = kf.new_channelbag(action, "KEY", obj.data.shape_keys.name)
    frames = 7 + np.arange(len(values), dtype=np.float64)
    fc, n = kf.write_fcurve(fcurves, 'key_blocks["browInnerUp"].value', 0, "Brows", frames, values, 0.01)
    keys = fit_keys(values, 0.01)
    assert n == len(keys.index) < len(values) / 2
    blender_values = np.array([fc.evaluate(f) for f in frames])
    assert np.abs(blender_values - keys.evaluate(len(values))).max() < 1e-4
    assert np.abs(blender_values - values).max() <= 0.01 + 1e-4
    assert {p.handle_left_type for p in fc.keyframe_points} == {"ALIGNED"}
