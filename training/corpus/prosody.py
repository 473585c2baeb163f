"""Brows and head from prosody, blinks from a random process: the non-mouth training targets.

Brows rise on pitch accents (stressed syllables with a pitch excursion) and follow the slow
pitch contour; the head nods on accents, drifts slowly while speaking and settles in pauses.
Blinks are a renewal process at a human rate (~17/min, 100-150 ms each) with extra blinks at
phrase boundaries, where people blink most. All values are per frame at any fps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ...core.audio.motion import activity as _activity
from ...core.audio.motion import head_sway, speech_clock
from ...core.audio.visemes import ARKIT_INDEX, ARKIT_NAMES, CHANNELS

HEAD_SLICE = slice(len(ARKIT_NAMES), len(ARKIT_NAMES) + 6)
_DEG = np.pi / 180.0


@dataclass(frozen=True)
class ProsodyStyle:
    """One speaker's non-verbal habits; the corpus draws one per voice."""

    brow_gain: float = 1.0
    head_gain: float = 1.0
    nod_gain: float = 1.0
    blink_rate_per_min: float = 17.0
    boundary_blink_p: float = 0.5


@dataclass(frozen=True)
class Blink:
    peak: float        # s, eyes fully shut
    duration: float    # s, lid leaves rest to back at rest


def _z(log_f0: np.ndarray, voicing: np.ndarray) -> np.ndarray:
    """Speaker-normalised pitch (0 where unvoiced): accents are relative to the speaker's range."""
    voiced = voicing > 0.45
    if voiced.sum() < 3:
        return np.zeros_like(log_f0)
    mid = np.median(log_f0[voiced])
    spread = np.std(log_f0[voiced]) + 0.05
    return np.where(voiced, (log_f0 - mid) / spread, 0.0)


def accents(phonemes: Sequence, log_f0: np.ndarray, voicing: np.ndarray, fps: float) -> list[tuple[float, float]]:
    """(time, strength) for primary-stressed vowels, strength = pitch excursion in speaker SDs."""
    z = _z(log_f0, voicing)
    out = []
    for p in phonemes:
        if getattr(p, "stress", 0) < 2:
            continue
        k0, k1 = int(np.floor(p.start * fps)), int(np.ceil(p.end * fps)) + 1
        seg = z[max(k0, 0):min(k1, len(z))]
        peak = float(seg.max()) if seg.size else 0.0
        out.append(((p.start + p.end) / 2, max(peak, 0.0)))
    return out


def phrase_boundaries(phonemes: Sequence, min_pause: float = 0.15) -> np.ndarray:
    """Start times of pauses at least ``min_pause`` long (not the leading silence)."""
    times = [p.start for p in phonemes
             if (p.phoneme.startswith("_") or not p.phoneme) and p.end - p.start >= min_pause and p.start > 0.05]
    return np.asarray(times, np.float64)


def _pulses(times: np.ndarray, centres: np.ndarray, amps: np.ndarray, rise: float, fall: float) -> np.ndarray:
    """Soft max of asymmetric bumps (gaussian rise, exponential fall) at each time."""
    if len(centres) == 0:
        return np.zeros(len(times), np.float32)
    d = times[:, None] - centres[None, :]
    shape = np.where(d < 0, np.exp(-0.5 * (d / rise) ** 2), np.exp(-d / fall))
    return (shape * amps[None, :]).max(axis=1).astype(np.float32)


def brow_weights(log_f0, voicing, log_energy, fps: float, accent_list, style: ProsodyStyle,
                 rng: np.random.Generator) -> np.ndarray:
    """[F, 52] with browInnerUp / browOuterUp* set; everything else 0."""
    n = len(log_f0)
    t = np.arange(n) / fps
    out = np.zeros((n, len(ARKIT_NAMES)), np.float32)
    if n == 0:
        return out
    z = _z(log_f0, voicing)
    cen = np.array([a[0] for a in accent_list], np.float64)
    exc = np.array([a[1] for a in accent_list], np.float64)
    keep = exc > 0.5
    amps = np.clip(0.15 + 0.25 * (exc[keep] - 0.5), 0.0, 0.6)
    raise_ = _pulses(t, cen[keep], amps, rise=0.08, fall=0.3)
    slow = 0.1 * np.clip(gaussian_filter1d(z, max(0.3 * fps, 0.5)), 0.0, 2.0) * _activity(voicing, log_energy, fps)
    inner = np.clip(style.brow_gain * (raise_ + slow), 0.0, 1.0)
    skew = rng.uniform(-0.1, 0.1)
    out[:, ARKIT_INDEX["browInnerUp"]] = inner
    out[:, ARKIT_INDEX["browOuterUpLeft"]] = np.clip(0.8 * inner * (1 + skew), 0, 1)
    out[:, ARKIT_INDEX["browOuterUpRight"]] = np.clip(0.8 * inner * (1 - skew), 0, 1)
    return out


