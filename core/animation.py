"""``Animation``: named channels x frames, the seam between the audio network and Blender.

Channels are the ARKit blendshape weights plus head-pose offsets from the photo's pose
(``head_rx .. head_tz``). Everything an animator tunes before keys are written (per-group
intensity, smoothing, key reduction) is a pure function here, so it is testable without Blender.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

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
    notes: tuple[str, ...] = ()   # what the maker noticed about its input (for the user's report)
    #: seconds from the first frame of poses that must land whole on a frame at any frame rate
    #: (lip closures: a /p b m/ can be shorter than a scene frame, and its closed lips are a
    #: relation between channels that resampling each channel on its own does not keep)
    contacts: tuple[float, ...] = ()
    #: the share of the jaw and mouth shapes that came from phones rather than the network
    #: (``core.audio.inference.mix_phone_mouth``; 0: none did)
    phone_mouth: float = 0.0

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
        frame still lands on a frame instead of being interpolated away. Each of ``contacts`` puts
        the whole input pose nearest to it on the output frame nearest to it, last: every
        channel from the same moment, so the lips that met there still meet."""
        if abs(fps - self.fps) < 1e-9:
            return self
        n_out = max(1, int(round(self.duration * fps)))
        t_out = np.arange(n_out) / fps
        t_in = np.arange(self.n_frames) / self.fps
        out = np.stack([np.interp(t_out, t_in, col) for col in self.values.T], axis=1)
        if keep_extremes and fps < self.fps and self.n_frames > 2:
            _keep_turning_points(self.values, t_in, out, fps)
        if self.contacts:
            t = np.asarray(self.contacts, np.float64)
            src = np.clip(np.rint(t * self.fps).astype(np.int64), 0, self.n_frames - 1)
            dst = np.clip(np.rint(t * fps).astype(np.int64), 0, n_out - 1)
            out[dst] = self.values[src]
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


@dataclass(frozen=True)
class Keys:
    """A curve as Bezier keys an animator can clean: key frames (indices into the dense curve),
    their values, and one slope per key (value per frame) for aligned handles placed a third of
    the way to each neighbour, where a Bezier segment is exactly the cubic Hermite curve."""

    index: np.ndarray           # int, ascending, first and last frame included
    value: np.ndarray
    slope: np.ndarray

    def evaluate(self, n: int) -> np.ndarray:
        """The keyed curve at frames 0 .. n-1 (what Blender evaluates, handles at thirds)."""
        x = np.arange(n, dtype=np.float64)
        seg = np.clip(np.searchsorted(self.index, x, side="right") - 1, 0, max(len(self.index) - 2, 0))
        if len(self.index) == 1:
            return np.full(n, self.value[0])
        a, b = self.index[seg], self.index[seg + 1]
        h = (b - a).astype(np.float64)
        t = (x - a) / h
        h00, h10 = 2 * t ** 3 - 3 * t ** 2 + 1, t ** 3 - 2 * t ** 2 + t
        h01, h11 = -2 * t ** 3 + 3 * t ** 2, t ** 3 - t ** 2
        return (h00 * self.value[seg] + h10 * h * self.slope[seg] + h01 * self.value[seg + 1]
                + h11 * h * self.slope[seg + 1])


def extremes(values: np.ndarray, prominence: float) -> np.ndarray:
    """Frames of the curve's turning points (peaks and valleys) that rise or fall by more than
    ``prominence`` from the previous kept turning point: openings, closures, peaks -- not jitter."""
    v = np.asarray(values, np.float64)
    out, anchor, direction, best = [], 0, 0, 0
    for i in range(1, len(v)):
        if direction == 0:
            if v[i] - v[anchor] > prominence:
                direction, best = 1, i
            elif v[anchor] - v[i] > prominence:
                direction, best = -1, i
            continue
        if direction == 1:
            if v[i] > v[best]:                 # a plateau's turning point is where it begins
                best = i
            elif v[best] - v[i] > prominence:
                out.append(best)
                direction, best = -1, i
        else:
            if v[i] < v[best]:
                best = i
            elif v[i] - v[best] > prominence:
                out.append(best)
                direction, best = 1, i
    return np.asarray(out, np.int64)


def _fit_slopes(v: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Least-squares slopes at fixed keys: the cubic Hermite spline through the keys' values that
    is closest to every dense frame (a tridiagonal system)."""
    from scipy.linalg import solve_banded

    k = len(index)
    if k < 2:
        return np.zeros(k)
    n_eq = np.zeros((3, k))                 # banded normal matrix (upper, diagonal, lower)
    rhs = np.zeros(k)
    for j in range(k - 1):
        a, b = index[j], index[j + 1]
        h = float(b - a)
        t = np.arange(1, b - a) / h
        if t.size == 0:
            continue
        base = (2 * t ** 3 - 3 * t ** 2 + 1) * v[a] + (-2 * t ** 3 + 3 * t ** 2) * v[b]
        p, q = h * (t ** 3 - 2 * t ** 2 + t), h * (t ** 3 - t ** 2)     # basis of slope[j], slope[j+1]
        r = v[a + 1:b] - base
        n_eq[1, j] += p @ p
        n_eq[1, j + 1] += q @ q
        n_eq[0, j + 1] += p @ q
        n_eq[2, j] += p @ q
        rhs[j] += p @ r
        rhs[j + 1] += q @ r
    n_eq[1] += 1e-9 + 1e-6 * n_eq[1].max()   # keys with no frames between them: a flat tangent
    return solve_banded((1, 1), n_eq, rhs)


def fit_keys(values: np.ndarray, tolerance: float, max_rounds: int = 40) -> Keys:
    """Keys for hand cleanup that reproduce ``values`` within ``tolerance`` (the channel's own
    units). Keys go at the ends and at every turning point that moves by more than the
    tolerance; slopes are fitted; where the keyed curve still strays, a key goes at the worst frame
    of each straying segment, until none strays. ``tolerance <= 0``: a key on every frame."""
    v = np.asarray(values, np.float64)
    n = len(v)
    if n == 0:
        return Keys(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    if tolerance <= 0 or n <= 2:
        index = np.arange(n)
        return Keys(index, v.copy(), np.gradient(v) if n > 1 else np.zeros(n))
    index = np.union1d([0, n - 1], extremes(v, tolerance))
    for _ in range(max_rounds):
        slope = _fit_slopes(v, index)
        keys = Keys(index, v[index], slope)
        err = np.abs(keys.evaluate(n) - v)
        if err.max() <= tolerance:
            return keys
        seg = np.searchsorted(index, np.arange(n), side="right") - 1
        worst = {}
        for i in np.flatnonzero(err > tolerance):
            s_ = seg[i]
            if s_ not in worst or err[i] > err[worst[s_]]:
                worst[s_] = i
        index = np.union1d(index, list(worst.values()))
    index = np.arange(n)                     # did not settle: every frame (never wrong)
    return Keys(index, v.copy(), np.gradient(v))


def is_flat(values: np.ndarray, tolerance: float, rest: float = 0.0) -> bool:
    """A channel that never leaves ``rest`` by more than ``tolerance``: nothing worth keying."""
    return bool(np.all(np.abs(np.asarray(values, np.float64) - rest) <= tolerance))
