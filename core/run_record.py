# SPDX-License-Identifier: GPL-3.0-or-later
"""The record a finished headless run leaves in its output folder, written last.

``.talkface-done.json`` says which arguments made the folder's outputs and how large each one was
when the run ended. Whoever runs many clips (the batch command, a render farm) reads it to skip a
clip whose outputs are complete, and a folder whose files changed since (an animator saved over
scene.blend, a frame was deleted, a run died between two renames) no longer counts as done.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass

FILE_NAME = ".talkface-done.json"
FORMAT = "talkface-done-1"
#: What a headless run writes into its folder (a re-run into a folder holding any needs consent).
RUN_OUTPUTS = ("scene.blend", "frames", "video.mp4")


@dataclass(frozen=True)
class RunRecord:
    args: tuple[str, ...]          # the run's command-line arguments, --overwrite left out
    files: dict                    # output name -> size in bytes (a folder: its number of files)
    finished: str                  # UTC, ISO 8601


def _size(path: str) -> int | None:
    if os.path.isdir(path):
        return len(os.listdir(path))
    return os.path.getsize(path) if os.path.isfile(path) else None


def existing_outputs(folder: str) -> list[str]:
    return [name for name in RUN_OUTPUTS if os.path.lexists(os.path.join(folder, name))]


def output_args(args) -> tuple[str, ...]:
    """The arguments that decide what a run writes: ``--overwrite`` only gives consent."""
    return tuple(str(a) for a in args if a != "--overwrite")


@contextlib.contextmanager
def withdrawn(folder: str):
    """While a run replaces the folder's outputs it holds no finished run: the record is removed,
    and put back as it was if the block fails (a failed save leaves the outputs as they were)."""
    path = os.path.join(folder, FILE_NAME)
    previous = None
    if os.path.isfile(path):
        with open(path, "rb") as fh:
            previous = fh.read()
        os.remove(path)
    try:
        yield
    except BaseException:
        if previous is not None and not os.path.lexists(path):
            with open(path, "wb") as fh:
                fh.write(previous)
        raise


def write(folder: str, args, names) -> RunRecord:
    """Record ``names`` (outputs in ``folder``, each present) as the finished result of ``args``:
    written beside and renamed, so the record is whole or absent."""
    sizes = {}
    for name in names:
        size = _size(os.path.join(folder, name))
        if size is None:
            raise FileNotFoundError(f"cannot record {name}: it is not in {folder}")
        sizes[name] = size
    record = RunRecord(output_args(args), sizes, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    temp = os.path.join(folder, f".{FILE_NAME}.{os.getpid()}")
    with open(temp, "w", encoding="utf-8") as fh:
        json.dump({"format": FORMAT, "args": list(record.args), "files": record.files,
                   "finished": record.finished}, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, os.path.join(folder, FILE_NAME))
    return record


def read_complete(folder: str) -> RunRecord | None:
    """The folder's record when every output it lists is still there at its recorded size, else
    None (no record, an unreadable one, or outputs changed since)."""
    try:
        with open(os.path.join(folder, FILE_NAME), encoding="utf-8") as fh:
            doc = json.load(fh)
        if doc.get("format") != FORMAT:
            return None
        record = RunRecord(tuple(doc["args"]), dict(doc["files"]), str(doc["finished"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for name, size in record.files.items():
        if _size(os.path.join(folder, name)) != size:
            return None
    return record