def head_motion(log_f0, voicing, log_energy, fps: float, accent_list, style: ProsodyStyle,
                rng: np.random.Generator) -> np.ndarray:
    """[F, 6] head offsets (rx, ry, rz rad; tx, ty, tz m). +rx tips the chin down (a nod)."""
    n = len(log_f0)
    t = np.arange(n) / fps
    clock = speech_clock(voicing, log_energy, fps)            # slow in pauses, lively in speech
    z_slow = gaussian_filter1d(_z(log_f0, voicing), max(0.4 * fps, 0.5)) if n else np.zeros(0)
    cen = np.array([a[0] for a in accent_list], np.float64)
    exc = np.array([a[1] for a in accent_list], np.float64)
    nod = _pulses(t, cen, np.clip(0.8 + 0.8 * exc, 0.0, 3.0) * _DEG, rise=0.07, fall=0.15)
    g = style.head_gain
    out = head_sway(clock, rng, g)                            # what the audio does not determine
    out[:, 0] += -g * 0.6 * _DEG * z_slow + style.nod_gain * nod
    return out


def sample_blinks(duration: float, rng: np.random.Generator, rate_per_min: float = 17.0,
                  boundaries: np.ndarray = np.zeros(0), boundary_p: float = 0.5) -> list[Blink]:
    """Gamma-renewal blink times (CV ~0.7) plus boundary blinks; no two closer than 0.4 s."""
    mean = 60.0 / max(rate_per_min, 1e-3)
    shape = 2.0
    # the boundary blinks add to the rate: thin the background process to keep the total on target
    expected_extra = boundary_p * len(boundaries) * 0.7
    base_rate = max(duration / mean - expected_extra, 0.3 * duration / mean) / max(duration, 1e-6)
    gaps = rng.gamma(shape, 1.0 / (base_rate * shape), size=int(duration * base_rate * 2) + 8)
    times = np.cumsum(gaps) - rng.uniform(0, gaps[0])
    times = list(times[(times > 0.1) & (times < duration - 0.1)])
    for b in boundaries:
        if rng.uniform() < boundary_p:
            times.append(b + rng.uniform(0.05, 0.3))
    times = np.sort(np.asarray(times))
    kept: list[float] = []
    for tb in times:                                        # O(blinks): a few per minute
        if (not kept or tb - kept[-1] >= 0.4) and tb < duration - 0.05:
            kept.append(float(tb))
    durations = rng.uniform(0.10, 0.15, size=len(kept))
    return [Blink(p, d) for p, d in zip(kept, durations)]


def blink_curve(blinks: Sequence[Blink], n_frames: int, fps: float) -> np.ndarray:
    """Lid closure per frame: fast close (35 %), slower open; the frame nearest each peak is 1."""
    t = np.arange(n_frames) / fps
    out = np.zeros(n_frames, np.float32)
    if not blinks or n_frames == 0:
        return out
    peak = np.array([b.peak for b in blinks])
    dur = np.array([b.duration for b in blinks])
    close, open_ = 0.35 * dur, 0.65 * dur
    d = t[:, None] - peak[None, :]
    u = np.where(d < 0, 1 + d / close, 1 - d / open_)
    shape = np.where(u > 0, np.sin(0.5 * np.pi * np.clip(u, 0, 1)) ** 2, 0.0)
    out = shape.max(axis=1).astype(np.float32)
    nearest = np.clip(np.round(peak * fps).astype(int), 0, n_frames - 1)
    out[nearest] = 1.0
    return out


def prosody_targets(log_f0, voicing, log_energy, phonemes: Sequence, fps: float, rng: np.random.Generator,
                    style: ProsodyStyle = ProsodyStyle()) -> tuple[np.ndarray, list[Blink]]:
    """[F, len(CHANNELS)] brows + blinks + head (mouth channels 0) and the blinks drawn."""
    n = len(log_f0)
    acc = accents(phonemes, log_f0, voicing, fps)
    out = np.zeros((n, len(CHANNELS)), np.float32)
    out[:, : len(ARKIT_NAMES)] = brow_weights(log_f0, voicing, log_energy, fps, acc, style, rng)
    blinks = sample_blinks(n / fps, rng, style.blink_rate_per_min, phrase_boundaries(phonemes),
                           style.boundary_blink_p)
    lid = blink_curve(blinks, n, fps)
    out[:, ARKIT_INDEX["eyeBlinkLeft"]] = lid
    out[:, ARKIT_INDEX["eyeBlinkRight"]] = lid
    out[:, HEAD_SLICE] = head_motion(log_f0, voicing, log_energy, fps, acc, style, rng)
    return out, blinks
