# SPDX-License-Identifier: GPL-3.0-or-later
"""Video Sequence Editor glue: image-sequence and sound strips, H.264/AAC output settings.

Targets Blender 5.0 (``sequence_editor.strips``) and keeps a fallback for 4.2-4.4, where the
collection was called ``sequences``.
"""

from __future__ import annotations

import os

import bpy


def _strips(scene):
    editor = scene.sequence_editor or scene.sequence_editor_create()
    return editor.strips if hasattr(editor, "strips") else editor.sequences


def free_channel(scene, frame_start: int, frame_end: int, lowest: int = 1) -> int:
    """The lowest channel (from ``lowest``) with no strip overlapping [frame_start, frame_end)."""
    busy = {s.channel for s in _strips(scene)
            if s.frame_final_start < frame_end and s.frame_final_end > frame_start}
    channel = lowest
    while channel in busy:
        channel += 1
    return channel


def add_sound_strip(scene, audio_path: str, frame_start: int, frame_end: int, name: str = "TalkFace Audio"):
    """The take's speech as a new sound strip on a free channel (the strip also makes the audio
    play in the viewport); earlier takes keep their own strips."""
    strips = _strips(scene)
    channel = free_channel(scene, frame_start, max(frame_end, frame_start + 1))
    return strips.new_sound(name=name, filepath=audio_path, channel=channel, frame_start=frame_start)


def add_image_strip(scene, frame_paths: list[str], frame_start: int, channel: int | None = None,
                    name: str = "TalkFace Frames"):
    """Add baked PNG frames as one image-sequence strip starting at ``frame_start`` (on a free
    channel from 2 up unless ``channel`` is given)."""
    if not frame_paths:
        raise ValueError("no frames to add")
    strips = _strips(scene)
    if channel is None:
        channel = free_channel(scene, frame_start, frame_start + len(frame_paths), lowest=2)
    directory = os.path.dirname(frame_paths[0])
    strip = strips.new_image(name=name, filepath=frame_paths[0], channel=channel, frame_start=frame_start)
    for path in frame_paths[1:]:
        strip.elements.append(os.path.basename(path))
    strip.directory = directory + os.sep
    return strip


def take_sound(scene, action, audio_path: str, frame_start: int, frame_end: int):
    """The take's own sound strip: the one recorded on its Action when it still exists (unmuted),
    else a new one on a free channel, recorded. Every other take's sound strip is muted, so only
    the playing take's voice is heard."""
    from . import scene_data

    strips = _strips(scene)
    strip = strips.get(scene_data.take_sound_strip(action)) if scene_data.take_sound_strip(action) else None
    if strip is None or strip.type != "SOUND":
        strip = add_sound_strip(scene, audio_path, frame_start, frame_end, name=os.path.basename(audio_path))
        scene_data.set_take_sound_strip(action, strip.name)
    others = {scene_data.take_sound_strip(a) for a in bpy.data.actions
              if a is not action and scene_data.is_take(a) and scene_data.take_sound_strip(a)}
    for other in strips:
        if other.type == "SOUND" and other.name in others:
            other.mute = True
    strip.mute = False
    return strip


def move_image_strips(scene, old_dir: str, new_dir: str) -> None:
    """Point the image strips that read ``old_dir`` at ``new_dir`` (frames moved on disk)."""
    for strip in _strips(scene):
        if strip.type == "IMAGE" and os.path.normpath(bpy.path.abspath(strip.directory)) == os.path.normpath(old_dir):
            strip.directory = new_dir + os.sep


def remove_strips(scene, names) -> None:
    editor = scene.sequence_editor
    if editor is None:
        return
    strips = _strips(scene)
    for strip in [s for s in strips if s.name in names]:
        strips.remove(strip)


def _relative(path: str, folder: str) -> str:
    """``path`` as a Blender-relative path ('//...') from ``folder`` when it lies inside it, else as is."""
    path = bpy.path.abspath(path)
    inside = os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(folder)
    return bpy.path.relpath(path, start=folder) if inside else path


def make_portable(scene, folder: str) -> None:
    """Prepare the scene to be saved as a .blend in ``folder`` that still works when the folder is
    moved (another machine, a render farm): paths inside the folder (baked frames, the video)
    become relative ('//frames/'), and the inputs it reads from outside (photo, speech) are packed
    into the file. Save with ``relative_remap=False`` afterwards: the paths are already relative
    to the new file."""
    editor = scene.sequence_editor
    for strip in (_strips(scene) if editor is not None else ()):
        if strip.type == "IMAGE":
            strip.directory = _relative(strip.directory, folder).rstrip("/\\") + "/"
    if scene.render.filepath:
        scene.render.filepath = _relative(scene.render.filepath, folder)
    for image in bpy.data.images:
        if image.source == "FILE" and image.filepath and image.packed_file is None:
            image.pack()
    for sound in bpy.data.sounds:
        if sound.packed_file is None:
            sound.pack()


def configure_video_output(scene, video_path: str) -> None:
    """Render the sequencer to an H.264 + AAC mp4 with Blender's own FFmpeg, colours untouched."""
    render = scene.render
    settings = render.image_settings
    if hasattr(settings, "media_type"):  # Blender 5.0: choose video before the file format
        settings.media_type = "VIDEO"
    settings.file_format = "FFMPEG"
    render.ffmpeg.format = "MPEG4"
    render.ffmpeg.codec = "H264"
    render.ffmpeg.constant_rate_factor = "HIGH"
    render.ffmpeg.ffmpeg_preset = "GOOD"
    render.ffmpeg.audio_codec = "AAC"
    render.ffmpeg.audio_channels = "MONO"
    render.ffmpeg.audio_mixrate = 48000
    render.ffmpeg.audio_bitrate = 192
    render.use_sequencer = True
    render.use_compositing = False
    render.use_file_extension = False
    render.filepath = video_path
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.view_settings.exposure = 0.0
    scene.view_settings.gamma = 1.0


def render_video(scene, video_path: str) -> str:
    """Render the scene's sequencer to ``video_path`` (the frame range must already be set)."""
    configure_video_output(scene, video_path)
    with bpy.context.temp_override(scene=scene):
        bpy.ops.render.render(animation=True, scene=scene.name)
    if not os.path.isfile(video_path) or os.path.getsize(video_path) == 0:
        raise RuntimeError(f"Blender did not write the video {video_path}")
    return video_path
