"""The .blend schema (blender_talkface/scene_data.py): stable keys, accessors that round-trip
through a saved file, pointer links that survive renames, old name-linked files that still load,
and no property key spelled anywhere else."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import PORTRAIT, ROOT, SPEECH

PKG = "bl_ext.user_default.talkface"
N = 6  # frames of the test take


@pytest.fixture
def sd(blender):
    return importlib.import_module(f"{PKG}.blender_talkface.scene_data")


def test_keys_are_the_ones_files_already_hold(sd):
    """Renaming a key would orphan every saved .blend: the strings are part of the file format."""
    assert (sd.FIT, sd.PHOTO, sd.HEAD, sd.CAMERA, sd.STYLE_CODE) == (
        "talkface_fit", "talkface_photo", "talkface_head_object", "talkface_camera_object",
        "talkface_style_code")
    assert (sd.TAKE_AUDIO, sd.TAKE_START_FRAME) == ("talkface_audio", "talkface_start_frame")
    assert (sd.TAKE_LIPSYNC, sd.TAKE_TEXT_CHECK) == ("talkface_lipsync", "talkface_text_check")
    assert (sd.LEGACY_HEAD_NAME, sd.LEGACY_CAMERA_NAME) == ("talkface_head", "talkface_camera")


def test_every_key_has_one_kind_of_owner(sd):
    """FACE_KEYS, TAKE_KEYS, SCENE_KEYS and LEGACY_KEYS together name every key the schema defines,
    each once (what a take's Action or a face may carry is checked against them after a real take,
    tests/test_animate_operator.py)."""
    defined = sorted(v for k, v in vars(sd).items()
                     if k.isupper() and isinstance(v, str) and v.startswith("talkface_"))
    grouped = sd.FACE_KEYS + sd.TAKE_KEYS + sd.SCENE_KEYS + sd.LEGACY_KEYS
    assert sorted(grouped) == defined and len(defined) == 19


def test_accessors_round_trip_through_a_saved_file(scene, blender, sd, tmp_path):
    bpy = blender
    face = bpy.data.objects.new("Face", bpy.data.meshes.new("Face"))
    head = bpy.data.objects.new("Head", None)
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    for obj in (face, head, cam):
        scene.collection.objects.link(obj)
    action = bpy.data.actions.new("take")
    action.use_fake_user = True

    # nothing stored yet: every accessor says so instead of raising
    assert not sd.is_face(face) and not sd.is_face(None)
    assert sd.fit_dict(face) is None and sd.photo_path(face) == ""
    assert sd.head_object(face) is None and sd.camera_object(face) is None
    assert sd.style_code(face) is None
    assert sd.take_audio(action) is None and sd.take_audio(None) is None
    assert sd.take_start_frame(action, 7) == 7 and sd.take_start_frame(None, 3) == 3

    sd.set_fit(face, {"pose": [0.1, 0.0, 0.0, 0.0, 0.3, 0.0], "identity": [1.5]})
    sd.set_photo_path(face, "/photos/me.png")
    sd.set_head_object(face, head)
    sd.set_camera_object(face, cam)
    sd.set_style_code(face, np.array([0.25, -1.0, 2.0], np.float32))
    sd.set_take_audio(action, "/audio/hello.wav")
    sd.set_take_start_frame(action, 12)
    assert sd.take_heard_by(action) == "" and sd.take_heard_by(None) == ""
    sd.set_take_heard_by(action, "Whisper")
    assert sd.take_text_check(action) == ""
    sd.set_take_lipsync(action, "trusted transcript")
    sd.set_take_text_check(action, "The transcript does not match the audio: ...")

    path = str(tmp_path / "schema.blend")
    bpy.ops.wm.save_as_mainfile(filepath=path, check_existing=False)
    bpy.ops.wm.open_mainfile(filepath=path)
    face, head, cam = (bpy.data.objects[n] for n in ("Face", "Head", "Cam"))
    action = bpy.data.actions["take"]
    assert face[sd.HEAD] == head and face[sd.CAMERA] == cam  # pointers to the objects, not names
    assert not any(key in face for key in sd.LEGACY_KEYS)

    assert sd.is_face(face) and not sd.is_face(head)
    assert sd.fit_dict(face) == {"pose": [0.1, 0.0, 0.0, 0.0, 0.3, 0.0], "identity": [1.5]}
    assert sd.photo_path(face) == "/photos/me.png"
    assert sd.head_object(face) == head and sd.camera_object(face) == cam
    assert sd.style_code(face) == [0.25, -1.0, 2.0]
    assert sd.take_audio(action) == "/audio/hello.wav"
    assert sd.take_start_frame(action, 1) == 12
    assert sd.take_heard_by(action) == "Whisper"
    assert sd.take_lipsync(action) == "trusted transcript"
    assert sd.take_text_check(action) == "The transcript does not match the audio: ..."


@pytest.fixture
def turning_face(scene, blender, sd):
    """A fitted face whose take turns the head (rz) over N frames, keyed on its head Empty."""
    assert blender.ops.talkface.fit_face(filepath=PORTRAIT) == {"FINISHED"}
    face = blender.context.active_object
    kf = importlib.import_module(f"{PKG}.blender_talkface.keyframes")
    animation = importlib.import_module(f"{PKG}.core.animation")
    values = np.zeros((N, 2), np.float32)
    values[:, 1] = np.linspace(-0.2, 0.2, N)  # head_rz: offsets from the photo's pose
    pose = np.asarray(sd.fit_dict(face)["pose"])
    kf.write_take(animation.Animation(25.0, ("jawOpen", "head_rz"), values), name="turn",
                  start_frame=1, scene_fps=25.0, face_obj=face, head_obj=sd.head_object(face),
                  head_rest=pose, tolerance=0.0)
    scene.frame_start, scene.frame_end = 1, N
    return face, pose, values[:, 1]


def assert_bakes_the_head_turn(blender, face, pose, turn, out):
    bake = importlib.import_module(f"{PKG}.blender_talkface.bake")
    baker = bake.Bake(blender.context, face, str(out), 128, "WARP", "cpu", batch=N)
    # the pose the frames are synthesised from is the head's animation, not the photo's still pose
    np.testing.assert_allclose(baker.state.pose[:, 2], pose[2] + turn, atol=1e-5)
    np.testing.assert_allclose(baker.state.pose[:, 3:], np.repeat(pose[None, 3:], N, 0), atol=1e-5)
    while not baker.step():
        pass
    paths = baker.finish()
    from PIL import Image

    first, last = (np.asarray(Image.open(p), np.float32) for p in (paths[0], paths[-1]))
    assert np.abs(last - first).mean() > 1.0  # the turn shows in the frames


def test_renamed_head_and_camera_still_drive_the_bake(turning_face, blender, sd, tmp_path):
    face, pose, turn = turning_face
    head, cam = face.parent, blender.context.scene.camera
    assert face[sd.HEAD] == head and face[sd.CAMERA] == cam
    assert not any(key in face for key in sd.LEGACY_KEYS)
    head.name, cam.name = "Renamed Head", "Renamed Camera"
    face.parent = None  # neither the name nor the parenting: the pointer alone is the link
    assert sd.head_object(face) == head and sd.camera_object(face) == cam
    assert_bakes_the_head_turn(blender, face, pose, turn, tmp_path / "frames")


def test_renamed_head_still_gets_the_animated_head(scene, blender, sd):
    assert blender.ops.talkface.fit_face(filepath=PORTRAIT) == {"FINISHED"}
    face = blender.context.active_object
    head = face.parent
    head.name = "Renamed Head"
    face.parent = None
    assert blender.ops.talkface.animate_audio(filepath=SPEECH) == {"FINISHED"}
    take = face.data.shape_keys.animation_data.action
    assert head.animation_data is not None and head.animation_data.action == take
    assert sd.take_audio(take) == SPEECH and sd.take_start_frame(take, -1) == scene.frame_start


def make_old_style(sd, face, head_name, camera_name):
    """What files written before the pointer links hold: the head and camera by name only."""
    face[sd.LEGACY_HEAD_NAME] = head_name
    face[sd.LEGACY_CAMERA_NAME] = camera_name
    del face[sd.HEAD]
    del face[sd.CAMERA]


def reopen(blender, path):
    blender.ops.wm.save_as_mainfile(filepath=str(path), check_existing=False)
    blender.ops.wm.open_mainfile(filepath=str(path))
    return [o for o in blender.context.scene.objects if o.type == "MESH"][0]


def test_old_file_with_name_links_resolves_and_upgrades(turning_face, blender, sd, tmp_path):
    face, pose, turn = turning_face
    make_old_style(sd, face, face.parent.name, blender.context.scene.camera.name)
    face = reopen(blender, tmp_path / "old.blend")
    assert sd.HEAD not in face and sd.LEGACY_HEAD_NAME in face
    head, cam = face.parent, blender.context.scene.camera

    assert sd.head_object(face) == head and sd.camera_object(face) == cam
    # upgraded: the links are pointers now, so a later rename keeps them
    assert face[sd.HEAD] == head and face[sd.CAMERA] == cam
    assert sd.LEGACY_HEAD_NAME not in face and sd.LEGACY_CAMERA_NAME not in face
    head.name = "Renamed Later"
    assert_bakes_the_head_turn(blender, face, pose, turn, tmp_path / "frames")


def test_old_file_whose_head_was_renamed_finds_the_parent_empty(turning_face, blender, sd, tmp_path):
    """The bug this schema fixes: an old file whose head Empty was renamed after the fit baked
    with the photo's still pose; its stale name now falls back to the face's parent Empty."""
    face, pose, turn = turning_face
    make_old_style(sd, face, "a name no object has", blender.context.scene.camera.name)
    face = reopen(blender, tmp_path / "old.blend")
    assert sd.head_object(face) == face.parent
    assert_bakes_the_head_turn(blender, face, pose, turn, tmp_path / "frames")


# ------------------------------------------------------------------------ one place for the keys
KEY_LITERAL = re.compile(r"""['"]talkface_""")


def key_literals(paths):
    """``path:line: text`` for every line that spells a property key (a quoted ``talkface_...``)."""
    return [f"{p}:{n}: {line.strip()}"
            for p in paths for n, line in enumerate(Path(p).read_text(encoding="utf-8").splitlines(), 1)
            if KEY_LITERAL.search(line)]


def test_no_property_key_outside_scene_data():
    root = Path(ROOT)
    sources = sorted((root / "blender_talkface").glob("*.py")) + sorted((root / "core").rglob("*.py"))
    assert root / "blender_talkface" / "scene_data.py" in sources
    found = key_literals(p for p in sources if p.name != "scene_data.py")
    assert not found, "property keys belong in blender_talkface/scene_data.py:\n" + "\n".join(found)
    assert len(key_literals([root / "blender_talkface" / "scene_data.py"])) >= 9


def test_key_check_sees_a_literal(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('def f(obj):\n    return obj.get("talkface_head", "")\n\n'
                     "X = f'talkface_{1}'\nY = \"//talkface_frames\"  # a folder name, not a key\n")
    assert [line.split(":")[1] for line in key_literals([probe])] == ["2", "4"]
