"""Per-frame speech features at the animation frame rate (any fps, 23.976 and 29.97 included).

Analysis runs on a fixed 100 Hz grid (25 ms windows, 10 ms hop) so the spectral resolution never
depends on the scene's fps; each animation frame k (time k/fps) then takes the exact average of the
analysis frames over [k/fps - 0.5/fps, k/fps + 0.5/fps] (a box filter on a piecewise-constant
signal, done with a cumulative sum), which neither aliases at 24 fps nor starves at 60.

Every analysis window is cut from the signal with zero padding outside it, so a frame's value
depends only on the samples around it: computing in chunks gives the same numbers as computing
at once, and memory stays flat in audio length.

Pitch is a normalised autocorrelation (NCCF) peak pick: ~50x faster than pYIN, and its peak
height doubles as a continuous voicing strength.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
import torch

from .loading import Audio
from .mel import mel_basis

_EPS = 1e-10
_MEL_FLOOR = 1e-5          # below -60 dBFS noise, so digital silence and a quiet room look alike
_ENERGY_FLOOR = 1e-8       # mean square of -80 dBFS
F0_REF_HZ = 150.0          # log_f0 = ln(f0 / F0_REF_HZ) on voiced frames, 0 elsewhere
VOICED_AT = 0.45           # NCCF peak above this counts as voiced


@dataclass(frozen=True)
class FeatureConfig:
    kind: str = "mfcc"               # "mfcc" (13 MFCC, as in the paper) or "logmel"
    fps: float = 30.0
    sample_rate: int = 16000
    n_mfcc: int = 13
    n_mels: int = 40
    win_s: float = 0.025
    hop_s: float = 0.010
    n_fft: int = 512
    fmin: float = 20.0
    fmax: float = 7600.0
    pitch: bool = True               # append log_f0, voicing, log_energy
    f0_min: float = 60.0
    f0_max: float = 500.0
    pitch_win_s: float = 0.040       # must hold two periods of f0_min
    chunk_s: float = 30.0            # output frames are computed this many seconds at a time

    def __post_init__(self) -> None:
        if self.kind not in ("mfcc", "logmel"):
            raise ValueError(f"unknown feature kind {self.kind!r}")
        if not self.fps > 0:
            raise ValueError("fps must be positive")

    @property
    def hop(self) -> int:
        return int(round(self.hop_s * self.sample_rate))

    @property
    def names(self) -> tuple[str, ...]:
        base = ([f"mfcc_{i}" for i in range(self.n_mfcc)] if self.kind == "mfcc"
                else [f"logmel_{i}" for i in range(self.n_mels)])
        return tuple(base + (["log_f0", "voicing", "log_energy"] if self.pitch else []))

    @property
    def dims(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Features:
    values: np.ndarray               # float32 [frames, dims]; row k describes time k / fps
    fps: float
    config: FeatureConfig = field(default_factory=FeatureConfig)

    @property
    def names(self) -> tuple[str, ...]:
        return self.config.names

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]


def frame_count(duration_s: float, fps: float) -> int:
    """Animation frames covering [0, duration): frame k sits at time k / fps."""
    return max(int(math.ceil(duration_s * fps - 1e-6)), 0)


@functools.lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    return np.hanning(n + 2)[1:-1].astype(np.float32)


def _frames(x: np.ndarray, centres: np.ndarray, width: int) -> np.ndarray:
    """[len(centres), width] windows centred on sample indices, zeros outside the signal."""
    half = width // 2
    lo, hi = int(centres[0]) - half, int(centres[-1]) - half + width
    seg = np.zeros(hi - lo, dtype=np.float32)
    a, b = max(lo, 0), min(hi, len(x))
    if b > a:
        seg[a - lo:b - lo] = x[a:b]
    view = np.lib.stride_tricks.sliding_window_view(seg, width)
    return view[centres - half - lo]


def _spectral(frames: np.ndarray, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """(MFCC or log-mel [n, d], log energy [n])."""
    w = frames * _hann(frames.shape[1])
    power = np.abs(scipy.fft.rfft(w, n=cfg.n_fft, axis=1)) ** 2
    # torch's matmul, which keeps to torch's thread count (numpy's BLAS spins on every core,
    # taking them from the aligner's helper processes)
    basis = mel_basis(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    mel = torch.from_numpy(np.ascontiguousarray(power, np.float32)) @ torch.from_numpy(basis)
    logmel = np.log(mel.numpy() + _MEL_FLOOR)
    log_energy = np.log(np.mean(frames ** 2, axis=1) + _ENERGY_FLOOR)
    if cfg.kind == "logmel":
        return logmel, log_energy
    return scipy.fft.dct(logmel, type=2, norm="ortho", axis=1)[:, : cfg.n_mfcc], log_energy


def _pitch(frames: np.ndarray, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """(f0 Hz [n], NCCF peak in [0, 1] [n]) from normalised autocorrelation."""
    n, width = frames.shape
    sr = cfg.sample_rate
    lag_lo, lag_hi = int(sr / cfg.f0_max), min(int(math.ceil(sr / cfg.f0_min)), width // 2)
    x = frames - frames.mean(axis=1, keepdims=True)
    nfft = scipy.fft.next_fast_len(width + lag_hi + 1)
    spec = scipy.fft.rfft(x, n=nfft, axis=1)
    ac = scipy.fft.irfft(spec.real ** 2 + spec.imag ** 2, n=nfft, axis=1)[:, : lag_hi + 2]
    c = np.concatenate([np.zeros((n, 1), np.float32), np.cumsum(x * x, axis=1)], axis=1)
    lags = np.arange(lag_hi + 2)
    e_head = c[:, width - lags]                 # energy of x[0 : W - lag]
    e_tail = c[:, -1:] - c[:, lags]             # energy of x[lag : W]
    nccf = ac / np.sqrt(e_head * e_tail + _EPS * width)
    search = nccf[:, lag_lo:lag_hi + 1]
    best = search.max(axis=1)
    # First lag reaching 90 % of the best peak: avoids period doubling (octave-down errors).
    good = search >= 0.9 * best[:, None]
    is_peak = np.zeros_like(good)
    is_peak[:, 1:-1] = (search[:, 1:-1] >= search[:, :-2]) & (search[:, 1:-1] >= search[:, 2:])
    k = np.argmax(good & is_peak, axis=1)
    k = np.where((good & is_peak).any(axis=1), k, np.argmax(search, axis=1))
    lag = k + lag_lo
    rows = np.arange(n)
    y0, y1, y2 = nccf[rows, lag - 1], nccf[rows, lag], nccf[rows, np.minimum(lag + 1, lag_hi + 1)]
    denom = y0 - 2 * y1 + y2
    shift = np.where(np.abs(denom) > 1e-9, 0.5 * (y0 - y2) / np.where(denom == 0, 1, denom), 0.0)
    f0 = sr / (lag + np.clip(shift, -0.5, 0.5))
    return f0.astype(np.float32), np.clip(best, 0.0, 1.0).astype(np.float32)


def analysis_frames(x: np.ndarray, cfg: FeatureConfig, j0: int, j1: int) -> np.ndarray:
    """100 Hz features for analysis frames [j0, j1) (frame j centred on sample j * hop)."""
    centres = np.arange(j0, j1) * cfg.hop
    spec, log_energy = _spectral(_frames(x, centres, int(round(cfg.win_s * cfg.sample_rate))), cfg)
    if not cfg.pitch:
        return spec.astype(np.float32)
    f0, voicing = _pitch(_frames(x, centres, int(round(cfg.pitch_win_s * cfg.sample_rate))), cfg)
    log_f0 = np.where(voicing > VOICED_AT, np.log(f0 / F0_REF_HZ), 0.0)
    return np.concatenate([spec, log_f0[:, None], voicing[:, None], log_energy[:, None]], axis=1).astype(np.float32)


def base_span(times: np.ndarray, half: float, hop_s: float, n_base: int) -> tuple[int, int]:
    """[j0, j1): the base frames ``box_average`` reads for windows [t - half, t + half] of ascending
    ``times`` (frame j covers [(j - 0.5) hop, (j + 0.5) hop]; one frame of margin either side)."""
    j0 = max(int(math.floor((times[0] - half) / hop_s + 0.5)) - 1, 0)
    j1 = min(int(math.ceil((times[-1] + half) / hop_s + 0.5)) + 2, n_base)
    return j0, j1


def box_average_blocks(times: np.ndarray, half: float, hop_s: float, n_base: int, dims: int, step: int,
                       base_for) -> np.ndarray:
    """``box_average`` over ascending ``times``, ``step`` outputs at a time, each block reading only
    the base frames it needs, ``base_for(j0, j1)`` [j1 - j0, dims] (``base_span``): memory stays
    flat in the recording's length."""
    out = np.empty((len(times), dims), dtype=np.float32)
    for k0 in range(0, len(times), step):
        block = times[k0:k0 + step]
        j0, j1 = base_span(block, half, hop_s, n_base)
        out[k0:k0 + len(block)] = box_average(base_for(j0, j1), j0, block, half, hop_s, n_base)
    return out


