"""Phones as the lips see them, and what the real-speech recogniser's parts share.

The animator's own acoustic features learned how the synthetic voices it was trained on make a
closure; a recogniser trained on people (the ``pocketsphinx`` wheel's en-us model) hears /p b m/ in
voices and rooms the animator never met. ``core.audio.phone_loop`` hears phones with that model,
``core.audio.alignment`` times a transcript's; this module holds what both share: the phones'
articulatory classes, the model's folder, 16-bit PCM, and the chunks a long recording is cut
into. ``phone_evidence`` turns timed phones into per-frame shares of the classes at the
animation frame rate (an input of weights trained with it).

The recogniser is English (en-us). On other languages its phones are still acoustically nearest
English phones, which carry the lips' place of articulation well enough; the network's spectral
features fill the rest (the README says which path ran).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

FRAME_S = 0.01                  # PocketSphinx analyses 10 ms frames
CHUNK_S = 20.0                  # score or align at most this much audio at once (memory stays flat)
SEARCH_S = 2.0                  # look this far back from a chunk boundary for the quietest frame

#: Articulatory classes of the evidence, in column order.
CLASSES: tuple[str, ...] = ("silence", "bilabial", "labiodental", "dental", "alveolar", "postalveolar",
                            "velar", "rounded", "open", "spread")
_CLASS_OF: dict[str, str] = {
    **dict.fromkeys(("P", "B", "M"), "bilabial"),
    **dict.fromkeys(("F", "V"), "labiodental"),
    **dict.fromkeys(("TH", "DH"), "dental"),
    **dict.fromkeys(("T", "D", "N", "S", "Z", "L"), "alveolar"),
    **dict.fromkeys(("SH", "ZH", "CH", "JH", "R", "ER"), "postalveolar"),
    **dict.fromkeys(("K", "G", "NG", "HH"), "velar"),
    **dict.fromkeys(("W", "UW", "UH", "OW", "OY", "AO", "AW"), "rounded"),
    **dict.fromkeys(("AA", "AE", "AH", "AY", "EH"), "open"),
    **dict.fromkeys(("IY", "IH", "EY", "Y"), "spread"),
}
CLASS_INDEX = {name: i for i, name in enumerate(CLASSES)}


def phone_class(phone: str) -> str:
    """Class of an ARPAbet phone (stress digits and case ignored); anything else is silence."""
    return _CLASS_OF.get(phone.upper().rstrip("012"), "silence")


@dataclass(frozen=True)
class Phone:
    phone: str          # ARPAbet, upper case, no stress (SIL for silence and noises)
    start: float        # seconds
    end: float          # seconds (exclusive)


def available() -> bool:
    """True when the recogniser (the pocketsphinx package and its English model) can be loaded."""
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return False
    return True


def model_dir() -> str:
    """The en-us model folder inside the pocketsphinx wheel."""
    try:
        import pocketsphinx
    except ImportError as exc:
        raise InputError("Phone recognition and transcript alignment need the 'pocketsphinx' package, "
                         "which is not installed.") from exc
    return os.path.join(pocketsphinx.get_model_path(), "en-us")


DITHER = 3e-4                   # -70 dBFS


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """16-bit PCM for PocketSphinx, with a fixed faint noise added: runs of exact digital silence
    (synthetic speech, edited dialog) drive its log energies to -inf and make whole clips
    unalignable; a -70 dBFS floor, the same every run, changes nothing audible."""
    noise = np.random.default_rng(len(samples)).normal(0.0, DITHER, len(samples)).astype(np.float32)
    return (np.clip(np.asarray(samples, np.float32) + noise, -1.0, 1.0) * 32767.0).astype("<i2")


def chunk_bounds(samples: np.ndarray, sr: int, pause_s: float = FRAME_S, chunk_s: float | None = None
                 ) -> list[tuple[int, int]]:
    """Cut points that split the recording into an even number of near-equal chunks of at most
    CHUNK_S, each at the quietest 10 ms frame within SEARCH_S around its equal share; a recording
    of up to CHUNK_S - SEARCH_S is one chunk. (Even: two helper processes once shared them; the
    network's phone posteriors, each chunk's cepstral mean its own, were trained on these cuts.)
    ``pause_s`` longer than a frame: each cut at the middle of the quietest ``pause_s`` there
    instead, a pause between words rather than a stop's closure inside one (Whisper's chunks).
    ``chunk_s``: chunks of at most that instead of CHUNK_S."""
    chunk_s = CHUNK_S if chunk_s is None else chunk_s
    n, chunk, search, hop = len(samples), int(chunk_s * sr), int(SEARCH_S * sr), int(FRAME_S * sr)
    width = max(int(round(pause_s / FRAME_S)), 1)
    parts = -(-n // max(chunk - search, hop))
    if parts <= 1:
        return [(0, n)]
    parts += parts % 2
    bounds, start = [], 0
    for k in range(1, parts):
        target = k * n // parts
        lo, hi = max(target - search // 2, start + hop), min(target + search // 2, n - hop)
        if hi <= lo:
            continue
        cut = quietest_cut(samples, lo, hi, hop, width if hi - lo >= width * hop else 1)
        bounds.append((start, cut))
        start = cut
    bounds.append((start, n))
    return bounds


def quietest_cut(samples: np.ndarray, lo: int, hi: int, hop: int, width: int = 1) -> int:
    """The sample at the start of the quietest ``hop``-long frame of ``samples[lo:hi]`` (``width``
    1), or at the middle of its quietest run of ``width`` frames: where to cut a recording."""
    window = samples[lo:hi]
    energy = np.add.reduceat(window.astype(np.float64) ** 2, np.arange(0, len(window), hop))
    if width > 1:
        energy = np.convolve(energy, np.ones(width), "valid")
    return lo + (int(np.argmin(energy)) + width // 2) * hop


def phone_evidence(phones: list[Phone], n_frames: int, fps: float) -> np.ndarray:
    """``[n_frames, len(CLASSES)]``: the share of each frame's interval (centred on k/fps, one frame
    long, like the spectral features) that each class occupies. Rows sum to 1 (silence fills gaps)."""
    out = np.zeros((n_frames, len(CLASSES)), np.float32)
    if n_frames == 0:
        return out
    lo = (np.arange(n_frames) - 0.5) / fps
    hi = lo + 1.0 / fps
    for ph in phones:
        k0 = max(int(np.floor(ph.start * fps + 0.5)), 0)
        k1 = min(int(np.ceil(ph.end * fps + 0.5)), n_frames)
        if k1 <= k0:
            continue
        overlap = np.minimum(hi[k0:k1], ph.end) - np.maximum(lo[k0:k1], ph.start)
        out[k0:k1, CLASS_INDEX[phone_class(ph.phone)]] += np.clip(overlap, 0.0, None) * fps
    covered = out.sum(1)
    out[:, CLASS_INDEX["silence"]] += np.clip(1.0 - covered, 0.0, None)
    return out / np.maximum(out.sum(1, keepdims=True), 1e-6)
