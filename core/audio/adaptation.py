"""The word recogniser adapted to one take's voice: a mean transform (MLLR) of its acoustic model.

PocketSphinx's en-us model mishears voices and channels unlike those it was trained on, and a
misheard word loses its /p b m/. Maximum-likelihood linear regression moves the model's Gaussian
means towards the take: one global affine transform per stream (mu -> A mu + b, A full 13 x 13),
estimated here in one EM step from the take's frames labelled by phones already heard -- the
phone loop's (``core.audio.phone_loop``), which the 'words' mode computes anyway -- and handed to
the recogniser as the ``-mllr`` file PocketSphinx reads as a decoder starts (``mllr_text``).

A take's transform is pulled towards no change by ``TAU_FRAMES`` frames of prior: a short line
moves the model little. Chosen on the dev recordings only (weights/provenance.json,
``word_recognition.speaker_adaptation_2026_12_03``, ``bench/adaptation.py``): tau 300 found the most
/p b m/ on allison-dev without losing any on mfa-dev; VTLN and diagonal transforms did not help.

Each frame's posterior spreads over the 128 Gaussians of its phone's codebook, in that phone's
best-scoring context-independent state (``core.audio.senones``' front end and model); silence
frames are left out. The statistics are per phone and Gaussian (occupancy and first moment), so
the work is one pass over the frames and memory stays flat in audio length (chunks as
``phones.chunk_bounds`` cuts them, each with its own cepstral mean, as the recogniser hears them).
"""

from __future__ import annotations

import functools

import numpy as np

from . import senones
from .phones import FRAME_S, chunk_bounds, to_pcm16

TAU_FRAMES = 300.0               # prior weight of "no change", in frames of speech
MIN_FRAMES = 20                  # with less speech heard than this (0.2 s) the model is left as it is
                                 # (the shortest dev prompt had 24 frames heard as speech)
MIN_POSTERIOR = 1e-4             # a Gaussian's share of a frame below this is left out
LOG_2PI = np.log(2 * np.pi)


@functools.lru_cache(maxsize=1)
def _model() -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """The en-us model's means and (floored) variances [streams, codebooks, 128, 13], the
    context-independent states' log mixture weights [streams, codebooks, states, 128], and each
    speech phone's codebook (silence and noise fillers have none here)."""
    means, var = (a.astype(np.float64) for a in senones.model_gaussians())
    model = senones.acoustic_model()
    log_w = np.log(np.maximum(model.mixw.numpy().astype(np.float64), 1e-30))
    speech = {name: i for i, name in enumerate(model.phones) if name not in senones.SILENCES}
    return means, var, log_w, speech


def _labels(phones: list, n: int) -> np.ndarray:
    """[n] each 10 ms frame's codebook (-1: silence or unlabelled) from timed phones (name,
    start_s, end_s); frame t covers the phone whose span holds its centre, t * 10 ms + CENTRE_S."""
    speech = _model()[3]
    label = np.full(n, -1)
    for name, start, end in phones:
        a, b = (int(round((t - senones.CENTRE_S) / FRAME_S)) for t in (start, end))
        label[max(a, 0):max(min(b, n), 0)] = speech.get(name.upper().rstrip("012"), -1)
    return label


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """log(sum(exp(a))) over the last axis (5x faster than ``np.logaddexp.reduce``)."""
    top = a.max(-1)
    return top + np.log(np.exp(a - top[..., None]).sum(-1))


