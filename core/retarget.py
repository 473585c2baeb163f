"""Which of a character's shape keys (or bones) take which ARKit channel: name matching for
retargeting a take onto rigs named by other conventions.

A name is reduced to a canonical form -- lower-case words, without separators, numbering
prefixes and rig prefixes, with its side (``L``, ``_l``, ``Left``, ``.L``, ``Left`` in the middle)
moved to the end as ``left``/``right``, and with the few word orders other conventions use
rewritten to Apple's (``Brow_Raise_Inner`` is ``browInnerUp``, ``Mouth_Up_Upper`` is
``mouthUpperUp``). Two names with the same canonical form are the same channel. That covers
Apple's own names in any case or separator style, ``_L``/``_R`` suffixes (iFacialMocap, Meta
Movement), Character Creator's CC3+ ARKit profile (``A25_Jaw_Open``) and CC4's extended profile
(``Jaw_Open``, ``Eye_Blink_L``, ``Brow_Raise_Inner_L``), and Faceit's lists (Apple's names).
A central ARKit channel (``browInnerUp``, ``cheekPuff``, ...) drives both halves of a character
that splits it into left and right keys. A user table (ARKit name -> key names) overrides all.
"""

from __future__ import annotations

import json
import re

from .errors import InputError
from .face.model import ARKIT_NAMES

_SIDES = {"l": "left", "left": "left", "r": "right", "right": "right"}
_NOISE = re.compile(r"^(bs|blendshape|blendshapes|shape|shapekey|arkit|cc|base|key)$")
#: Word orders of other conventions -> Apple's (sides already removed).
_SYNONYMS = {
    ("brow", "raise", "inner"): ("brow", "inner", "up"),
    ("brow", "raise", "outer"): ("brow", "outer", "up"),
    ("brow", "inner", "raise"): ("brow", "inner", "up"),
    ("brow", "outer", "raise"): ("brow", "outer", "up"),
    ("brow", "drop"): ("brow", "down"),
    ("mouth", "up", "upper"): ("mouth", "upper", "up"),
    ("mouth", "down", "lower"): ("mouth", "lower", "down"),
    ("mouth", "roll", "in", "lower"): ("mouth", "roll", "lower"),
    ("mouth", "roll", "in", "upper"): ("mouth", "roll", "upper"),
    ("mouth", "shrug", "out", "lower"): ("mouth", "shrug", "lower"),
    ("mouth", "shrug", "out", "upper"): ("mouth", "shrug", "upper"),
}


def words(name: str) -> list[str]:
    """Lower-case words of a name: split at separators, camelCase humps and letter/digit edges."""
    name = name.rsplit(":", 1)[-1].rsplit("|", 1)[-1]          # namespaces (mixamorig:, Maya's a|b)
    if "." in name and not re.search(r"\.[lLrR]$", name):
        name = name.rsplit(".", 1)[-1]                         # blendShape1.jawOpen
    parts = re.split(r"[^A-Za-z0-9]+", name)
    out = []
    for part in parts:
        out += [w.lower() for w in re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", part)]
    return out


def canonical(name: str) -> tuple[str, str]:
    """(canonical words without side, side '' / 'left' / 'right')."""
    tokens = words(name)
    if len(tokens) > 1 and tokens[0] == "a" and tokens[1].isdigit():
        tokens = tokens[2:]                                    # CC3+ 'A25_Jaw_Open' -> a, 25, jaw, open
    tokens = [t for t in tokens if not _NOISE.match(t) and not t.isdigit()]
    side = ""
    kept = []
    for t in tokens:
        if t in _SIDES and not side:
            side = _SIDES[t]
        else:
            kept.append(t)
    key = tuple(kept)
    key = _SYNONYMS.get(key, key)
    return "".join(key), side


def _arkit_index() -> dict[tuple[str, str], str]:
    return {canonical(n): n for n in ARKIT_NAMES}


def map_names(target_names, user_map: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """ARKit channel -> the target names it drives (only channels with at least one)."""
    targets = list(target_names)
    index = _arkit_index()
    central = {stem: n for (stem, side), n in index.items() if side == ""}
    out: dict[str, list[str]] = {}
    for target in targets:
        stem, side = canonical(target)
        arkit = index.get((stem, side))
        if arkit is None and side and stem in central:          # a split half of a central channel
            arkit = central[stem]
        if arkit is not None:
            out.setdefault(arkit, []).append(target)
    for arkit, names in (user_map or {}).items():
        if arkit not in ARKIT_NAMES:
            raise InputError(f"The mapping names '{arkit}', which is not an ARKit channel")
        present = [n for n in ([names] if isinstance(names, str) else names) if n in targets]
        if present:
            out[arkit] = present
        else:
            out.pop(arkit, None)                               # mapped to nothing on purpose
    return out


def parse_user_map(text: str) -> dict[str, list[str]]:
    """A mapping table: JSON ``{"jawOpen": "Jaw_Open", "cheekPuff": ["Puff_L", "Puff_R"]}`` or lines
    ``jawOpen = Jaw_Open`` / ``cheekPuff = Puff_L, Puff_R`` (``#`` comments; an empty right side
    maps the channel to nothing)."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"The mapping is not valid JSON: {exc}") from None
        return {k: ([v] if isinstance(v, str) else list(v)) for k, v in doc.items()}
    table = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise InputError(f"Mapping line {number} has no '=': {line!r} (write 'arkitName = KeyName')")
        arkit, names = (part.strip() for part in line.split("=", 1))
        table[arkit] = [n.strip() for n in names.split(",") if n.strip()]
    return table


def find_head_bone(bone_names) -> str | None:
    """The bone that carries the head: one whose words include 'head' and no end/top marker
    (``head``, ``Head``, ``CC_Base_Head``, ``mixamorig:Head``, ``DEF-head``); None if none."""
    candidates = []
    for name in bone_names:
        w = words(name)
        if "head" in w and not {"end", "top", "tip", "nub"} & set(w):
            candidates.append((len(w), name))
    return min(candidates)[1] if candidates else None


def summary(mapping: dict[str, list[str]], groups: dict[str, str]) -> tuple[str, list[str]]:
    """('mapped 40 of 52 ARKit channels (mouth 23/27, ...)', ['not mapped: mouth: a, b, +3 more', ...])
    for a report: grouped, a few names each, never one line of 49 names."""
    total: dict[str, list[str]] = {}
    for name in ARKIT_NAMES:
        total.setdefault(groups[name], []).append(name)
    head = (f"mapped {len(mapping)} of {len(ARKIT_NAMES)} ARKit channels ("
            + ", ".join(f"{g} {sum(n in mapping for n in names)}/{len(names)}" for g, names in total.items()) + ")")
    lines = []
    for group, names in total.items():
        missing = [n for n in names if n not in mapping]
        if missing:
            shown = ", ".join(missing[:4]) + (f", +{len(missing) - 4} more" if len(missing) > 4 else "")
            lines.append(f"not mapped ({group}): {shown}")
    return head, lines
