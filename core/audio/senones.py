"""Soft phone evidence from the acoustic model of a recogniser trained on real human speech.

A phone loop's decoder gives one phone per 10 ms frame: a hard decision that flips on a third of
frames under a -70 dBFS perturbation (PocketSphinx's, measured). This module reads the en-us
acoustic model (the ``pocketsphinx`` wheel's ``en-us/en-us`` folder: a
phonetically tied mixture model, 42 codebooks of 128 Gaussians on three 13-dimensional streams, 5126
senones) and scores every frame itself, with no decoder: each frame gets a posterior over the 39
English phones and silence, from the best-scoring of each phone's three context-independent
senones (its states).
That is a speaker-independent description of what the speech sounds like, learned from people;
the animator reads it beside its spectral features (``AnimatorConfig.phone_posteriors``), and
``core.audio.phone_loop`` decodes the same states' scores into phones.

The front end follows PocketSphinx's (``feat.params``: 25.6 ms Hamming windows every 10 ms,
pre-emphasis 0.97, 25 mel filters 130-6800 Hz, orthonormal DCT-II, lifter 22, cepstral mean
removed per chunk, deltas over +-2 frames and double deltas) without its spectral noise
subtraction; a senone mixes all 128 Gaussians of its phone's codebook (PocketSphinx keeps the
4 best).
Recordings are scored in chunks cut at quiet frames (``phones.chunk_bounds``), so memory stays
flat in audio length.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .features import box_average_blocks, frame_count
from .loading import Audio
from .phones import FRAME_S, chunk_bounds, model_dir, to_pcm16

#: Output columns: the en-us model's phones, fillers and silence merged into ``SIL`` (first).
SILENCES = ("SIL", "+NSN+", "+SPN+")
N_COLUMNS = 40                   # SIL and the 39 phones of the en-us model (checked when it loads)
SAMPLE_RATE = 16000
WINDOW = 410                     # samples (25.625 ms)
HOP = 160                        # samples (10 ms)
N_FFT = 512
N_FILTERS, N_CEPSTRA, LIFTER = 25, 13, 22
LOWER_HZ, UPPER_HZ = 130.0, 6800.0
VARIANCE_FLOOR = 1e-4
MIXW_UNIT = 1024 * np.log(1.0001)  # sendump stores -log(weight) in 1.0001-base units >> 10
CENTRE_S = (WINDOW / 2) / SAMPLE_RATE  # a frame's centre after its start (frame t starts at t * HOP)
BLOCK = 250                      # frames scored at once: [frames, codebooks, 128] densities stay in cache


@dataclass(frozen=True)
class AcousticModel:
    """The parts of a PocketSphinx PTM model that score senones."""

    phones: tuple[str, ...]          # CI phone names, in the model's order
    project: torch.Tensor            # [streams, 26, codebooks * 128]: [x^2, x] -> a Gaussian's log density ...
    offset: torch.Tensor             # [streams, codebooks * 128]: ... plus this
    mixw: torch.Tensor               # [streams, CI phones, states, 128]: context-independent senones
    columns: tuple[str, ...]         # output columns: SIL first, then the phones
    column_of_phone: torch.Tensor    # [CI phones] -> output column
    stay: np.ndarray                 # [CI phones, states] log probability of a state's self-loop ...
    leave: np.ndarray                # ... and of moving on (to the next state; out of the phone from the last)


def _s3_body(path: str) -> tuple[bytes, int]:
    """A Sphinx-3 parameter file's bytes and where its body starts (after the text header and the
    byte-order mark)."""
    raw = open(path, "rb").read()
    i = raw.index(b"endhdr\n") + len(b"endhdr\n")
    if int(np.frombuffer(raw, "<i4", 1, i)[0]) != 0x11223344:
        raise ValueError(f"{path}: not a little-endian Sphinx-3 parameter file")
    return raw, i


def _s3_gaussians(path: str) -> np.ndarray:
    """Sphinx-3 Gaussian parameter file -> [streams, codebooks, densities, dims]."""
    raw, i = _s3_body(path)
    n_cb, n_streams, n_dens = (int(v) for v in np.frombuffer(raw, "<i4", 3, i + 4))
    dims = np.frombuffer(raw, "<i4", n_streams, i + 16).astype(int)
    if len(set(dims)) != 1:
        raise ValueError(f"{path}: streams of unequal width are not supported")
    data = np.frombuffer(raw, "<f4", n_cb * n_streams * n_dens * dims[0], i + 20 + 4 * n_streams)
    return data.reshape(n_cb, n_streams, n_dens, dims[0]).transpose(1, 0, 2, 3)


def _binary_mdef(path: str) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """Binary model definition -> (CI phone names, [CI phones, states] their context-independent
    senones, [CI phones] their transition matrices, the number of senones)."""
    raw = open(path, "rb").read()
    i = 12 + int(np.frombuffer(raw, "<i4", 1, 8)[0])        # magic, version, description
    n_ci, n_phone, n_emit, _, n_sen, _, n_sseq, _, n_tree, _ = (int(v) for v in np.frombuffer(raw, "<i4", 10, i))
    i += 40
    names, pos = [], i
    for _ in range(n_ci):
        end = raw.index(b"\0", pos)
        names.append(raw[pos:end].decode("ascii"))
        pos = end + 1
    phones_at = i + ((pos - i + 3) & ~3) + 8 * n_tree
    entry = np.dtype([("ssid", "<i4"), ("tmat", "<i4"), ("info", "u1", 4)])
    table = np.frombuffer(raw, entry, n_phone, phones_at)
    sseq_at = phones_at + entry.itemsize * n_phone
    sseq = np.frombuffer(raw, "<u2", n_sseq * n_emit, sseq_at + 4).reshape(n_sseq, n_emit)
    return names, sseq[table["ssid"][:n_ci]].astype(np.int64), table["tmat"][:n_ci].astype(np.int64), n_sen


def _s3_transitions(path: str) -> np.ndarray:
    """Sphinx-3 transition matrix file -> [matrices, states, states + 1] log probabilities (the
    last column leaves the phone); only left-to-right models without skips are supported."""
    raw, i = _s3_body(path)
    n, rows, cols, total = (int(v) for v in np.frombuffer(raw, "<i4", 4, i + 4))
    counts = np.frombuffer(raw, "<f4", total, i + 20).reshape(n, rows, cols).astype(np.float64)
    allowed = np.eye(rows, cols, dtype=bool) | np.eye(rows, cols, 1, dtype=bool)
    if cols != rows + 1 or (counts[:, ~allowed] != 0).any():
        raise ValueError(f"{path}: only left-to-right phone models without skips are supported")
    with np.errstate(divide="ignore"):
        return np.log(counts / counts.sum(-1, keepdims=True))


def _sendump(path: str, n_streams: int, n_dens: int, n_sen: int) -> np.ndarray:
    """Mixture weights (8-bit, uncompressed layout) -> [streams, senones, densities] log weights."""
    raw = open(path, "rb").read()
    i = 0
    while True:                                  # header strings, ended by a zero length
        n = int(np.frombuffer(raw, "<i4", 1, i)[0])
        i += 4 + n
        if n == 0:
            break
        if raw[i - n:i - 1].startswith(b"cluster_count ") and raw[i - n:i - 1] != b"cluster_count 0":
            raise ValueError(f"{path}: clustered (4-bit) mixture weights are not supported")
    rows, cols = (int(v) for v in np.frombuffer(raw, "<i4", 2, i))
    if (rows, cols) != (n_dens, n_sen):
        raise ValueError(f"{path}: {rows}x{cols} weights for {n_dens} densities and {n_sen} senones")
    w = np.frombuffer(raw, np.uint8, n_streams * rows * cols, i + 8).reshape(n_streams, rows, cols)
    log_w = -w.astype(np.float64) * MIXW_UNIT
    log_w -= np.log(np.exp(log_w).sum(1, keepdims=True))    # 8-bit rounding: renormalise
    return log_w.transpose(0, 2, 1)


def model_gaussians() -> tuple[np.ndarray, np.ndarray]:
    """The en-us model's Gaussian means and variances (floored at VARIANCE_FLOOR), each
    [streams, codebooks, densities, dims] as the files hold them."""
    folder = os.path.join(model_dir(), "en-us")
    means = _s3_gaussians(os.path.join(folder, "means"))
    return means, np.maximum(_s3_gaussians(os.path.join(folder, "variances")), VARIANCE_FLOOR)


def gaussian_terms(means: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``AcousticModel.project`` [streams, 2 * dims, codebooks * densities] and ``offset``
    [streams, codebooks * densities] of Gaussians [streams, codebooks, densities, dims]:
    log N(x; m, v) = -0.5 sum log(2 pi v) - 0.5 sum m^2 / v  +  x^2 . (-0.5 / v)  +  x . (m / v)."""
    n_streams, dims = means.shape[0], means.shape[-1]
    project = np.concatenate([-0.5 / var, means / var], -1).reshape(n_streams, -1, 2 * dims).transpose(0, 2, 1)
    offset = (-0.5 * np.log(2 * np.pi * var) - 0.5 * means ** 2 / var).sum(-1).reshape(n_streams, -1)
    return project, offset