def box_average(base: np.ndarray, j0: int, times: np.ndarray, half: float, hop_s: float, n_base: int) -> np.ndarray:
    """Exact mean of the piecewise-constant base signal over [t - half, t + half] per output time.

    base holds frames j0.. (frame j covers [(j - 0.5) hop, (j + 0.5) hop]); the window is
    clipped to the analysed span so edge frames average only what exists.
    """
    cum = np.concatenate([np.zeros((1, base.shape[1]), np.float64), np.cumsum(base, axis=0, dtype=np.float64)])
    span_lo, span_hi = -0.5, n_base - 0.5

    def integral(t: np.ndarray) -> np.ndarray:
        pos = np.clip(t / hop_s, span_lo, span_hi) + 0.5 - j0      # position in base-frame units
        pos = np.clip(pos, 0.0, len(base))
        i = np.minimum(pos.astype(np.int64), len(base) - 1)
        frac = (pos - i)[:, None]
        return cum[i] + frac * (cum[i + 1] - cum[i])

    lo = np.clip((times - half) / hop_s, span_lo, span_hi)
    hi = np.clip((times + half) / hop_s, span_lo, span_hi)
    width = np.maximum(hi - lo, 1e-9)[:, None]
    return ((integral(times + half) - integral(times - half)) / width).astype(np.float32)


