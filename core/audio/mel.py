# SPDX-License-Identifier: GPL-3.0-or-later
"""The mel scale and its triangular filter bank, numpy only: the network's features
(``core.audio.features``) and Whisper's input (``core.audio.whisper``, which the panel imports
without PyTorch) share them."""

from __future__ import annotations

import functools
import math

import numpy as np

_MEL_F_SP = 200.0 / 3.0                 # Slaney's mel scale: linear below 1 kHz ...
_MEL_LOG_START = 1000.0 / _MEL_F_SP     # ... and logarithmic above (mel 15 at 1 kHz)
_MEL_LOG_STEP = math.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's (Auditory Toolbox) mel scale, the one librosa and most speech models use by default."""
    hz = np.asarray(hz, np.float64)
    mel = hz / _MEL_F_SP
    log_part = hz >= 1000.0
    return np.where(log_part, _MEL_LOG_START + np.log(np.maximum(hz, 1e-10) / 1000.0) / _MEL_LOG_STEP, mel)


def mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, np.float64)
    return np.where(mel >= _MEL_LOG_START, 1000.0 * np.exp(_MEL_LOG_STEP * (mel - _MEL_LOG_START)), mel * _MEL_F_SP)


def mel_frequencies(n: int, fmin: float, fmax: float) -> np.ndarray:
    """``n`` frequencies (Hz) evenly spaced on the mel scale from ``fmin`` to ``fmax``."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n))


@functools.lru_cache(maxsize=8)
def mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """``[n_fft // 2 + 1, n_mels]`` triangular filters on the mel scale, each normalised to unit area
    (Slaney): the filter bank the features were trained with (librosa's default, written out here
    so the add-on does not ship librosa and its numba/llvmlite/scikit-learn for one matrix)."""
    edges = mel_frequencies(n_mels + 2, fmin, fmax)
    bins = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    width = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    rising = -ramps[:-2] / width[:-1, None]
    falling = ramps[2:] / width[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.T.astype(np.float32)