@functools.lru_cache(maxsize=1)
def acoustic_model() -> AcousticModel:
    folder = os.path.join(model_dir(), "en-us")
    means, var = model_gaussians()
    names, ci_senones, ci_tmat, n_sen = _binary_mdef(os.path.join(folder, "mdef"))
    n_streams, n_cb, n_dens, _ = means.shape
    if n_cb != len(names):
        raise ValueError(f"{folder}: {n_cb} codebooks for {len(names)} phones (not a PTM model)")
    log_mixw = _sendump(os.path.join(folder, "sendump"), n_streams, n_dens, n_sen)[:, ci_senones]
    columns = ("SIL",) + tuple(n for n in names if n not in SILENCES)
    if len(columns) != N_COLUMNS:
        raise ValueError(f"{folder}: {len(columns)} phone columns, the animator reads {N_COLUMNS}")
    transitions = _s3_transitions(os.path.join(folder, "transition_matrices"))[ci_tmat]
    states = np.arange(transitions.shape[1])
    f32 = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)    # noqa: E731 (a copy: files are read-only)
    project, offset = gaussian_terms(means, var)
    return AcousticModel(
        phones=tuple(names), mixw=f32(np.exp(log_mixw)), project=f32(project), offset=f32(offset),
        columns=columns,
        column_of_phone=torch.as_tensor([0 if n in SILENCES else columns.index(n) for n in names]),
        stay=transitions[:, states, states], leave=transitions[:, states, states + 1])


