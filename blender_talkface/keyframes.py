# SPDX-License-Identifier: GPL-3.0-or-later
"""``Animation`` <-> Blender F-curves.

One take = one new Action with two slots (Blender 5.0 layered Actions): a KEY slot for the
ARKit shape-key weights and an OBJECT slot for the head control's rotation and location.
Keys are written in bulk (``keyframe_points.add`` + ``foreach_set``) and reduced so the
animator gets few keys to clean, while the evaluated Bezier curve stays within a tolerance of
the dense curve.

Every take also gets an NLA track named after it, with one strip at its start frame (on the
shape keys and on the head control alike). The newest take plays: its strip is live and its
Action is the active one, so the Graph Editor opens it directly; earlier takes' strips are muted
and stay there for the animator to switch back to. A previous take's Action is never modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from ..core.animation import HEAD_CHANNELS, Animation, channel_group, fit_keys, is_flat
from . import scene_data

# Enum values as foreach_set wants them (indices into the RNA enum items).
_BEZIER = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["BEZIER"].value
_ALIGNED = bpy.types.Keyframe.bl_rna.properties["handle_left_type"].enum_items["ALIGNED"].value
_HEAD_PATHS = {
    "head_rx": ("rotation_euler", 0), "head_ry": ("rotation_euler", 1), "head_rz": ("rotation_euler", 2),
    "head_tx": ("location", 0), "head_ty": ("location", 1), "head_tz": ("location", 2),
}
#: Head channels' key tolerance as a share of the weights' (radians and metres move less than weights).
HEAD_TOLERANCE_SCALE = 0.1
_GROUP_LABELS = {"mouth": "Mouth", "brows": "Brows", "blinks": "Blinks", "eyes": "Eyes", "head": "Head"}


def group_label(group: str) -> str:
    """The F-curve group (Graph Editor folder) of an intensity group."""
    return _GROUP_LABELS[group]


@dataclass
class TakeReport:
    action: bpy.types.Action
    n_keys: int = 0
    n_dense: int = 0
    missing_channels: list[str] = field(default_factory=list)
    flat_channels: list[str] = field(default_factory=list)   # never move beyond tolerance: no F-curve


def new_channelbag(action, id_type: str, name: str):
    """A new slot and its F-curves (5.0 layered Actions); the Action's own F-curves on 4.2-4.3."""
    if not hasattr(action, "slots"):
        return None, action.fcurves
    from bpy_extras.anim_utils import action_ensure_channelbag_for_slot

    slot = action.slots.new(id_type=id_type, name=name)
    return slot, action_ensure_channelbag_for_slot(action, slot).fcurves


