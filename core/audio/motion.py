"""Head sway: the part of a talking head's motion that speech does not determine.

People sway, turn and tilt their head while they talk, a few degrees, more while speaking than
in pauses; which way at which moment is not in the audio. The animator network predicts what is
(nods on accents, a drift with the pitch contour) and, trained with a loss that averages, leaves
the rest at zero: about 1 degree in all. ``head_sway`` draws that rest from the same process the
training targets were made with (``training/corpus/prosody.py`` uses these functions), on a clock
that runs with speech activity, so the head slows down in pauses without snapping back. Seeded:
the same audio and seed give the same motion.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

DEG = np.pi / 180.0
#: Standard deviation of the sway per head channel (rx nod axis, ry roll, rz turn: radians;
#: tx, ty, tz: metres) and its correlation time in seconds: the training targets' values.
SWAY_STD = (1.5 * DEG, 2.5 * DEG, 1.0 * DEG, 0.002, 0.002, 0.002)
SWAY_TIME_S = (0.8, 1.2, 1.0, 1.5, 1.5, 1.5)


def activity(voicing: np.ndarray, log_energy: np.ndarray, fps: float) -> np.ndarray:
    """0 in silence, ~1 while talking; smoothed over ~0.3 s so motion eases in and out."""
    loud = log_energy > (np.max(log_energy) - 6.0) if len(log_energy) else log_energy > 0
    act = np.maximum(loud.astype(np.float32), (voicing > 0.45).astype(np.float32))
    return np.clip(gaussian_filter1d(act, max(0.15 * fps, 0.5)), 0.0, 1.0)


def speech_clock(voicing: np.ndarray, log_energy: np.ndarray, fps: float) -> np.ndarray:
    """Seconds that run at a quarter speed in pauses and full speed while talking."""
    return np.cumsum(0.25 + 0.75 * activity(voicing, log_energy, fps)) / fps


def smooth_noise(rng: np.random.Generator, clock: np.ndarray, sigma_s: float) -> np.ndarray:
    """Unit-variance low-pass noise (correlation time ~sigma_s) read at warped times ``clock``.

    Reading the noise on a speech-driven clock makes the head slow down in pauses without
    snapping back to neutral, which modulating the amplitude would do.
    """
    if len(clock) == 0:
        return np.zeros(0, np.float32)
    step = sigma_s / 8.0
    grid_n = int(clock[-1] / step) + 2
    pad = int(6 * 8)
    x = gaussian_filter1d(rng.standard_normal(grid_n + 2 * pad), 8.0)[pad:pad + grid_n]
    x = (x - x.mean()) / (np.std(x) + 1e-9)
    return np.interp(clock, np.arange(grid_n) * step, x).astype(np.float32)


def head_sway(clock: np.ndarray, rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    """[F, 6] sway offsets (rx, ry, rz rad; tx, ty, tz m) on ``speech_clock`` times."""
    out = np.zeros((len(clock), 6), np.float32)
    for axis in range(6):
        out[:, axis] = gain * SWAY_STD[axis] * smooth_noise(rng, clock, SWAY_TIME_S[axis])
    return out