def statistics(samples: np.ndarray, sample_rate: int, phones: list) -> tuple[np.ndarray, np.ndarray, int]:
    """Per stream, codebook and Gaussian: the occupancy [S, P, 128] and the first moment
    [S, P, 128, 13] of ``samples`` (16 kHz) labelled by ``phones``, and the speech frames counted."""
    means, var, log_w, _ = _model()
    n_streams, n_cb, n_dens, dims = means.shape
    log_norm = -0.5 * (LOG_2PI + np.log(var)).sum(-1)                 # [S, P, 128]
    inv = 1.0 / var
    scaled, quad = means * inv, (means * means * inv).sum(-1)
    occ, first = np.zeros((n_streams, n_cb, n_dens)), np.zeros((n_streams, n_cb, n_dens, dims))
    label = _labels(phones, len(samples) // senones.HOP + 1)
    frames = 0
    for a, b in chunk_bounds(samples, sample_rate):
        pcm16 = to_pcm16(samples[a:b])
        if len(pcm16) < senones.WINDOW:
            continue
        feats = senones.streams(senones.cepstra(pcm16)).numpy().astype(np.float64)     # [S, T, 13]
        chunk_label = label[a // senones.HOP:][:feats.shape[1]]
        at = np.flatnonzero(chunk_label >= 0)
        frames += len(at)
        for p in np.unique(chunk_label[at]):            # one phone's frames at a time: its codebook only
            t = at[chunk_label[at] == p]
            for s in range(n_streams):
                o = feats[s, t]                                                     # [F, 13]
                dens = log_norm[s, p] - 0.5 * ((o * o) @ inv[s, p].T - 2.0 * o @ scaled[s, p].T + quad[s, p])
                joint = log_w[s, p] + dens[:, None]                                 # [F, states, 128]
                best = joint[np.arange(len(t)), _logsumexp(joint).argmax(-1)]
                g = np.exp(best - _logsumexp(best)[:, None])                        # [F, 128]
                g[g <= MIN_POSTERIOR] = 0.0
                occ[s, p] += g.sum(0)
                first[s, p] += g.T @ o
    return occ, first, frames


def estimate(samples: np.ndarray, sample_rate: int, phones: list, tau: float = TAU_FRAMES,
             diagonal: bool = False) -> list[np.ndarray]:
    """Per stream, [13, 14] rows [A | b] that map the model's means (mu -> A mu + b) towards
    ``samples`` (16 kHz) aligned to ``phones``: (n W + tau I) / (n + tau) over n speech frames, W the
    one-step maximum-likelihood transform (``diagonal``: A diagonal). Fewer than ``MIN_FRAMES``
    speech frames, or a row whose equations are singular, leave the model (or that row) as it is."""
    means, var, _, _ = _model()
    occ, first, frames = statistics(samples, sample_rate, phones)
    dims = means.shape[-1]
    identity = np.hstack([np.eye(dims), np.zeros((dims, 1))])
    if frames < MIN_FRAMES:
        return [identity.copy() for _ in range(len(means))]
    out = []
    for s in range(len(means)):
        xi = np.concatenate([means[s], np.ones(means[s].shape[:-1] + (1,))], -1).reshape(-1, dims + 1)
        scale = (occ[s][..., None] / var[s]).reshape(len(xi), dims)                 # [P * 128, 13]
        G = (scale.T @ (xi[:, :, None] * xi[:, None]).reshape(len(xi), -1)).reshape(dims, dims + 1, dims + 1)
        k = (first[s] / var[s]).reshape(len(xi), dims).T @ xi                       # [13, 14]
        W = identity.copy()
        for i in range(dims):
            rows = [i, dims] if diagonal else list(range(dims + 1))
            try:
                row = np.linalg.solve(G[i][np.ix_(rows, rows)], k[i][rows])
            except np.linalg.LinAlgError:
                continue
            if np.isfinite(row).all():
                W[i, rows] = row
        out.append((frames * W + tau * identity) / max(frames + tau, 1e-9))
    return out


def mllr_text(rows: list[np.ndarray]) -> str:
    """PocketSphinx's MLLR file (``ps_mllr_read``): one class, the streams, then per stream its
    width, the rows of A, b, and the variance scales (left at 1)."""
    lines = ["1", str(len(rows))]
    for W in rows:
        lines.append(str(len(W)))
        lines += [" ".join(f"{v:.6f}" for v in r) for r in W[:, :-1]]
        lines += [" ".join(f"{v:.6f}" for v in W[:, -1]), " ".join(["1.0"] * len(W))]
    return "\n".join(lines) + "\n"
