# SPDX-License-Identifier: GPL-3.0-or-later
"""A job list: one clip per line of a CSV file (with a header) or of a JSON-lines file.

Every line names ``photo``, ``audio`` and ``out``; any other column is one of the headless
command's flags (``resolution``, ``style``, ``keys_only``, ...; see ``OPTIONS``), and ``name``
labels the clip in the progress and the results (default: the out folder's name). Relative
paths are relative to the manifest's folder; a value starting with '{' is left as it is (a
Flamenco variable such as ``{storage}/clips/a.png``). Empty cells mean "the default".

    photo,audio,out,resolution,mode
    faces/ann.png,lines/ann_001.wav,renders/ann_001,512,neural
    faces/bob.png,lines/bob_001.wav,renders/bob_001,,warp

A manifest with a structural fault (no such column, a line without photo, two clips writing
one folder) is refused as a whole before anything runs; a bad value in one line (a resolution
of 7, a missing photo) fails that clip only, with the headless command's own message.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass

REQUIRED = ("photo", "audio", "out")
#: headless flags a line may set: column -> kind ('value', 'path', 'text_or_path' or 'switch')
OPTIONS = {
    "resolution": "value", "device": "value", "fps": "value", "transcript": "text_or_path",
    "trust_transcript": "switch",
    "listen": "value", "phone_mouth": "value", "phone_mouth_heard": "switch",
    "style": "value", "mouth": "value", "brows": "value", "head": "value", "blinks": "value",
    "smoothing": "value", "tolerance": "value", "no_reduce_keys": "switch", "start_frame": "value",
    "seed": "value", "mode": "value", "export_csv": "value", "export_json": "value",
    "keys_only": "switch",
}
#: columns that are not flags: the clip's label, consent to replace another run's outputs, and a
#: .blend to add the take to (``blender -b shot.blend -c talkface ...``)
EXTRA = ("name", "overwrite", "blend")
TRUE, FALSE = ("1", "true", "yes", "y", "on", "x"), ("", "0", "false", "no", "n", "off")


class ManifestError(ValueError):
    """The manifest as a whole cannot be run (exit 2, one line)."""


@dataclass(frozen=True)
class Clip:
    line: int                  # line number in the manifest (for messages)
    name: str
    out: str                   # absolute
    args: tuple[str, ...]      # the headless command's arguments (--overwrite is decided per run)
    keys_only: bool
    overwrite: bool            # the manifest's consent to replace another run's outputs
    blend: str | None = None   # a .blend to add the take to


def _path(value: str, base: str) -> str:
    if value.startswith("{"):
        return value
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def _switch(value, where: str, column: str) -> bool:
    text = str(value).strip().lower() if not isinstance(value, bool) else ("1" if value else "0")
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ManifestError(f"{where}: {column} must be true or false, got {value!r}")


def clip_from_row(row: dict, line: int, base: str, where: str) -> Clip:
    """One manifest line -> a Clip (paths made absolute from ``base``)."""
    unknown = sorted(set(row) - set(REQUIRED) - set(OPTIONS) - set(EXTRA))
    if unknown:
        raise ManifestError(f"{where}: unknown column {', '.join(map(repr, unknown))}: "
                            f"use {', '.join(REQUIRED + tuple(OPTIONS) + EXTRA)}")
    cells = {k: ("" if v is None else v) for k, v in row.items()}
    missing = [k for k in REQUIRED if not str(cells.get(k, "")).strip()]
    if missing:
        raise ManifestError(f"{where}: no {', '.join(missing)}")
    args: list[str] = []
    for key in REQUIRED:
        args += [f"--{key}", _path(str(cells[key]).strip(), base)]
    keys_only = False
    for key, kind in OPTIONS.items():
        value = cells.get(key, "")
        if kind == "switch":
            if _switch(value, where, key):
                args.append(f"--{key.replace('_', '-')}")
                keys_only |= key == "keys_only"
            continue
        value = str(value).strip()
        if not value:
            continue
        if kind == "text_or_path" and os.path.isfile(_path(value, base)):
            value = _path(value, base)
        args += [f"--{key.replace('_', '-')}", value]
    out = args[args.index("--out") + 1]
    blend = str(cells.get("blend", "")).strip()
    return Clip(line=line, name=str(cells.get("name", "")).strip() or os.path.basename(out.rstrip("/\\")),
                out=out, args=tuple(args), keys_only=keys_only,
                overwrite=_switch(cells.get("overwrite", ""), where, "overwrite"),
                blend=_path(blend, base) if blend else None)


def _rows(path: str):
    """(line number, row dict) of a CSV or JSON-lines file; blank lines and '#' comments skipped."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        text = fh.read()
    lines = text.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    if first.startswith("{"):
        for n, ln in enumerate(lines, 1):
            if not ln.strip() or ln.lstrip().startswith("#"):
                continue
            try:
                row = json.loads(ln)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{os.path.basename(path)} line {n}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ManifestError(f"{os.path.basename(path)} line {n}: a JSON line must be an object")
            yield n, row
        return
    kept = [(n, ln) for n, ln in enumerate(lines, 1) if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader([ln for _, ln in kept])
    for (n, _), row in zip(kept[1:], reader):
        if None in row:
            raise ManifestError(f"{os.path.basename(path)} line {n}: more cells than the header has columns")
        yield n, {k.strip(): v for k, v in row.items() if k is not None}


def read_manifest(path: str) -> list[Clip]:
    """Every clip of the manifest at ``path``, checked as a whole (``ManifestError``)."""
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(path):
        raise ManifestError(f"manifest not found: {path}")
    base = os.path.dirname(path)
    try:
        clips = [clip_from_row(row, n, base, f"{os.path.basename(path)} line {n}") for n, row in _rows(path)]
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path} is not UTF-8 text ({exc.reason})") from None
    if not clips:
        raise ManifestError(f"{path} lists no clips")
    seen: dict[str, int] = {}
    for clip in clips:
        key = os.path.normcase(clip.out)
        if key in seen:
            raise ManifestError(f"lines {seen[key]} and {clip.line} both write {clip.out}: give each clip "
                                "its own out folder")
        seen[key] = clip.line
    names: dict[str, int] = {}
    for clip in clips:
        if clip.name in names:
            raise ManifestError(f"lines {names[clip.name]} and {clip.line} are both named {clip.name!r}")
        names[clip.name] = clip.line
    return clips
