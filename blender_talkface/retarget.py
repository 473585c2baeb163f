# SPDX-License-Identifier: GPL-3.0-or-later
"""Apply Take to Selected: a TalkFace take onto the user's own characters.

Shape keys are matched by name (``core.retarget``: ARKit, CC3+/CC4, ``_L``/``_R``, Faceit, and a
user table from a text block or a JSON file); head motion goes to a selected Empty (added to its
rotation) or to the head bone of a selected armature (the rotation expressed in the bone's own
local space, on top of its current pose). Each target gets its own Action "<take> -> <target>",
played through an NLA track like a take; re-applying the same take replaces that Action unless
the animator has edited it since (then it is kept and the new one gets another name). The
TalkFace face itself is never a target.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import bpy
import numpy as np

from ..core.animation import HEAD_CHANNELS, Animation, channel_group
from ..core.errors import InputError
from ..core.retarget import find_head_bone, map_names, parse_user_map, summary
from . import keyframes, scene_data
from .pipeline import read_face_take


@dataclass
class RetargetReport:
    take: str = ""
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    actions: list = field(default_factory=list)


def user_mapping(context) -> dict[str, list[str]]:
    """The scene's mapping table: its text block, else its JSON file, else none."""
    settings = context.scene.talkface
    if settings.retarget_text is not None:
        return parse_user_map(settings.retarget_text.as_string())
    if settings.retarget_file:
        path = bpy.path.abspath(settings.retarget_file)
        try:
            with open(path, encoding="utf-8") as fh:
                return parse_user_map(fh.read())
        except OSError as exc:
            raise InputError(f"Cannot read the mapping file {path}: {exc.strerror}") from None
    return {}


def fingerprint(action) -> str:
    """A hash of every key (frame, value, handles) of ``action``: changes when anyone edits it."""
    digest = hashlib.sha1()
    for fc in _all_fcurves(action):
        digest.update(f"{fc.data_path}[{fc.array_index}]".encode())
        n = len(fc.keyframe_points)
        data = np.empty(n * 6, np.float32)
        for prop, part in (("co", 0), ("handle_left", 1), ("handle_right", 2)):
            fc.keyframe_points.foreach_get(prop, data[part * 2 * n:(part + 1) * 2 * n])
        digest.update(data.tobytes())
    return digest.hexdigest()


def _all_fcurves(action):
    if hasattr(action, "layers"):
        return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
                for fc in bag.fcurves]
    return list(action.fcurves)


def _replace_previous(id_block, name: str, take_name: str) -> str | None:
    """Remove this take's earlier retarget Action on ``id_block`` if nobody edited it; returns the
    name of an edited one that was kept (or None)."""
    old = bpy.data.actions.get(name)
    if old is None or scene_data.retarget_source(old) != take_name:
        return None
    if scene_data.retarget_fingerprint(old) != fingerprint(old):
        return old.name                               # the animator's edits: never overwritten
    anim = id_block.animation_data
    if anim is not None:
        for track in [t for t in anim.nla_tracks if any(s.action == old for s in t.strips)]:
            anim.nla_tracks.remove(track)
        if anim.action == old:
            anim.action = None
    bpy.data.actions.remove(old)
    return None


def _new_action(id_block, name: str, take_name: str, start: int, report: RetargetReport):
    kept = _replace_previous(id_block, name, take_name)
    if kept is not None:
        report.warnings.append(f"'{kept}' was edited by hand: kept, the new retarget is a new Action")
    action = bpy.data.actions.new(name)
    scene_data.set_take_start_frame(action, start)
    scene_data.set_retarget_source(action, take_name)
    return action


def _finish(id_block, action, slot, start: int, report: RetargetReport) -> None:
    keyframes.assign_take(id_block, action, slot, start)
    scene_data.set_retarget_fingerprint(action, fingerprint(action))
    report.actions.append(action)


def _to_mesh(target, anim: Animation, mapping, take_name, start, tolerance, report) -> None:
    keys = target.data.shape_keys
    action = _new_action(keys, f"{take_name} -> {target.name}", take_name, start, report)
    slot, fcurves = keyframes.new_channelbag(action, "KEY", keys.name)
    frames = start + np.arange(anim.n_frames, dtype=np.float64)
    for arkit, names in mapping.items():
        if arkit not in anim.channels:        # a channel the take never moves (no F-curve): rests at 0
            continue
        values = anim.channel(arkit).astype(np.float64)
        for key_name in names:
            keyframes.write_fcurve(fcurves, f'key_blocks["{key_name}"].value', 0,
                                   keyframes.group_label(channel_group(arkit)), frames, values, tolerance)
    _finish(keys, action, slot, start, report)


def _head_rotations(anim: Animation) -> np.ndarray:
    """[F, 3, 3] head rotation offsets (Euler XYZ of head_rx/ry/rz) in the face's space."""
    from mathutils import Euler

    angles = np.stack([anim.channel(c) if c in anim.channels else np.zeros(anim.n_frames)
                       for c in HEAD_CHANNELS[:3]], 1).astype(np.float64)
    return np.array([np.array(Euler(a, "XYZ").to_matrix()) for a in angles])