def assign_take(id_block, action, slot, start_frame: int) -> None:
    """Make ``action`` the playing take of ``id_block``: a new NLA track and strip at its start
    frame, earlier takes' strips muted, and the Action active for editing."""
    anim = id_block.animation_data or id_block.animation_data_create()
    for track in take_tracks(id_block):
        track.mute = True
    track = anim.nla_tracks.new()
    track.name = action.name
    strip = track.strips.new(action.name, int(start_frame), action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot
    anim.action = action
    if slot is not None:
        anim.action_slot = slot


def take_tracks(id_block) -> list:
    """The NLA tracks of ``id_block`` that hold TalkFace takes (a strip whose Action is a take)."""
    anim = id_block.animation_data if id_block is not None else None
    if anim is None:
        return []
    return [t for t in anim.nla_tracks if any(scene_data.is_take(s.action) for s in t.strips)]


def write_fcurve(fcurves, data_path: str, index: int, group: str, frames, values, tolerance):
    """One F-curve for hand cleanup (``core.animation.fit_keys``): keys at the motion's turning
    points plus where needed, with aligned Bezier handles that keep the curve within
    ``tolerance`` of ``values`` (``tolerance <= 0``: a key on every frame)."""
    fc = fcurves.new(data_path, index=index, group_name=group)
    keys = fit_keys(values, tolerance)
    _set_keys(fc, np.asarray(frames, np.float64)[keys.index], keys)
    return fc, len(keys.index)


def _set_keys(fc, frames, keys) -> None:
    """Keys with handles a third of the way to each neighbour along the fitted slope: Blender's
    Bezier segment is then exactly the fitted cubic (frames are uniform, so slopes per frame hold)."""
    points = fc.keyframe_points
    if len(points):
        points.clear()
    n = len(frames)
    points.add(n)
    gaps = np.diff(frames) if n > 1 else np.ones(0)
    left = np.concatenate([[gaps[0] if n > 1 else 1.0], gaps]) / 3.0
    right = np.concatenate([gaps, [gaps[-1] if n > 1 else 1.0]]) / 3.0
    slope = keys.slope                      # per dense frame, and dense frames are scene frames
    co = np.stack([frames, keys.value], 1)
    hl = np.stack([frames - left, keys.value - slope * left], 1)
    hr = np.stack([frames + right, keys.value + slope * right], 1)
    points.foreach_set("co", co.astype(np.float32).ravel())
    points.foreach_set("interpolation", np.full(n, _BEZIER, np.int32))
    points.foreach_set("handle_left_type", np.full(n, _ALIGNED, np.int32))
    points.foreach_set("handle_right_type", np.full(n, _ALIGNED, np.int32))
    points.foreach_set("handle_left", hl.astype(np.float32).ravel())
    points.foreach_set("handle_right", hr.astype(np.float32).ravel())
    fc.update()


def write_take(
    anim: Animation,
    *,
    name: str,
    start_frame: int,
    scene_fps: float,
    face_obj,
    head_obj=None,
    head_rest=None,
    tolerance: float = 0.01,
) -> TakeReport:
    """Write ``anim`` as a new Action on ``face_obj``'s shape keys (and ``head_obj``'s pose).

    ``head_rest`` is the photo's pose (rx, ry, rz, tx, ty, tz): head channels are offsets
    from it, keyed as absolute rotation/location so the Graph Editor shows real values.
    Tolerances: weights in weight units; head channels use a tenth of it (radians / metres).
    """
    anim = anim.resample(scene_fps)
    frames = start_frame + np.arange(anim.n_frames, dtype=np.float64)
    keys = face_obj.data.shape_keys
    if keys is None:
        raise ValueError(f"'{face_obj.name}' has no shape keys")
    action = bpy.data.actions.new(name)
    scene_data.set_take_start_frame(action, start_frame)   # marks it as a take (scene_data.is_take)
    report = TakeReport(action)

    key_names = set(keys.key_blocks.keys())
    weight_channels = [c for c in anim.channels if not c.startswith("head_")]
    report.missing_channels = [c for c in weight_channels if c not in key_names]
    slot, fcurves = new_channelbag(action, "KEY", keys.name)
    for name_ in weight_channels:
        if name_ not in key_names:
            continue
        values = anim.channel(name_).astype(np.float64)
        report.n_dense += len(frames)
        if tolerance > 0 and is_flat(values, tolerance):
            report.flat_channels.append(name_)
            keys.key_blocks[name_].value = 0.0      # rests at neutral, like the curve would have
            continue
        _, n = write_fcurve(fcurves, f'key_blocks["{name_}"].value', 0, _GROUP_LABELS[channel_group(name_)],
                            frames, values, tolerance)
        report.n_keys += n
    assign_take(keys, action, slot, start_frame)

    if head_obj is not None and any(c in anim.channels for c in HEAD_CHANNELS):
        rest = np.zeros(6) if head_rest is None else np.asarray(head_rest, np.float64)
        slot, fcurves = new_channelbag(action, "OBJECT", head_obj.name)
        for i, name_ in enumerate(HEAD_CHANNELS):
            if name_ not in anim.channels:
                continue
            path, index = _HEAD_PATHS[name_]
            offsets = anim.channel(name_).astype(np.float64)
            report.n_dense += len(frames)
            if tolerance > 0 and is_flat(offsets, tolerance * HEAD_TOLERANCE_SCALE):
                report.flat_channels.append(name_)
                getattr(head_obj, path)[index] = rest[i]   # holds the photo's pose, like the curve would
                continue
            _, n = write_fcurve(fcurves, path, index, "Head", frames, rest[i] + offsets, tolerance * HEAD_TOLERANCE_SCALE)
            report.n_keys += n
        assign_take(head_obj, action, slot, start_frame)
    return report


def read_state(scene, face_obj, head_obj, weight_names, frames) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate the scene at each frame and read back the face state, hand edits included.

    Returns weights ``[F, len(weight_names)]`` (0 where the mesh lacks a key) and the head
    control's absolute pose ``[F, 6]`` (zeros without a head control).
    """
    keys = face_obj.data.shape_keys
    names = list(keys.key_blocks.keys())
    present = np.array([n in names for n in weight_names])
    index = np.array([names.index(n) if n in names else 0 for n in weight_names], np.int64)
    weights = np.zeros((len(frames), len(weight_names)), np.float32)
    pose = np.zeros((len(frames), 6), np.float32)
    values = np.empty(len(names), np.float32)
    current = scene.frame_current
    try:
        for i, frame in enumerate(frames):
            scene.frame_set(int(frame))
            keys.key_blocks.foreach_get("value", values)
            weights[i] = np.where(present, values[index], 0.0)
            if head_obj is not None:
                pose[i, :3] = head_obj.rotation_euler
                pose[i, 3:] = head_obj.location
    finally:
        scene.frame_set(current)
    return weights, pose


def _active_curves(id_block) -> list:
    """The F-curves of ``id_block``'s active Action (its slot's channelbag on 5.0)."""
    anim = id_block.animation_data if id_block is not None else None
    if anim is None or anim.action is None:
        return []
    action = anim.action
    if hasattr(action, "slots"):
        from bpy_extras.anim_utils import action_get_channelbag_for_slot

        bag = action_get_channelbag_for_slot(action, anim.action_slot)
        return list(bag.fcurves) if bag is not None else []
    return list(action.fcurves)


def shape_key_curves(key_block_owner) -> dict[str, object]:
    """The F-curves driving ``key_blocks[...].value`` of a shape-key datablock, by key name."""
    out = {}
    for fc in _active_curves(key_block_owner):
        path = fc.data_path
        if path.startswith('key_blocks["') and path.endswith('"].value'):
            out[path[len('key_blocks["'):-len('"].value')]] = fc
    return out


def head_curves(head_obj) -> dict[str, object]:
    """The head control's F-curves by TalkFace channel (``head_rx`` ...)."""
    by_path = {(fc.data_path, fc.array_index): fc for fc in _active_curves(head_obj)}
    return {name: by_path[path] for name, path in _HEAD_PATHS.items() if path in by_path}


