"""HDTF annotation files -> typed source videos and clips, with every bad line reported.

The published lists (five files per subset, see ``/work/shared/hdtf/README.md``) disagree with
each other in places and carry a few malformed lines. Training tooling must keep going on the
good part, so nothing here raises on content: each malformed or inconsistent line becomes a
``Problem`` naming its file and line, and only clips with a time range *and* a crop window come
out as ``Clip``s.

Crop windows: ``name_k.mp4 min_width width min_height height`` is ``x0, w, y0, h`` in source
pixels, i.e. the window ``[x0, x0 + w) x [y0, y0 + h)``. (Read as ``x0 x1 y0 y1`` the third field
is smaller than the second on 345 of the 421 published lines, while ``x0 + w <= frame width``
holds on 418; every published window is square, ``w == h``.) ``Clip.crop`` stores the window as
``(x0, x1, y0, y1)`` with ``x1 = x0 + w``, ``y1 = y0 + h``.

Resolutions are vertical; the frame width is taken as 16:9 (YouTube's layout) for the
"crop outside the frame" check only. Preparation checks against the real decoded frame.

CLI: ``python -m talkface.training.hdtf.annotations check ANNOTATION_DIR`` prints counts and problems.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("video_url", "annotion_time", "crop_wh", "crop_ratio", "resolution")
_ALIASES = {"annotation_time": "annotion_time"}     # tolerate the corrected spelling too
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_CLIP = re.compile(r"^(?P<source>.+)_(?P<index>\d+)$")
_TIME = re.compile(r"^(?:(\d+):)?(\d{1,3}):(\d{2})$")   # mm:ss or h:mm:ss


@dataclass(frozen=True)
class Problem:
    """One malformed or inconsistent annotation line (``line_no`` 0: the file as a whole)."""

    file: str
    line_no: int
    text: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line_no}" if self.line_no else self.file
        return f"{where}: {self.reason}" + (f"  [{self.text}]" if self.text else "")


@dataclass(frozen=True)
class Clip:
    """One talking segment ``[start_s, end_s)`` of a source video and its fixed crop window."""

    name: str                          # "Radio11_1" (the published file name less ".mp4")
    source: str                        # "Radio11"
    index: int                         # k in name_k
    start_s: float
    end_s: float
    crop: tuple[int, int, int, int]    # x0, x1, y0, y1 in source pixels, x1/y1 exclusive
    crop_ratio: float | None = None
    subset: str = ""

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def crop_size(self) -> tuple[int, int]:
        x0, x1, y0, y1 = self.crop
        return x1 - x0, y1 - y0


@dataclass(frozen=True)
class SourceVideo:
    """A YouTube video as the lists describe it; ``clips`` holds only the usable clips."""

    name: str
    url: str | None
    resolution: int | None             # vertical pixels
    clips: tuple[Clip, ...] = ()
    subset: str = ""
    time_ranges: tuple[tuple[float, float], ...] = ()   # all ranges, usable or not

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) assuming 16:9, or None without a resolution."""
        if not self.resolution:
            return None
        return int(round(self.resolution * 16 / 9)), self.resolution


@dataclass
class Annotations:
    folder: str
    videos: dict[str, SourceVideo] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    subsets: list[str] = field(default_factory=list)

    @property
    def clips(self) -> list[Clip]:
        return [c for v in self.videos.values() for c in v.clips]

    def clip(self, name: str) -> Clip:
        source, _, _ = name.rpartition("_")
        for c in self.videos[source].clips:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass
class _Line:
    file: str
    line_no: int
    text: str
    fields: list[str]


def parse_time(text: str) -> float | None:
    """'mm:ss' (or 'h:mm:ss') -> seconds; None when malformed (seconds must be < 60)."""
    m = _TIME.match(text)
    if not m or int(m.group(3)) >= 60 or (m.group(1) is not None and int(m.group(2)) >= 60):
        return None
    hours = int(m.group(1) or 0)
    return float(hours * 3600 + int(m.group(2)) * 60 + int(m.group(3)))


