"""What the network and the recognisers hear of a recording: the listening side of the audio module.

Spectral and prosodic features at the network's frame rate, the real-speech acoustic model's phone
scores (``core.audio.senones``) and the posteriors the network reads from them, the phone loop's
phones and /p b m/ (``core.audio.phone_loop``), and, with a transcript or in the words mode, the
words aligned or recognised (``core.audio.alignment``, ``core.audio.recognition``) while this
process listens. ``core.audio.inference`` turns what was heard into a take; nothing here depends on
how a take is made, so the lip-sync bench keeps what was heard across changes to the take's making
(``bench/lipsync.py``'s words cache hashes every module of core/audio but inference, visemes and
motion).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import numpy as np
import torch

from . import alignment, phone_loop, phones, recognition, senones
from .features import FeatureConfig, compute_features
from .loading import Audio
from .network import Animator


@contextlib.contextmanager
def torch_threads(n: int | None):
    """torch on ``n`` threads inside the block (None: unchanged): beside the aligner's helper
    processes, more threads than one only wait for the CPUs the helpers hold."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n is not None:
            torch.set_num_threads(before)


def posteriors_for(audio: Audio, n_frames: int, fps: float, logliks: np.ndarray | None = None) -> np.ndarray:
    """The phone posteriors the network reads (from ``logliks``, the recording's
    ``senones.phone_logliks``, when at hand); without the pocketsphinx package (the 'audio
    features' path) every frame reads as silence, as the weights saw on the training windows
    whose evidence was hidden (--evidence-dropout), so the network listens for itself."""
    if phones.available():
        return senones.phone_posteriors(audio, n_frames, fps, logliks)
    silent = np.zeros((n_frames, senones.N_COLUMNS), np.float32)
    silent[:, 0] = 1.0
    return silent


@dataclass(frozen=True)
class Listened:
    """What the network hears of a recording: spectral and prosodic features at the network's frame
    rate, and (for weights trained with them) phone posteriors; ``logliks``, the
    ``senones.phone_logliks`` they came from, when asked for (the transcript's mismatch check reads
    them); ``heard``, the phone loop's phones (ARPAbet, start_s, end_s), and ``closures``, the
    /p b m/ it hears (``phone_loop.Heard``), when asked for and the recogniser is installed."""
    features: np.ndarray
    posteriors: np.ndarray | None
    logliks: np.ndarray | None = None
    heard: list | None = None
    closures: list | None = None


def listen_to(audio: Audio, model: Animator, threads: int | None = None, keep_logliks: bool = False,
              hear: bool = False, progress=None) -> Listened:
    """``Listened`` for ``audio`` (torch on ``threads`` meanwhile; None: unchanged); with ``hear``,
    the phone loop decodes the same phone scores the posteriors come from. ``progress(done,
    total)``: chunks scored by the acoustic model (the longest part of listening)."""
    cfg = model.cfg
    with torch_threads(threads):
        feats = compute_features(audio, FeatureConfig(kind=cfg.feature_kind, fps=cfg.fps)).values
        logliks = heard = lips = None
        if phones.available() and hear:
            found = phone_loop.hear(audio, progress=progress)
            logliks, heard, lips = found.logliks, phone_loop.as_timed(found.phones), phone_loop.as_timed(found.closures)
        elif phones.available() and cfg.phone_posteriors:
            logliks = senones.phone_logliks(audio, progress=progress)
        posteriors = posteriors_for(audio, len(feats), cfg.fps, logliks) if cfg.phone_posteriors else None
        return Listened(feats, posteriors, logliks if keep_logliks else None, heard, lips)


def align_and_listen(audio: Audio, model: Animator, transcript: str, cancelled=None, trusted: bool = False):
    """(``core.audio.alignment.align(audio, transcript)``, ``listen_to(audio, model)``): this process
    listens while the aligner's helper processes align the chunks, and the aligner's mismatch
    check reuses the phone scores and the phone loop's path heard. ``cancelled``, ``trusted``: as
    ``alignment.align``'s."""
    heard: list[Listened] = []

    def listen(helped: bool) -> alignment.Heard | None:
        heard.append(listen_to(audio, model, threads=1 if helped else None, keep_logliks=True, hear=True))
        found = heard[0]
        return alignment.Heard(found.logliks, found.heard) if found.logliks is not None else None

    aligned = alignment.align(audio, transcript, meanwhile=listen, cancelled=cancelled,
                              heard_instead=recognition.heard_instead, trusted=trusted,
                              anchors=recognition.heard_stretches, second_hearing=recognition.second_hearing)
    return aligned, replace(heard[0], logliks=None, heard=None, closures=None)


def recognise_and_listen(audio: Audio, model: Animator, cancelled=None, progress=None, listening=None):
    """(``core.audio.recognition.recognise(audio)``, ``listen_to(audio, model, hear=True)``): this
    process listens (features, phone scores, the phone loop) while the helper processes start, then
    they recognise the words with the model adapted to the phones heard. ``cancelled``,
    ``progress``: as ``recognition.recognise``'s; ``listening``: ``listen_to``'s ``progress``."""
    heard: list[Listened] = []

    def listen() -> list:
        heard.append(listen_to(audio, model, hear=True, progress=listening))
        return heard[0].heard

    recognised = recognition.recognise(audio, heard=listen, cancelled=cancelled, progress=progress)
    return recognised, heard[0]


def heard_closures(audio: Audio) -> list | None:
    """The /p b m/ the real-speech phone loop hears (ARPAbet, start_s, end_s): where the lips seal
    without a transcript; None without the recogniser."""
    if not phones.available():
        return None
    return phone_loop.as_timed(phone_loop.hear(audio).closures)
