"""``Animation``: named channels x frames, the seam between the audio network and Blender.

Channels are the ARKit blendshape weights plus head-pose offsets from the photo's pose
(``head_rx .. head_tz``). Everything an animator tunes before keys are written (per-group
intensity, smoothing, key reduction) is a pure function here, so it is testable without Blender.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import gaussian_filter1d

HEAD_CHANNELS = ("head_rx", "head_ry", "head_rz", "head_tx", "head_ty", "head_tz")
GROUPS = ("mouth", "brows", "blinks", "eyes", "head")


def channel_group(name: str) -> str:
    """Which user-facing intensity group a channel belongs to."""
    if name.startswith("head_"):
        return "head"
    if name.startswith("brow"):
        return "brows"
    if name.startswith(("eyeBlink", "eyeSquint", "eyeWide")):
        return "blinks"
    if name.startswith("eyeLook"):
        return "eyes"
    return "mouth"  # jaw*, mouth*, cheek*, nose*, tongue*: all move with speech


@dataclass(frozen=True)
class Animation:
    """Per-frame channel values sampled at ``fps``, starting at ``start_time`` seconds."""

    fps: float
    channels: tuple[str, ...]
    values: np.ndarray  # [frames, channels] float32
    start_time: float = 0.0

    def __post_init__(self):
        values = np.asarray(self.values, dtype=np.float32)
        if values.ndim != 2 or values.shape[1] != len(self.channels):
            raise ValueError(f"values {values.shape} do not match {len(self.channels)} channels")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError("channel names must be unique")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "channels", tuple(self.channels))

    @property
    def n_frames(self) -> int:
        return self.values.shape[0]

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    @property
    def times(self) -> np.ndarray:
        return self.start_time + np.arange(self.n_frames) / self.fps

    def channel(self, name: str) -> np.ndarray:
        return self.values[:, self.channels.index(name)]

    def select(self, names) -> "Animation":
        idx = [self.channels.index(n) for n in names]
        return replace(self, channels=tuple(names), values=self.values[:, idx])

    def resample(self, fps: float, keep_extremes: bool = True) -> "Animation":
        """Resampling to another frame rate over the same time span: linear, and when going to a
        lower rate each output frame takes the most extreme turning point of the input that falls
        within its half-frame (``keep_extremes``): a lip closure or a peak shorter than an output
        frame still lands on a frame instead of being interpolated away."""
        if abs(fps - self.fps) < 1e-9:
            return self
        n_out = max(1, int(round(self.duration * fps)))
        t_out = np.arange(n_out) / fps
        t_in = np.arange(self.n_frames) / self.fps
        out = np.stack([np.interp(t_out, t_in, col) for col in self.values.T], axis=1)
        if keep_extremes and fps < self.fps and self.n_frames > 2:
            _keep_turning_points(self.values, t_in, out, fps)
        return replace(self, fps=float(fps), values=out)


def _keep_turning_points(values: np.ndarray, t_in: np.ndarray, out: np.ndarray, fps: float) -> None:
    """In place: an output frame nearest to a local minimum or maximum of an input channel (a run
    of equal values counts as one, at its middle) takes that turning point's value; of several,
    the one furthest from the interpolated value."""
    for c in range(values.shape[1]):
        col = values[:, c]
        starts = np.r_[0, np.flatnonzero(np.diff(col) != 0) + 1]
        if len(starts) < 3:
            continue
        ends = np.r_[starts[1:] - 1, len(col) - 1]
        level = col[starts]
        left, mid, right = level[:-2], level[1:-1], level[2:]
        turn = np.flatnonzero(((mid < left) & (mid < right)) | ((mid > left) & (mid > right))) + 1
        if not len(turn):
            continue
        k = np.clip(np.rint((t_in[starts[turn]] + t_in[ends[turn]]) / 2 * fps).astype(np.int64), 0, len(out) - 1)
        v = level[turn]
        dev = np.abs(v - out[k, c])
        best = np.zeros(len(out))
        np.maximum.at(best, k, dev)
        pick = (dev > 0) & (dev >= best[k])
        out[k[pick], c] = v[pick]


def apply_intensity(anim: Animation, **gains: float) -> Animation:
    """Scale each group (mouth, brows, blinks, eyes, head) by its gain; weights stay in [0, 1]."""
    unknown = set(gains) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown intensity groups: {sorted(unknown)}")
    scale = np.array([gains.get(channel_group(c), 1.0) for c in anim.channels], np.float32)
    values = anim.values * scale
    is_weight = np.array([not c.startswith("head_") for c in anim.channels])
    values[:, is_weight] = np.clip(values[:, is_weight], 0.0, 1.0)
    return replace(anim, values=values)


def smooth(anim: Animation, seconds: float) -> Animation:
    """Gaussian smoothing with a time constant, so the same setting works at any fps."""
    if seconds <= 0:
        return anim
    sigma = seconds * anim.fps
    return replace(anim, values=gaussian_filter1d(anim.values, sigma, axis=0, mode="nearest"))


def reduce_keys(values: np.ndarray, tolerance: float) -> np.ndarray:
    """Indices of the keys to keep so linear interpolation stays within ``tolerance``.

    Ramer-Douglas-Peucker on one curve: keep the ends, split at the worst frame until every
    segment fits. Animators get few keys on holds and enough on fast lip motion.
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n <= 2 or tolerance <= 0:
        return np.arange(n)
    keep = np.zeros(n, dtype=bool)
    keep[[0, n - 1]] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        t = np.arange(a + 1, b)
        line = values[a] + (values[b] - values[a]) * (t - a) / (b - a)
        err = np.abs(values[a + 1:b] - line)
        worst = int(np.argmax(err))
        if err[worst] > tolerance:
            m = a + 1 + worst
            keep[m] = True
            stack.extend(((a, m), (m, b)))
    return np.flatnonzero(keep)
