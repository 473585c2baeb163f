# SPDX-License-Identifier: GPL-3.0-or-later
"""Output files that are either complete or not there: save beside, verify, then rename.

A .blend is saved under a temporary name in its own folder (so relative paths mean the same),
checked (size, Blender's header, the end-of-file block that a full disk cuts off), and only then
renamed over the target, after the previous file became ``NAME.blend1`` (earlier backups shift
to ``.blend2`` ...: Blender's own *Save Versions* convention, none deleted). The video is rendered
to a temporary name and checked the same way (size, the MP4 index), and baked frames wait in a
folder of their own: both replace the previous ones only after the .blend was saved. On any
failure the temporary files are removed and the previous outputs are exactly as they were.
"""

from __future__ import annotations

import contextlib
import os
import shutil

import bpy

from ..core.errors import OutputError

MAX_BACKUPS = 32
FAULT_ENV = "TALKFACE_TEST_FAULT"     # tests only: 'truncate-save' or 'truncate-video' simulates a full disk


def _check_space(folder: str, need: int, what: str) -> None:
    free = shutil.disk_usage(folder).free
    if free < need:
        raise OutputError(f"Disk full: saving {what} needs about {need / 1e6:.0f} MB in {folder}, "
                          f"{free / 1e6:.0f} MB are free; the previous outputs are unchanged")


def _inject_fault(path: str, kind: str) -> None:
    if os.environ.get(FAULT_ENV) == kind and os.path.isfile(path):
        with open(path, "r+b") as fh:       # what a full disk leaves: the file cut short
            fh.truncate(max(os.path.getsize(path) // 2, 1))


def blend_is_complete(path: str) -> bool:
    """Blender's header at the start and its ENDB block at the end. A compressed file (zstd, the
    default in Blender 5) is decompressed as a stream to check the same; a cut-short file fails."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(0)
            if head == b"\x28\xb5\x2f\xfd":
                return _zstd_blend_is_complete(fh)
            head = fh.read(12)
            fh.seek(max(size - 64, 0))
            tail = fh.read()
    except OSError:
        return False
    return head.startswith(b"BLENDER") and b"ENDB" in tail


def _zstd_blend_is_complete(fh) -> bool:
    try:
        import zstandard
    except ImportError:                 # cannot look inside: trust the size and the magic only
        return os.fstat(fh.fileno()).st_size > 64
    head, tail = b"", b""
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        while True:
            chunk = reader.read(1 << 20)
            if not chunk:
                break
            if len(head) < 12:
                head += chunk[:12 - len(head)]
            tail = (tail + chunk)[-64:]
    except zstandard.ZstdError:
        return False
    return head.startswith(b"BLENDER") and b"ENDB" in tail


def rotate_backups(path: str) -> None:
    """``path`` -> ``path1``, ``path1`` -> ``path2``, ...: nothing older is deleted."""
    if not os.path.exists(path):
        return
    last = 1
    while os.path.exists(f"{path}{last}") and last < MAX_BACKUPS:
        last += 1
    for n in range(last, 1, -1):
        if os.path.exists(f"{path}{n - 1}"):
            os.replace(f"{path}{n - 1}", f"{path}{n}")
    os.replace(path, f"{path}1")


def save_blend(path: str) -> str:
    """Save the open file as ``path`` atomically (the previous one kept as ``path1``)."""
    folder = os.path.dirname(path)
    estimate = max(os.path.getsize(path) if os.path.exists(path) else 0, 8_000_000)
    _check_space(folder, estimate, os.path.basename(path))
    temp = os.path.join(folder, f".talkface-saving-{os.getpid()}.blend")
    try:
        result = bpy.ops.wm.save_as_mainfile(filepath=temp, check_existing=False, relative_remap=False)
        if os.path.exists(temp + "1"):            # Blender's own backup of our temporary name
            os.remove(temp + "1")
        _inject_fault(temp, "truncate-save")
        if result != {"FINISHED"} or not blend_is_complete(temp):
            raise OutputError(f"Saving {os.path.basename(path)} failed: the written file is incomplete "
                              "(disk full?); the previous outputs are unchanged")
        rotate_backups(path)
        os.replace(temp, path)
    except OSError as exc:
        raise OutputError(f"Saving {os.path.basename(path)} failed ({exc.strerror}); the previous outputs "
                          "are unchanged") from None
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    return path


def video_is_complete(path: str) -> bool:
    """An MP4 whose top-level boxes start with 'ftyp', include the index ('moov') and end exactly
    at the end of the file, which a cut-short file does not. Walks the box headers only (seeks),
    so an hour-long video is checked without reading it into memory."""
    import struct

    boxes = []
    try:
        size = os.path.getsize(path)
        if size < 1024:
            return False
        with open(path, "rb") as fh:
            at = 0
            while at < size:
                fh.seek(at)
                header = fh.read(16)
                if len(header) < 8:
                    return False
                length, kind = struct.unpack(">I4s", header[:8])
                if length == 1:                  # a 64-bit size follows the type
                    if len(header) < 16:
                        return False
                    length = struct.unpack(">Q", header[8:16])[0]
                elif length == 0:                # the last box runs to the end of the file
                    length = size - at
                if length < 8:
                    return False
                boxes.append(kind)
                at += length
    except OSError:
        return False
    return at == size and bool(boxes) and boxes[0] == b"ftyp" and b"moov" in boxes


def render_video(scene, path: str, render) -> str:
    """``render(scene, temp)`` into a temporary name beside ``path``, checked; returns the temporary
    file, which the caller renames to ``path`` once everything else of the run is saved."""
    folder = os.path.dirname(path)
    temp = os.path.join(folder, f".talkface-rendering-{os.getpid()}.mp4")
    try:
        render(scene, temp)
        _inject_fault(temp, "truncate-video")
        if not video_is_complete(temp):
            raise OutputError(f"Rendering {os.path.basename(path)} failed: the written file is incomplete "
                              "(disk full?); the previous video is unchanged")
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise
    return temp


@contextlib.contextmanager
def swap_folder(new: str, final: str):
    """Put the folder ``new`` in the place of ``final`` for the body of the ``with``; if the body
    fails, everything is put back (``new`` where it was, the previous ``final`` restored); if it
    succeeds, the previous ``final`` is removed. Yields False (and does nothing) without ``new``."""
    if not os.path.isdir(new):
        yield False
        return
    old = os.path.join(os.path.dirname(final), f".talkface-old-{os.path.basename(final)}-{os.getpid()}")
    had_old = os.path.isdir(final)
    if had_old:
        os.replace(final, old)
    os.replace(new, final)
    try:
        yield True
    except BaseException:
        os.replace(final, new)
        if had_old:
            os.replace(old, final)
        raise
    if had_old:
        shutil.rmtree(old, ignore_errors=True)