def _key_rotation(target, data_path: str, values: np.ndarray, take_name, start, tolerance, report) -> None:
    """A retarget Action on the object ``target`` keying ``values`` [F, axes] on ``data_path``."""
    action = _new_action(target, f"{take_name} -> {target.name}", take_name, start, report)
    slot, fcurves = keyframes.new_channelbag(action, "OBJECT", target.name)
    frames = start + np.arange(len(values), dtype=np.float64)
    for axis in range(values.shape[1]):
        keyframes.write_fcurve(fcurves, data_path, axis, "Head", frames, values[:, axis],
                               tolerance * keyframes.HEAD_TOLERANCE_SCALE)
    _finish(target, action, slot, start, report)


def _to_empty(target, anim, take_name, start, tolerance, report) -> None:
    from mathutils import Matrix

    rest = target.rotation_euler.to_matrix()
    eulers = np.array([tuple((Matrix(d.tolist()) @ rest).to_euler("XYZ", target.rotation_euler))
                       for d in _head_rotations(anim)])
    _key_rotation(target, "rotation_euler", eulers, take_name, start, tolerance, report)


def _to_bone(target, bone_name, anim, take_name, start, tolerance, report) -> None:
    from mathutils import Matrix

    bone = target.data.bones[bone_name]
    pose_bone = target.pose.bones[bone_name]
    # face-space delta -> armature space -> the bone's rest frame (what its pose rotation means)
    to_armature = target.matrix_world.to_3x3().normalized().transposed()
    rest = bone.matrix_local.to_3x3().normalized()
    current = pose_bone.matrix_basis.to_3x3().normalized()
    local = []
    for d in _head_rotations(anim):
        delta = to_armature @ Matrix(d.tolist()) @ to_armature.transposed()
        local.append(current @ (rest.transposed() @ delta @ rest))
    if pose_bone.rotation_mode == "QUATERNION":
        quats, previous = [], None
        for m in local:
            q = m.to_quaternion()
            if previous is not None and q.dot(previous) < 0:
                q.negate()                                   # keep the curve continuous
            quats.append(tuple(q))
            previous = q
        values, prop = np.array(quats), "rotation_quaternion"
    else:                                                    # Euler (Axis Angle is refused in apply_take)
        values = np.array([tuple(m.to_euler(pose_bone.rotation_mode)) for m in local])
        prop = "rotation_euler"
    _key_rotation(target, f'pose.bones["{bone_name}"].{prop}', values, take_name, start, tolerance, report)


def apply_take(context, source, targets, tolerance: float, head_bone: str = "") -> RetargetReport:
    """``source``: the TalkFace face with the take; ``targets``: the other selected objects."""
    from ..core.face.model import ARKIT_NAMES

    take = scene_data.current_take(source)
    if take is None:
        raise InputError(f"'{source.name}' has no take: animate it first")
    anim, start = read_face_take(context, source)
    user_map = user_mapping(context)
    targets = [t for t in targets if t is not source and not scene_data.is_face(t)]
    meshes = [t for t in targets if t.type == "MESH" and t.data.shape_keys is not None]
    heads = [t for t in targets if t.type in ("EMPTY", "ARMATURE")]
    if not meshes and not heads:
        raise InputError("Select the character's meshes (with shape keys), its head Empty or its armature, "
                         "then the TalkFace face last (active)")
    report = RetargetReport(take=take.name)
    groups = {n: channel_group(n) for n in ARKIT_NAMES}
    plans = []
    for mesh in meshes:
        mapping = map_names([k for k in mesh.data.shape_keys.key_blocks.keys()], user_map)
        if not mapping:
            raise InputError(f"No shape key of '{mesh.name}' matches an ARKit channel: add a mapping table "
                             "(TalkFace panel, Retarget) - nothing was assigned")
        plans.append((mesh, mapping))
    bone_plans = []
    for obj in heads:
        if obj.type == "ARMATURE":
            bone = head_bone or find_head_bone(obj.data.bones.keys())
            if not bone or bone not in obj.data.bones:
                raise InputError(f"No head bone found in '{obj.name}'"
                                 + (f" (no bone named '{head_bone}')" if head_bone else "")
                                 + ": set Head Bone in the Retarget settings - nothing was assigned")
            if obj.pose.bones[bone].rotation_mode == "AXIS_ANGLE":
                raise InputError(f"The head bone '{bone}' uses Axis Angle rotation: set it to Quaternion or "
                                 "Euler - nothing was assigned")
            bone_plans.append((obj, bone))
        else:
            bone_plans.append((obj, None))
    for mesh, mapping in plans:                      # every check passed: now write
        _to_mesh(mesh, anim, mapping, take.name, start, tolerance, report)
        head, missing = summary(mapping, groups)
        report.lines.append(f"'{mesh.name}': {head}")
        report.warnings += [f"'{mesh.name}' {line}" for line in missing]
    for obj, bone in bone_plans:
        if bone is None:
            _to_empty(obj, anim, take.name, start, tolerance, report)
            report.lines.append(f"head motion -> Empty '{obj.name}'")
        else:
            _to_bone(obj, bone, anim, take.name, start, tolerance, report)
            report.lines.append(f"head motion -> bone '{bone}' of '{obj.name}'")
    return report