def compute_features(audio: Audio, cfg: FeatureConfig | None = None, fps: float | None = None) -> Features:
    """Features for every animation frame of ``audio`` (frame k at time k / fps)."""
    cfg = cfg or FeatureConfig()
    if fps is not None:
        cfg = FeatureConfig(**{**cfg.__dict__, "fps": float(fps)})
    if audio.sample_rate != cfg.sample_rate:
        raise ValueError(f"features expect {cfg.sample_rate} Hz audio, got {audio.sample_rate} Hz")
    x = audio.samples
    n_out = frame_count(audio.duration, cfg.fps)
    out = box_average_blocks(np.arange(n_out) / cfg.fps, 0.5 / cfg.fps, cfg.hop_s, len(x) // cfg.hop + 1,
                             cfg.dims, max(int(cfg.chunk_s * cfg.fps), 1),
                             lambda j0, j1: analysis_frames(x, cfg, j0, j1))
    return Features(out, cfg.fps, cfg)


def mfcc_from_logmel(logmel: Features, n_mfcc: int = 13) -> Features:
    """MFCC features from log-mel ones without re-analysing the audio.

    Box averaging and the DCT are both linear, so this equals computing MFCC directly; the
    corpus uses it to store both kinds at the cost of one.
    """
    cfg = logmel.config
    if cfg.kind != "logmel":
        raise ValueError("expects log-mel features")
    mel = logmel.values[:, : cfg.n_mels]
    mfcc = scipy.fft.dct(mel, type=2, norm="ortho", axis=1)[:, :n_mfcc]
    rest = logmel.values[:, cfg.n_mels:]
    out_cfg = FeatureConfig(**{**cfg.__dict__, "kind": "mfcc", "n_mfcc": n_mfcc})
    return Features(np.concatenate([mfcc, rest], axis=1).astype(np.float32), logmel.fps, out_cfg)
