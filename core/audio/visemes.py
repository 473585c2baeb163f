"""Phonemes -> visemes -> per-frame ARKit mouth weights with coarticulation.

Coarticulation follows Cohen & Massaro (1993): every segment pulls each articulator towards its
target with a dominance that decays with distance in time, and a frame's value is the
dominance-weighted mean of all targets. Dominance is split into lips and jaw, so a /k/ (tongue
only) lets the rounding of a neighbouring /u/ spread across it while a /p/ owns the lips.

Two constraints override the blend because viewers notice them at once: lips *really* close on
/p b m/ and the lower lip *really* meets the upper teeth on /f v/, for every frame inside those
phonemes, and on at least one frame even when the phoneme is shorter than a frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..animation import HEAD_CHANNELS
from ..face.model import ARKIT_NAMES  # the face model owns the canonical order


@dataclass(frozen=True)
class PhonemeEvent:
    """One phoneme as the viseme model reads it: espeak mnemonic, [start, end) in seconds, lexical
    stress (phones timed in ARPAbet come in through ``arpabet_events``)."""

    phoneme: str
    start: float
    end: float
    stress: int = 0          # 0 unstressed, 1 secondary, 2 primary (vowels only)
    word: int = -1           # index of the word it belongs to, -1 for pauses

    @property
    def is_pause(self) -> bool:
        return self.phoneme.startswith("_") or not self.phoneme


ARKIT_NAMES = tuple(ARKIT_NAMES)
CHANNELS: tuple[str, ...] = ARKIT_NAMES + tuple(HEAD_CHANNELS)   # Animation channel order
ARKIT_INDEX = {name: i for i, name in enumerate(ARKIT_NAMES)}


def expand_sides(weights: dict[str, float]) -> dict[str, float]:
    """{'mouthSmile': w} -> {'mouthSmileLeft': w, 'mouthSmileRight': w}; exact names pass through."""
    out: dict[str, float] = {}
    for name, w in weights.items():
        if name in ARKIT_INDEX:
            out[name] = w
            continue
        for side in ("Left", "Right"):
            if name + side not in ARKIT_INDEX:
                raise KeyError(f"no ARKit channel {name!r}")
            out[name + side] = w
    return out


def arkit_vector(weights: dict[str, float]) -> np.ndarray:
    v = np.zeros(len(ARKIT_NAMES), np.float32)
    for name, w in expand_sides(weights).items():
        v[ARKIT_INDEX[name]] = w
    return v


# Targets: mouth pose at the heart of each viseme (ARKit weights, sides merged).
_TARGETS: dict[str, dict[str, float]] = {
    "sil": {},
    "PBM": {"jawOpen": 0.05, "mouthClose": 0.05, "mouthPress": 0.45, "mouthRollLower": 0.15, "mouthRollUpper": 0.1},
    "FV": {"jawOpen": 0.1, "mouthRollLower": 0.6, "mouthUpperUp": 0.3, "mouthShrugUpper": 0.15},
    "TH": {"jawOpen": 0.15, "tongueOut": 0.25, "mouthUpperUp": 0.1},
    "TDN": {"jawOpen": 0.15, "mouthStretch": 0.1},
    "L": {"jawOpen": 0.22, "mouthStretch": 0.05},
    "SZ": {"jawOpen": 0.06, "mouthStretch": 0.25, "mouthSmile": 0.1, "mouthUpperUp": 0.1, "mouthLowerDown": 0.1},
    "SH": {"jawOpen": 0.12, "mouthFunnel": 0.5, "mouthPucker": 0.25, "mouthShrugUpper": 0.2},
    "KG": {"jawOpen": 0.22},
    "R": {"jawOpen": 0.12, "mouthFunnel": 0.35, "mouthPucker": 0.3},
    "W": {"jawOpen": 0.06, "mouthPucker": 0.8, "mouthFunnel": 0.35},
    "Y": {"jawOpen": 0.1, "mouthStretch": 0.25, "mouthSmile": 0.15},
    "AA": {"jawOpen": 0.6, "mouthLowerDown": 0.25},
    "AE": {"jawOpen": 0.45, "mouthStretch": 0.25, "mouthLowerDown": 0.2},
    "EH": {"jawOpen": 0.3, "mouthStretch": 0.25, "mouthSmile": 0.1, "mouthLowerDown": 0.1},
    "IY": {"jawOpen": 0.12, "mouthStretch": 0.4, "mouthSmile": 0.25},
    "IH": {"jawOpen": 0.18, "mouthStretch": 0.25, "mouthSmile": 0.1},
    "AH": {"jawOpen": 0.32, "mouthLowerDown": 0.1},
    "ER": {"jawOpen": 0.18, "mouthFunnel": 0.3, "mouthPucker": 0.15},
    "AO": {"jawOpen": 0.42, "mouthFunnel": 0.45, "mouthPucker": 0.15},
    "OW": {"jawOpen": 0.3, "mouthFunnel": 0.55, "mouthPucker": 0.35},
    "UW": {"jawOpen": 0.12, "mouthPucker": 0.8, "mouthFunnel": 0.45},
    "UH": {"jawOpen": 0.18, "mouthPucker": 0.45, "mouthFunnel": 0.35},
}
# Dominance (lips, jaw): how strongly a viseme holds each articulator against its neighbours.
_DOMINANCE: dict[str, tuple[float, float]] = {
    "sil": (0.35, 0.35), "PBM": (1.0, 0.8), "FV": (1.0, 0.6), "TH": (0.6, 0.6), "TDN": (0.3, 0.5),
    "L": (0.3, 0.4), "SZ": (0.7, 0.8), "SH": (0.9, 0.6), "KG": (0.15, 0.35), "R": (0.6, 0.4),
    "W": (1.0, 0.6), "Y": (0.4, 0.4),
    "AA": (0.6, 0.9), "AE": (0.6, 0.9), "EH": (0.6, 0.8), "IY": (0.7, 0.7), "IH": (0.5, 0.7),
    "AH": (0.4, 0.8), "ER": (0.6, 0.7), "AO": (0.8, 0.8), "OW": (0.8, 0.8), "UW": (0.9, 0.7), "UH": (0.7, 0.7),
}
VOWELS = frozenset(["AA", "AE", "EH", "IY", "IH", "AH", "ER", "AO", "OW", "UW", "UH"])

# espeak-ng English mnemonics -> viseme; diphthongs -> (start, end) visemes.
_PHONEME_VISEME: dict[str, str] = {
    "p": "PBM", "b": "PBM", "m": "PBM", "f": "FV", "v": "FV", "T": "TH", "D": "TH",
    "t": "TDN", "d": "TDN", "n": "TDN", "t#": "TDN", "d#": "TDN", "t2": "TDN", "d2": "TDN", "?": "KG",
    "l": "L", "l/": "L", "L": "L", "s": "SZ", "z": "SZ", "S": "SH", "Z": "SH", "tS": "SH", "dZ": "SH",
    "k": "KG", "g": "KG", "N": "KG", "h": "KG", "x": "KG", "C": "KG", "r": "R", "r-": "R", "w": "W",
    "W": "W", "j": "Y",
    "a": "AE", "a#": "AE", "aa": "AA", "A:": "AA", "A@": "AA", "A": "AA", "0": "AO", "O:": "AO", "O": "AO",
    "O@": "AO", "o@": "OW", "V": "AH", "@": "AH", "@2": "AH", "@5": "AH", "@L": "L", "3": "ER", "3:": "ER",
    "e": "EH", "E": "EH", "e@": "EH", "i": "IY", "i:": "IY", "I": "IH", "I2": "IH", "I#": "IH", "i@": "IY",
    "u:": "UW", "u": "UW", "U": "UH", "U@": "UH", "o": "OW",
}
_DIPHTHONGS: dict[str, tuple[str, str]] = {
    "aI": ("AA", "IY"), "aI@": ("AA", "AH"), "aI3": ("AA", "ER"), "aU": ("AA", "UW"), "aU@": ("AA", "AH"),
    "eI": ("EH", "IY"), "oU": ("OW", "UW"), "OI": ("AO", "IY"), "i@": ("IY", "AH"), "i@3": ("IY", "ER"),
    "e@": ("EH", "AH"), "U@": ("UH", "AH"), "@U": ("AH", "UW"),
}
# ARPAbet (CMUdict, flite, PocketSphinx; case and stress digits ignored) -> espeak mnemonic, so
# phones timed by other engines or by forced alignment drive the same visemes.
_ARPABET: dict[str, str] = {
    "AA": "A:", "AE": "a", "AH": "V", "AO": "O:", "AW": "aU", "AY": "aI", "EH": "E", "ER": "3:", "EY": "eI",
    "IH": "I", "IY": "i:", "OW": "oU", "OY": "OI", "UH": "U", "UW": "u:", "AX": "@", "B": "b", "CH": "tS",
    "D": "d", "DH": "D", "F": "f", "G": "g", "HH": "h", "JH": "dZ", "K": "k", "L": "l", "M": "m", "N": "n",
    "NG": "N", "P": "p", "R": "r", "S": "s", "SH": "S", "T": "t", "TH": "T", "V": "v", "W": "w", "Y": "j",
    "Z": "z", "ZH": "Z",
}


def arpabet_events(phones: Sequence[tuple[str, float, float]]):
    """(ARPAbet phone, start_s, end_s) -> espeak-style PhonemeEvents (silence and noise -> '_').

    Vowels get the stress their digit gives (CMUdict 1 primary, 2 secondary), else secondary."""
    events = []
    for phone, start, end in phones:
        base = phone.upper().rstrip("012")
        digit = phone[-1] if phone[-1:] in "012" and phone[-1:] != "" else ""
        mnemonic = _ARPABET.get(base, "_")
        stress = {"1": 2, "2": 1, "0": 0}.get(digit, 1) if base in _ARPABET and base[0] in "AEIOU" else 0
        events.append(PhonemeEvent(mnemonic, float(start), float(end), stress))
    return events


_STRESS_GAIN = {0: 0.8, 1: 0.95, 2: 1.1}
_TAU_ANTICIPATE, _TAU_CARRY = 0.07, 0.05       # s: lips start moving ~70 ms early
_CORE_FRACTION, _CORE_MAX = 0.2, 0.04         # a segment holds its target except 20 % / 40 ms each side


def viseme_of(phoneme: str) -> str | tuple[str, str]:
    """Viseme (or a diphthong's two) for an espeak mnemonic; unknown sounds degrade gracefully."""
    if not phoneme or phoneme.startswith("_"):
        return "sil"
    if phoneme in _DIPHTHONGS:
        return _DIPHTHONGS[phoneme]
    if phoneme in _PHONEME_VISEME:
        return _PHONEME_VISEME[phoneme]
    stripped = phoneme.rstrip("0123456789#/-;:")
    if stripped in _DIPHTHONGS:
        return _DIPHTHONGS[stripped]
    if stripped in _PHONEME_VISEME:
        return _PHONEME_VISEME[stripped]
    return "AH" if phoneme[0].lower() in "aeiou@03" else "TDN"


_VIS_NAMES = tuple(_TARGETS)
_VIS_ID = {v: i for i, v in enumerate(_VIS_NAMES)}
_TARGET_MATRIX = np.stack([arkit_vector(_TARGETS[v]) for v in _VIS_NAMES])          # [V, 52]
_DOM_MATRIX = np.array([_DOMINANCE[v] for v in _VIS_NAMES], np.float32)             # [V, 2]
_JAW_COLS = np.array([ARKIT_INDEX["jawOpen"], ARKIT_INDEX["jawForward"]])
_MOUTH_NAMES = tuple(sorted({n for v in _TARGETS.values() for n in expand_sides(v)}, key=ARKIT_INDEX.get))
MOUTH_CHANNELS: tuple[str, ...] = _MOUTH_NAMES


@dataclass(frozen=True)
class Segment:
    """A viseme held over [start, end); ``gain`` scales its target (stress, speaking style)."""

    viseme: str
    start: float
    end: float
    gain: float = 1.0


def segments_from_phonemes(phonemes: Sequence, articulation: float = 1.0) -> list[Segment]:
    """Phoneme events (anything with phoneme/start/end/stress) -> viseme segments."""
    out: list[Segment] = []
    for p in phonemes:
        vis = viseme_of(p.phoneme)
        stress = getattr(p, "stress", 0)
        if isinstance(vis, tuple):
            mid = p.start + 0.55 * (p.end - p.start)
            g = _STRESS_GAIN.get(stress, 1.0) * articulation
            out += [Segment(vis[0], p.start, mid, g), Segment(vis[1], mid, p.end, g)]
        else:
            gain = (_STRESS_GAIN.get(stress, 1.0) if vis in VOWELS else 1.0) * articulation
            out.append(Segment(vis, p.start, p.end, 1.0 if vis in ("PBM", "sil") else gain))
    return out


def _blend(segs: list[Segment], times: np.ndarray) -> np.ndarray:
    """Dominance-weighted mean of targets at each time: [len(times), 52]."""
    ids = np.array([_VIS_ID[s.viseme] for s in segs])
    start = np.array([s.start for s in segs])
    end = np.array([s.end for s in segs])
    gain = np.array([s.gain for s in segs], np.float32)
    margin = np.minimum(_CORE_FRACTION * (end - start), _CORE_MAX)
    lo, hi = start + margin, end - margin
    t = times[:, None]
    dist = np.maximum(lo - t, 0) / _TAU_ANTICIPATE + np.maximum(t - hi, 0) / _TAU_CARRY   # [F, S]
    fall = np.exp(-dist ** 1.5)                                                             # smooth at 0
    dom = fall[:, :, None] * _DOM_MATRIX[ids][None]                                        # [F, S, 2]
    targets = np.clip(_TARGET_MATRIX[ids] * gain[:, None], 0.0, 1.0)                        # [S, 52]
    lips = (dom[..., 0] @ targets) / np.maximum(dom[..., 0].sum(1, keepdims=True), 1e-12)
    jaw = (dom[..., 1] @ targets) / np.maximum(dom[..., 1].sum(1, keepdims=True), 1e-12)
    lips[:, _JAW_COLS] = jaw[:, _JAW_COLS]
    return lips


def _frames_inside(seg: Segment, times: np.ndarray, fps: float) -> np.ndarray:
    """Frame indices inside the segment; the nearest one if it falls between two frames."""
    idx = np.nonzero((times >= seg.start) & (times < seg.end))[0]
    if idx.size == 0:
        k = int(round((seg.start + seg.end) / 2 * fps))
        idx = np.array([k]) if 0 <= k < len(times) else idx
    return idx


def _enforce_contacts(w: np.ndarray, segs: list[Segment], times: np.ndarray, fps: float) -> None:
    """Bilabials seal the lips; labiodentals tuck the lower lip under the upper teeth."""
    col = ARKIT_INDEX
    for s in segs:
        if s.viseme not in ("PBM", "FV"):
            continue
        idx = _frames_inside(s, times, fps)
        if idx.size == 0:
            continue
        if s.viseme == "PBM":
            jaw = np.minimum(w[idx, col["jawOpen"]], 0.08)
            w[idx, col["jawOpen"]] = jaw
            w[idx, col["mouthClose"]] = jaw                      # ARKit: mouthClose == jawOpen seals lips
            for name in ("mouthFunnel", "mouthLowerDownLeft", "mouthLowerDownRight",
                         "mouthUpperUpLeft", "mouthUpperUpRight"):
                w[idx, col[name]] = 0.0
            for name in ("mouthPressLeft", "mouthPressRight"):
                w[idx, col[name]] = np.maximum(w[idx, col[name]], 0.3)
        else:
            w[idx, col["jawOpen"]] = np.minimum(w[idx, col["jawOpen"]], 0.15)
            w[idx, col["mouthRollLower"]] = np.maximum(w[idx, col["mouthRollLower"]], 0.5)
            for name in ("mouthUpperUpLeft", "mouthUpperUpRight"):
                w[idx, col[name]] = np.maximum(w[idx, col[name]], 0.2)
            for name in ("mouthLowerDownLeft", "mouthLowerDownRight", "mouthFunnel"):
                w[idx, col[name]] = np.minimum(w[idx, col[name]], 0.05)


def mouth_weights(phonemes: Sequence, fps: float, n_frames: int | None = None,
                  articulation: float = 1.0, block: int = 2048) -> np.ndarray:
    """Per-frame ARKit weights [n_frames, 52] (frame k at time k / fps); non-mouth channels are 0.

    Long inputs are blended a block of frames at a time against only the segments that can
    reach them, so cost is linear in length.
    """
    segs = segments_from_phonemes(phonemes, articulation)
    end = max((s.end for s in segs), default=0.0)
    if n_frames is None:
        n_frames = int(np.ceil(end * fps - 1e-6))
    times = np.arange(n_frames) / fps
    out = np.zeros((n_frames, len(ARKIT_NAMES)), np.float32)
    if not segs or n_frames == 0:
        return out
    # rest (silence) beyond both ends so the mouth settles closed before and after speech
    segs = [Segment("sil", -10.0, segs[0].start)] + segs + [Segment("sil", end, max(end, times[-1]) + 10.0)]
    seg_start = np.array([s.start for s in segs])
    seg_end = np.array([s.end for s in segs])
    reach = 12 * max(_TAU_ANTICIPATE, _TAU_CARRY)
    for k0 in range(0, n_frames, block):
        t = times[k0:k0 + block]
        use = np.nonzero((seg_end > t[0] - reach) & (seg_start < t[-1] + reach))[0]
        out[k0:k0 + block] = _blend([segs[i] for i in use], t)
    _enforce_contacts(out, segs, times, fps)
    return np.clip(out, 0.0, 1.0)


def lip_gap(weights: np.ndarray) -> np.ndarray:
    """A proxy for the vertical opening between the lips (0 = sealed), for tests and checks."""
    c = ARKIT_INDEX
    return (weights[:, c["jawOpen"]] - weights[:, c["mouthClose"]] + weights[:, c["mouthFunnel"]] * 0.3
            + 0.5 * (weights[:, c["mouthLowerDownLeft"]] + weights[:, c["mouthLowerDownRight"]]) / 2
            + 0.5 * (weights[:, c["mouthUpperUpLeft"]] + weights[:, c["mouthUpperUpRight"]]) / 2)