def _read_lines(path: Path, problems: list[Problem]) -> list[_Line]:
    """Non-blank lines split on whitespace; a UTF-8 BOM is dropped, undecodable bytes reported."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    out = []
    for no, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            text = line.decode("utf-8", errors="replace")
            problems.append(Problem(path.name, no, text.strip(), "not valid UTF-8"))
            continue
        text = text.strip().lstrip("\ufeff")
        if text:
            out.append(_Line(path.name, no, text, text.split()))
    return out


def _strip_mp4(line: _Line, name: str, problems: list[Problem], required: bool) -> str | None:
    """Name without '.mp4'; None (and a Problem) when the name is malformed."""
    if name.lower().endswith(".mp4"):
        name = name[:-4]
    elif required:
        problems.append(Problem(line.file, line.line_no, line.text, "name does not end in .mp4"))
        return None
    if not _NAME.match(name):
        problems.append(Problem(line.file, line.line_no, line.text, f"malformed name '{name}'"))
        return None
    return name


def _keyed(lines: list[_Line], n_fields: int | None, problems: list[Problem], mp4: bool) -> dict[str, _Line]:
    """name -> line, reporting wrong field counts, bad names and duplicates (first one kept)."""
    out: dict[str, _Line] = {}
    for ln in lines:
        if n_fields is not None and len(ln.fields) != n_fields:
            problems.append(Problem(ln.file, ln.line_no, ln.text,
                                    f"expected {n_fields} fields, found {len(ln.fields)}"))
            continue
        if n_fields is None and len(ln.fields) < 2:
            problems.append(Problem(ln.file, ln.line_no, ln.text, "no time range after the name"))
            continue
        name = _strip_mp4(ln, ln.fields[0], problems, required=mp4)
        if name is None:
            continue
        if name in out:
            problems.append(Problem(ln.file, ln.line_no, ln.text,
                                    f"duplicate name '{name}' (first at line {out[name].line_no})"))
            continue
        out[name] = ln
    return out


def _time_ranges(ln: _Line, problems: list[Problem]) -> list[tuple[float, float] | None]:
    """One entry per range field (None where malformed), so clip indices stay aligned."""
    ranges: list[tuple[float, float] | None] = []
    prev_end = None
    for k, field_text in enumerate(ln.fields[1:]):
        a, sep, b = field_text.partition("-")
        start, end = parse_time(a), parse_time(b) if sep else None
        if start is None or end is None:
            problems.append(Problem(ln.file, ln.line_no, ln.text,
                                    f"range {k} '{field_text}' is not mm:ss-mm:ss"))
            ranges.append(None)
            continue
        if end <= start:
            problems.append(Problem(ln.file, ln.line_no, ln.text,
                                    f"range {k} '{field_text}' ends before it starts"))
            ranges.append(None)
            continue
        if prev_end is not None and start < prev_end:
            problems.append(Problem(ln.file, ln.line_no, ln.text,
                                    f"range {k} '{field_text}' overlaps or precedes the previous range"))
        prev_end = end
        ranges.append((start, end))
    return ranges


def _ints(ln: _Line, problems: list[Problem]) -> tuple[int, ...] | None:
    try:
        return tuple(int(f) for f in ln.fields[1:])
    except ValueError:
        problems.append(Problem(ln.file, ln.line_no, ln.text, "non-integer value"))
        return None


def _subset_files(folder: Path) -> dict[str, dict[str, Path]]:
    """subset -> kind -> path, from file names 'SUBSET_kind.txt'."""
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(folder.glob("*.txt")):
        for kind in KINDS + tuple(_ALIASES):
            suffix = f"_{kind}.txt"
            if path.name.endswith(suffix):
                found.setdefault(path.name[: -len(suffix)], {})[_ALIASES.get(kind, kind)] = path
    return found


def _load_subset(subset: str, files: dict[str, Path], problems: list[Problem]) -> dict[str, SourceVideo]:
    lines = {}
    for kind in KINDS:
        if kind in files:
            lines[kind] = _read_lines(files[kind], problems)
        else:
            problems.append(Problem(f"{subset}_{kind}.txt", 0, "", "file missing"))
            lines[kind] = []

    urls = _keyed(lines["video_url"], 2, problems, mp4=False)
    times = _keyed(lines["annotion_time"], None, problems, mp4=True)
    crops = _keyed(lines["crop_wh"], 5, problems, mp4=True)
    ratios = _keyed(lines["crop_ratio"], 2, problems, mp4=True)
    res_lines = _keyed(lines["resolution"], 2, problems, mp4=True)

    url_of: dict[str, str] = {}
    for name, ln in urls.items():
        url = ln.fields[1]
        if not re.match(r"^https?://\S+$", url):
            problems.append(Problem(ln.file, ln.line_no, ln.text, "malformed URL"))
        else:
            url_of[name] = url

    res_of: dict[str, int] = {}
    for name, ln in res_lines.items():
        vals = _ints(ln, problems)
        if vals is None:
            continue
        if vals[0] <= 0:
            problems.append(Problem(ln.file, ln.line_no, ln.text, f"resolution {vals[0]} is not positive"))
            continue
        res_of[name] = vals[0]

    ranges_of = {name: _time_ranges(ln, problems) for name, ln in times.items()}

    # Clip-level files: the name must split as SOURCE_k and point at an existing range.
    def clip_key(ln: _Line, name: str) -> tuple[str, int] | None:
        m = _CLIP.match(name)
        if not m:
            problems.append(Problem(ln.file, ln.line_no, ln.text, f"'{name}' is not a clip name (SOURCE_k)"))
            return None
        source, k = m.group("source"), int(m.group("index"))
        if source not in ranges_of:
            problems.append(Problem(ln.file, ln.line_no, ln.text, f"no time ranges for source '{source}'"))
            return None
        if k >= len(ranges_of[source]):
            problems.append(Problem(ln.file, ln.line_no, ln.text,
                                    f"source '{source}' has only {len(ranges_of[source])} time range(s)"))
            return None
        return source, k

    ratio_of: dict[tuple[str, int], float] = {}
    for name, ln in ratios.items():
        key = clip_key(ln, name)
        if key is None:
            continue
        try:
            ratio_of[key] = float(ln.fields[1])
        except ValueError:
            problems.append(Problem(ln.file, ln.line_no, ln.text, "crop ratio is not a number"))

    crop_of: dict[tuple[str, int], tuple[int, int, int, int]] = {}
    for name, ln in crops.items():
        key = clip_key(ln, name)
        vals = _ints(ln, problems) if key is not None else None
        if vals is None:
            continue
        x0, w, y0, h = vals
        if x0 < 0 or y0 < 0 or w <= 0 or h <= 0:
            problems.append(Problem(ln.file, ln.line_no, ln.text, "crop window has a negative origin or empty size"))
            continue
        size = (int(round(res_of[key[0]] * 16 / 9)), res_of[key[0]]) if key[0] in res_of else None
        if size and (x0 + w > size[0] or y0 + h > size[1]):
            problems.append(Problem(ln.file, ln.line_no, ln.text,
                                    f"crop window [{x0}, {x0 + w}) x [{y0}, {y0 + h}) leaves the "
                                    f"{size[0]}x{size[1]} frame of a {size[1]}p source"))
        if key not in ratio_of:
            problems.append(Problem(ln.file, ln.line_no, ln.text, "no crop ratio for this clip"))
        crop_of[key] = (x0, x0 + w, y0, y0 + h)

    videos: dict[str, SourceVideo] = {}
    for name in list(times) + [n for n in list(url_of) + list(res_of) if n not in times]:
        if name in videos:
            continue
        ranges = ranges_of.get(name, [])
        first = times.get(name) or urls.get(name) or res_lines.get(name)
        if name not in times:
            problems.append(Problem(first.file, first.line_no, first.text, f"'{name}' has no time ranges"))
        else:
            if name not in url_of and name not in urls:
                problems.append(Problem(first.file, first.line_no, first.text, f"'{name}' has no URL"))
            if name not in res_of and name not in res_lines:
                problems.append(Problem(first.file, first.line_no, first.text, f"'{name}' has no resolution"))
        clips = []
        for k, rng in enumerate(ranges):
            if rng is None:
                continue
            if (name, k) not in crop_of:
                ln = times[name]
                problems.append(Problem(ln.file, ln.line_no, ln.text, f"clip '{name}_{k}' has no crop window"))
                continue
            clips.append(Clip(f"{name}_{k}", name, k, rng[0], rng[1], crop_of[(name, k)],
                              ratio_of.get((name, k)), subset))
        videos[name] = SourceVideo(name, url_of.get(name), res_of.get(name), tuple(clips), subset,
                                   tuple(r for r in ranges if r is not None))
    return videos


def load_annotations(folder: str | Path) -> Annotations:
    """Parse every ``SUBSET_*.txt`` group in ``folder``; never raises on file content."""
    folder = Path(folder)
    ann = Annotations(str(folder))
    if not folder.is_dir():
        ann.problems.append(Problem(str(folder), 0, "", "not a folder"))
        return ann
    groups = _subset_files(folder)
    if not groups:
        ann.problems.append(Problem(str(folder), 0, "", "no HDTF annotation files (SUBSET_video_url.txt, ...)"))
    for subset, files in groups.items():
        ann.subsets.append(subset)
        for name, video in _load_subset(subset, files, ann.problems).items():
            if name in ann.videos:
                ann.problems.append(Problem(f"{subset}_annotion_time.txt", 0, "",
                                            f"'{name}' also appears in subset {ann.videos[name].subset}; kept that one"))
                continue
            ann.videos[name] = video
    ann.problems.sort(key=lambda p: (p.file, p.line_no))
    return ann


def summary(ann: Annotations) -> str:
    """Human-readable counts per subset, then every problem."""
    rows = [f"HDTF annotations in {ann.folder}"]
    for subset in ann.subsets + ["all"]:
        vids = [v for v in ann.videos.values() if subset in ("all", v.subset)]
        clips = [c for v in vids for c in v.clips]
        secs = int(sum(c.duration_s for c in clips))
        rows.append(f"  {subset:>6}: {len(vids):4d} videos ({sum(1 for v in vids if v.url):4d} with URL), "
                    f"{len(clips):4d} usable clips, {secs // 3600:3d}:{secs // 60 % 60:02d}:{secs % 60:02d} of speech")
    rows.append(f"{len(ann.problems)} problem(s)")
    rows += [f"  {p}" for p in ann.problems]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m talkface.training.hdtf.annotations", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="parse the annotation files, print counts and problems")
    check.add_argument("folder")
    check.add_argument("--strict", action="store_true", help="exit with status 1 when there are problems")
    args = parser.parse_args(argv)
    ann = load_annotations(args.folder)
    print(summary(ann))
    if not ann.videos:
        return 2
    return 1 if args.strict and ann.problems else 0


if __name__ == "__main__":
    sys.exit(main())
