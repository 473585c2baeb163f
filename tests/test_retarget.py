"""Apply Take to Selected onto other characters: name matching (ARKit, CC3+/CC4, _L/_R, a user
table), head motion onto an Empty or an armature's head bone, refusals, re-apply, hand edits."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from conftest import PORTRAIT, SPEECH

from talkface.core.errors import InputError
from talkface.core.face.model import ARKIT_NAMES
from talkface.core.retarget import canonical, find_head_bone, map_names, parse_user_map, summary

PKG = "bl_ext.user_default.talkface"
CC4 = ("Jaw_Open", "Eye_Blink_L", "Eye_Blink_R", "Mouth_Smile_R", "Brow_Raise_Inner_L", "Brow_Raise_Inner_R",
       "Brow_Drop_L", "Mouth_Up_Upper_L", "Mouth_Roll_In_Lower", "Cheek_Puff_L", "Eye_L_Look_Down", "Unrelated")


# --- names ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, arkit", [
    ("jawOpen", "jawOpen"), ("JAW_OPEN", "jawOpen"), ("Jaw_Open", "jawOpen"), ("A25_Jaw_Open", "jawOpen"),
    ("Eye_Blink_L", "eyeBlinkLeft"), ("eyeBlink_R", "eyeBlinkRight"), ("EyeBlinkLeft", "eyeBlinkLeft"),
    ("Eye_L_Look_Down", "eyeLookDownLeft"), ("Mouth_Up_Upper_L", "mouthUpperUpLeft"),
    ("Mouth_Down_Lower_R", "mouthLowerDownRight"), ("Brow_Drop_L", "browDownLeft"),
    ("Brow_Raise_Outer_R", "browOuterUpRight"), ("Mouth_Roll_In_Lower", "mouthRollLower"),
    ("blendShape1.mouthPressLeft", "mouthPressLeft"), ("Jaw_L", "jawLeft"), ("mouth_smile.L", "mouthSmileLeft"),
])
def test_name_variants_match(name, arkit):
    assert map_names([name]) == {arkit: [name]}
    assert canonical(name) == canonical(arkit)


def test_split_central_channels_and_unrelated_names():
    mapping = map_names(CC4)
    assert mapping["browInnerUp"] == ["Brow_Raise_Inner_L", "Brow_Raise_Inner_R"]
    assert mapping["cheekPuff"] == ["Cheek_Puff_L"]
    assert "Unrelated" not in sum(mapping.values(), [])
    assert map_names(ARKIT_NAMES) == {n: [n] for n in ARKIT_NAMES}


def test_user_table_overrides_and_rejects_unknown_channels():
    table = parse_user_map("# mine\njawOpen = MyJaw\ncheekPuff = Puff_L, Puff_R\nmouthClose =\n")
    assert table == {"jawOpen": ["MyJaw"], "cheekPuff": ["Puff_L", "Puff_R"], "mouthClose": []}
    mapping = map_names(["MyJaw", "Jaw_Open", "Puff_L", "Puff_R", "Mouth_Close"], table)
    assert mapping["jawOpen"] == ["MyJaw"] and mapping["cheekPuff"] == ["Puff_L", "Puff_R"]
    assert "mouthClose" not in mapping
    assert parse_user_map('{"jawOpen": "X"}') == {"jawOpen": ["X"]}
    with pytest.raises(InputError, match="not an ARKit channel"):
        map_names(["X"], {"jawOpenWide": ["X"]})
    with pytest.raises(InputError, match="no '='"):
        parse_user_map("jawOpen MyJaw")


def test_summary_is_grouped():
    from talkface.core.animation import channel_group

    head, lines = summary(map_names(CC4), {n: channel_group(n) for n in ARKIT_NAMES})
    assert head.startswith("mapped 10 of 52 ARKit channels (") and "brows 2/5" in head
    assert all(line.startswith("not mapped (") for line in lines) and all(len(line) < 120 for line in lines)


def test_head_bone_names():
    assert find_head_bone(["root", "spine", "neck", "Head", "HeadTop_End"]) == "Head"
    assert find_head_bone(["CC_Base_NeckTwist01", "CC_Base_Head"]) == "CC_Base_Head"
    assert find_head_bone(["mixamorig:Hips", "mixamorig:Head"]) == "mixamorig:Head"
    assert find_head_bone(["root", "spine"]) is None


# --- in Blender -------------------------------------------------------------------------------

@pytest.fixture
def shot(scene, blender):
    """A fitted, animated TalkFace face and a character: a CC4-named mesh and an armature."""
    bpy = blender
    assert bpy.ops.talkface.fit_face(filepath=PORTRAIT) == {"FINISHED"}
    face = bpy.context.active_object
    assert bpy.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
    bpy.ops.mesh.primitive_plane_add()
    body = bpy.context.object
    body.name = "Character"
    body.shape_key_add(name="Basis")
    for name in CC4:
        body.shape_key_add(name=name)
    arm_data = bpy.data.armatures.new("Rig")
    rig = bpy.data.objects.new("Rig", arm_data)
    scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    for name, head, tail, parent in (("root", (0, 0, 0), (0, 0, 1), None), ("neck", (0, 0, 1), (0, 0, 1.2), "root"),
                                     ("Head", (0, 0, 1.2), (0, 0, 1.5), "neck")):
        bone = arm_data.edit_bones.new(name)
        bone.head, bone.tail = head, tail
        if parent:
            bone.parent = arm_data.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    return face, body, rig


def _select(bpy, objects, active):
    for o in bpy.context.view_layer.objects:
        o.select_set(o in objects)
    bpy.context.view_layer.objects.active = active


def _curves(bpy, id_block):
    kf = importlib.import_module(f"{PKG}.blender_talkface.keyframes")
    return {(fc.data_path, fc.array_index): fc for fc in kf._active_curves(id_block)}


def test_retarget_onto_cc4_mesh_and_armature(shot, blender):
    bpy = blender
    face, body, rig = shot
    take = face.data.shape_keys.animation_data.action
    before = {k: [tuple(p.co) for p in fc.keyframe_points] for k, fc in _curves(bpy, face.data.shape_keys).items()}
    _select(bpy, [face, body, rig], rig)                 # reversed: the character is active
    assert bpy.ops.talkface.apply_to_selected(tolerance=0.0) == {"FINISHED"}
    # the TalkFace face is the source whatever is active, and is never written to
    assert face.data.shape_keys.animation_data.action == take
    assert {k: [tuple(p.co) for p in fc.keyframe_points]
            for k, fc in _curves(bpy, face.data.shape_keys).items()} == before
    src = {k[0]: fc for k, fc in _curves(bpy, face.data.shape_keys).items()}
    dst = {k[0]: fc for k, fc in _curves(bpy, body.data.shape_keys).items()}
    pairs = {"Jaw_Open": "jawOpen", "Eye_Blink_L": "eyeBlinkLeft", "Brow_Raise_Inner_R": "browInnerUp",
             "Mouth_Roll_In_Lower": "mouthRollLower"}
    assert 'key_blocks["jawOpen"].value' in src and 'key_blocks["Jaw_Open"].value' in dst
    for cc4, arkit in pairs.items():
        a, b = src.get(f'key_blocks["{arkit}"].value'), dst.get(f'key_blocks["{cc4}"].value')
        assert (a is None) == (b is None)          # a channel the take never moves is not copied
        for frame in ((1, 40, 120) if a is not None else ()):
            assert abs(a.evaluate(frame) - b.evaluate(frame)) < 1e-4
    assert 'key_blocks["Unrelated"].value' not in dst
    assert body.data.shape_keys.animation_data.action.name == f"{take.name} -> Character"
    # head motion in the head bone's own space: it turns over the take
    rot = [fc for (path, _), fc in _curves(bpy, rig).items() if path == 'pose.bones["Head"].rotation_quaternion']
    assert len(rot) == 4
    w = np.array([rot[0].evaluate(f) for f in range(1, 180)])
    xyz = np.array([[fc.evaluate(f) for fc in rot[1:]] for f in range(1, 180)])
    assert np.all(w > 0.95) and np.ptp(xyz, axis=0).max() > 1e-3


def test_retarget_onto_an_empty(shot, blender):
    bpy = blender
    face, _, _ = shot
    empty = bpy.data.objects.new("HeadCtrl", None)
    bpy.context.scene.collection.objects.link(empty)
    empty.rotation_euler = (0.1, 0.0, 0.0)
    _select(bpy, [face, empty], face)
    assert bpy.ops.talkface.apply_to_selected() == {"FINISHED"}
    rx = _curves(bpy, empty)[("rotation_euler", 0)]
    values = np.array([rx.evaluate(f) for f in range(1, 180)])
    assert abs(values.mean() - 0.1) < 0.1 and np.ptp(values) > 1e-3


def _cube_with_smile(bpy):
    """A mesh whose one shape key ('Smile') matches no ARKit name."""
    bpy.ops.mesh.primitive_cube_add()
    cube = bpy.context.object
    cube.shape_key_add(name="Basis")
    cube.shape_key_add(name="Smile")
    return cube


def test_refused_when_nothing_maps(shot, blender):
    bpy = blender
    face, _, _ = shot
    cube = _cube_with_smile(bpy)
    n_actions = len(bpy.data.actions)
    _select(bpy, [face, cube], face)
    with pytest.raises(RuntimeError, match="No shape key of 'Cube' matches"):
        bpy.ops.talkface.apply_to_selected()
    assert len(bpy.data.actions) == n_actions and cube.data.shape_keys.animation_data is None


def test_mapping_text_block(shot, blender):
    bpy = blender
    face, _, _ = shot
    cube = _cube_with_smile(bpy)
    text = bpy.data.texts.new("TalkFace Mapping")
    text.write("mouthSmileLeft = Smile\n")
    bpy.context.scene.talkface.retarget_text = text
    try:
        _select(bpy, [face, cube], face)
        assert bpy.ops.talkface.apply_to_selected() == {"FINISHED"}
        assert ('key_blocks["Smile"].value', 0) in _curves(bpy, cube.data.shape_keys)
    finally:
        bpy.context.scene.talkface.retarget_text = None


def test_reapply_replaces_its_own_retarget_but_keeps_hand_edits(shot, blender):
    bpy = blender
    face, body, _ = shot
    _select(bpy, [face, body], face)
    assert bpy.ops.talkface.apply_to_selected() == {"FINISHED"}
    first = body.data.shape_keys.animation_data.action
    name = first.name
    assert bpy.ops.talkface.apply_to_selected() == {"FINISHED"}
    again = body.data.shape_keys.animation_data.action
    assert again.name == name and not bpy.data.actions.get(name + ".001")
    assert len(body.data.shape_keys.animation_data.nla_tracks) == 1
    # the animator edits the retarget; a re-apply must not touch it
    jaw = _curves(bpy, body.data.shape_keys)[('key_blocks["Jaw_Open"].value', 0)]
    jaw.keyframe_points[2].co.y = 0.66
    edited = [tuple(p.co) for p in jaw.keyframe_points]
    assert bpy.ops.talkface.apply_to_selected() == {"FINISHED"}
    kept = bpy.data.actions[name]
    assert body.data.shape_keys.animation_data.action != kept
    curves = [fc for layer in kept.layers for strip in layer.strips for bag in strip.channelbags
              for fc in bag.fcurves if fc.data_path == 'key_blocks["Jaw_Open"].value']
    assert [tuple(p.co) for p in curves[0].keyframe_points] == edited


def test_axis_angle_head_bone_is_refused_before_anything_is_written(shot, blender):
    bpy = blender
    face, body, rig = shot
    rig.pose.bones["Head"].rotation_mode = "AXIS_ANGLE"
    n_actions = len(bpy.data.actions)
    _select(bpy, [face, body, rig], face)
    with pytest.raises(RuntimeError, match="Axis Angle"):
        bpy.ops.talkface.apply_to_selected()
    assert len(bpy.data.actions) == n_actions
    assert body.data.shape_keys.animation_data is None and rig.animation_data is None