def _evaluate(curves: dict, frames: np.ndarray) -> np.ndarray:
    return np.stack([np.fromiter((fc.evaluate(f) for f in frames), np.float64, len(frames))
                     for fc in curves.values()], axis=1)


def read_take(face_obj, fps: float, head_obj=None, head_rest=None) -> tuple[Animation, int]:
    """The take on ``face_obj`` (its shape keys' active Action, hand edits included) as a dense
    ``Animation`` from its first to its last key, and that first frame. With ``head_obj`` the
    head control's channels come too, as offsets from ``head_rest`` (the photo's pose)."""
    curves = shape_key_curves(face_obj.data.shape_keys)
    if not curves:
        raise ValueError(f"'{face_obj.name}' has no shape-key animation to copy")
    head = head_curves(head_obj) if head_obj is not None else {}
    every = list(curves.values()) + list(head.values())
    first = min(int(np.floor(fc.range()[0])) for fc in every)
    last = max(int(np.ceil(fc.range()[1])) for fc in every)
    frames = np.arange(first, last + 1)
    values, channels = _evaluate(curves, frames), tuple(curves)
    if head:
        rest = np.zeros(6) if head_rest is None else np.asarray(head_rest, np.float64)
        offsets = _evaluate(head, frames) - np.array([rest[HEAD_CHANNELS.index(c)] for c in head])
        values, channels = np.concatenate([values, offsets], 1), channels + tuple(head)
    return Animation(fps, channels, values), first