@functools.lru_cache(maxsize=1)
def _front_end() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hamming window, mel filters [bins, filters] and the liftered DCT [filters, cepstra], as
    PocketSphinx builds them (triangles of unit area between filter centres rounded to FFT bins)."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)            # noqa: E731
    mel_inv = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)        # noqa: E731
    bin_hz = SAMPLE_RATE / N_FFT
    step = (mel(UPPER_HZ) - mel(LOWER_HZ)) / (N_FILTERS + 1)
    hz = np.arange(N_FFT // 2 + 1) * bin_hz
    filters = np.zeros((N_FILTERS, len(hz)))
    for i in range(N_FILTERS):
        lo, mid, hi = (np.floor(mel_inv(mel(LOWER_HZ) + (i + j) * step) / bin_hz + 0.5) * bin_hz for j in range(3))
        rise, fall = (hz - lo) / (mid - lo), (hi - hz) / (hi - mid)
        inside = (hz >= lo) & (hz <= hi) & (np.arange(len(hz)) < N_FFT // 2)
        filters[i, inside] = np.minimum(rise, fall)[inside] * 2.0 / (hi - lo)
    j = np.arange(N_FILTERS) + 0.5
    dct = np.cos(np.pi / N_FILTERS * np.arange(N_CEPSTRA)[:, None] * j[None, :]) * np.sqrt(2.0 / N_FILTERS)
    dct[0] = np.sqrt(1.0 / N_FILTERS)
    lifter = 1.0 + LIFTER / 2.0 * np.sin(np.arange(N_CEPSTRA) * np.pi / LIFTER)
    window = 0.54 - 0.46 * np.cos(2 * np.pi * np.arange(WINDOW) / (WINDOW - 1))
    return window, filters.T, dct.T * lifter


def cepstra(pcm16: np.ndarray) -> np.ndarray:
    """[frames, 13] mel cepstra of 16 kHz int16 samples; frame t starts at sample t * HOP."""
    window, filters, dct = _front_end()
    x = pcm16.astype(np.float64)
    x = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    n = 1 + max(len(x) - WINDOW, 0) // HOP
    x = np.pad(x, (0, max(WINDOW + (n - 1) * HOP - len(x), 0)))
    frames = np.lib.stride_tricks.sliding_window_view(x, WINDOW)[::HOP][:n] * window
    power = np.abs(np.fft.rfft(frames, N_FFT)) ** 2
    power, filters, dct = (torch.from_numpy(np.ascontiguousarray(a)) for a in (power, filters, dct))
    return (torch.log(power @ filters + 1e-4) @ dct).numpy().astype(np.float32)   # torch's threads


def streams(cep: np.ndarray) -> torch.Tensor:
    """[3, frames, 13]: mean-removed cepstra, deltas (t+2 - t-2) and double deltas, edges repeated."""
    c = cep - cep.mean(0)
    p = np.pad(c, ((3, 3), (0, 0)), mode="edge")
    n = len(c)
    at = lambda k: p[3 + k:3 + k + n]     # noqa: E731
    return torch.as_tensor(np.stack([c, at(2) - at(-2), (at(3) - at(-1)) - (at(1) - at(-3))]))


def state_loglik(feats: torch.Tensor, model: AcousticModel | None = None) -> torch.Tensor:
    """[frames, CI phones, states]: the log-likelihood (nats) of each phone's context-independent
    senones (its states) on every frame.

    A senone mixes its phone's codebook: per stream, sum_j w_j N_j(x), done as one batched product
    of the codebook's densities (scaled by their best) and the weights."""
    model = model or acoustic_model()
    n_streams, n_cb, n_states, n_dens = model.mixw.shape
    out = torch.empty((feats.shape[1], n_cb, n_states))
    for b0 in range(0, feats.shape[1], BLOCK):
        score = 0.0
        for s in range(n_streams):
            x = feats[s, b0:b0 + BLOCK]                                 # [T, 13]
            dens = torch.addmm(model.offset[s], torch.cat([x * x, x], 1), model.project[s])
            dens = dens.reshape(len(x), n_cb, n_dens)
            top = dens.amax(-1, keepdim=True)
            mixed = torch.einsum("tcj,ckj->tck", dens.sub_(top).exp_(), model.mixw[s])   # in place: 3x faster
            score = score + torch.log(mixed.clamp_min(1e-30)) + top             # [T, C, states]
        out[b0:b0 + BLOCK] = score
    return out


def phone_logliks(audio: Audio, model: AcousticModel | None = None,
                  each_chunk: Callable[[float, np.ndarray], None] | None = None,
                  progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """[len(samples) // HOP + 1, CI phones]: each phone's best state (``state_loglik``) on every
    frame of a whole 16 kHz recording at 100 Hz, scored chunk by chunk (``phones.chunk_bounds``;
    each chunk's cepstral mean is its own); a chunk's frames past its last whole window repeat
    that window's row, and frames no window reaches are NaN. ``each_chunk(start_s, states)`` sees
    every scored chunk's ``state_loglik`` (the phone loop decodes them); ``progress(done, total)``
    counts the chunks done."""
    if audio.sample_rate != SAMPLE_RATE:
        raise ValueError("phone scores need 16 kHz audio (load_audio resamples)")
    model = model or acoustic_model()
    base = np.full((len(audio.samples) // HOP + 1, len(model.phones)), np.nan, np.float32)
    bounds = chunk_bounds(audio.samples, audio.sample_rate)
    for i, (a, b) in enumerate(bounds):
        pcm16, j0 = to_pcm16(audio.samples[a:b]), a // HOP
        if len(pcm16) >= WINDOW:
            states = state_loglik(streams(cepstra(pcm16)), model).numpy()
            if each_chunk is not None:
                each_chunk(a / SAMPLE_RATE, states)
            scores = states.max(-1)
            base[j0:j0 + len(scores)] = scores
            base[j0 + len(scores):b // HOP + 1] = scores[-1]
        else:
            base[j0:b // HOP + 1] = base[j0]
        if progress is not None:
            progress(i + 1, len(bounds))
    return base


def posteriors_of(logliks: np.ndarray, model: AcousticModel | None = None) -> np.ndarray:
    """[frames, columns] phone posteriors (flat prior) of ``phone_logliks`` rows; silence for NaN rows."""
    model = model or acoustic_model()
    out = np.zeros((len(logliks), len(model.columns)), np.float32)
    out[:, 0] = 1.0
    for b0 in range(0, len(logliks), 64 * BLOCK):          # in blocks: an hour is 360,000 rows
        block = logliks[b0:b0 + 64 * BLOCK]
        scored = ~np.isnan(block[:, 0])
        post = torch.softmax(torch.from_numpy(block[scored]), dim=1)
        out[b0:b0 + len(block)][scored] = (torch.zeros((len(post), len(model.columns)))
                                           .index_add_(1, model.column_of_phone, post).numpy())
    return out


def phone_posteriors(audio: Audio, n_frames: int | None = None, fps: float = 50.0,
                     logliks: np.ndarray | None = None) -> np.ndarray:
    """[n_frames, columns]: each animation frame's mean phone posterior over [k - 1/2, k + 1/2] / fps
    (from ``logliks``, the recording's ``phone_logliks``, when they are at hand)."""
    if audio.sample_rate != SAMPLE_RATE:
        raise ValueError("phone posteriors need 16 kHz audio (load_audio resamples)")
    logliks = phone_logliks(audio) if logliks is None else logliks
    n_frames = frame_count(audio.duration, fps) if n_frames is None else n_frames
    # base frame j is centred on j * HOP + WINDOW / 2
    times = np.arange(n_frames) / fps - CENTRE_S
    return box_average_blocks(times, 0.5 / fps, FRAME_S, len(logliks), N_COLUMNS, 64 * BLOCK,
                              lambda j0, j1: posteriors_of(logliks[j0:j1]))
