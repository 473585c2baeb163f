"""Phone evidence from a recogniser trained on real human speech (PocketSphinx en-us).

The animator's own acoustic features learned how the synthetic voices it was trained on make a
closure; a phone recogniser trained on people hears /p b m/ in voices and rooms the animator never
met. Its phone loop (``allphone`` with the shipped phone language model, no words, no transcript)
gives a phone per 10 ms frame; ``phone_evidence`` turns that into per-frame shares of a few
articulatory classes at the animation frame rate, which the network takes beside its spectral
features.

The recogniser is English (en-us). On other languages its phones are still acoustically nearest
English phones, which carry the lips' place of articulation well enough; the network's spectral
features fill the rest (the README says which path ran).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from . import sphinx_helper, sphinx_pool
from .loading import Audio

FRAME_S = 0.01                  # PocketSphinx analyses 10 ms frames
CHUNK_S = 20.0                  # decode at most this much audio as one utterance (memory stays flat)
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
LANGUAGE_WEIGHT = 1.0           # of the phone bigram against the acoustics (see _phone_loop_decoder)


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """16-bit PCM for PocketSphinx, with a fixed faint noise added: runs of exact digital silence
    (synthetic speech, edited dialog) drive its log energies to -inf and make whole clips
    unalignable; a -70 dBFS floor, the same every run, changes nothing audible."""
    noise = np.random.default_rng(len(samples)).normal(0.0, DITHER, len(samples)).astype(np.float32)
    return (np.clip(np.asarray(samples, np.float32) + noise, -1.0, 1.0) * 32767.0).astype("<i2")


def decoder_settings() -> dict:
    """PocketSphinx settings of the phone loop (JSON-able: the helper process gets them too)."""
    folder = model_dir()
    # Narrower beams and 2 Gaussians per senone: 1.6x faster than the defaults and the same /p b m/
    # on samples/speech.wav (one-off comparison of decoder settings on 2 busy cores; the default
    # path's speed as shipped is bench/lipsync.py --speed).
    # Language weight 1 (PocketSphinx's default for a phone loop is 6.5): the phone bigram then
    # overrules the acoustics less and short /p b m/ survive. Chosen on the espeak held-out voices
    # only (the engine the network trained on): the loop's /p b m/ recall there, within 30 ms,
    # 28 % at the default, 45 % at 1, 39 % at 2, 37 % at 3 (weights/provenance.json, lipsync_tuning).
    return dict(hmm=os.path.join(folder, "en-us"), allphone=os.path.join(folder, "en-us-phone.lm.bin"),
                samprate=16000, beam=1e-30, pbeam=1e-30, topn=2, lw=LANGUAGE_WEIGHT, loglevel="FATAL")


@functools.lru_cache(maxsize=1)
def _decoders() -> sphinx_helper.Decoders:
    """This process's phone-loop decoder (built on first use)."""
    return sphinx_helper.Decoders({"loop": decoder_settings()})


def chunk_bounds(samples: np.ndarray, sr: int) -> list[tuple[int, int]]:
    """Cut points that split the recording into an even number of near-equal chunks (so two
    helpers finish together) of at most CHUNK_S, each at the quietest 10 ms frame within SEARCH_S
    around its equal share; a recording of up to CHUNK_S - SEARCH_S is one chunk."""
    n, chunk, search, hop = len(samples), int(CHUNK_S * sr), int(SEARCH_S * sr), int(FRAME_S * sr)
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
        window = samples[lo:hi]
        energy = np.add.reduceat(window.astype(np.float64) ** 2, np.arange(0, len(window), hop))
        cut = lo + int(np.argmin(energy)) * hop
        bounds.append((start, cut))
        start = cut
    bounds.append((start, n))
    return bounds


class Recognition:
    """Free phone-loop recognition of a whole recording that runs while the caller works:
    constructing it hands the chunks to helper processes (``sphinx_pool``); ``result()`` waits
    for them, decodes in this process whatever they could not, and joins the chunks into one time
    line. This process decodes nothing while helpers run: its decoder would hold the GIL and
    starve the threads that feed them."""

    def __init__(self, audio: Audio, helpers: int | None = None):
        if audio.sample_rate != 16000:
            raise ValueError("phone recognition needs 16 kHz audio (load_audio resamples)")
        self.audio = audio
        self.bounds = chunk_bounds(audio.samples, audio.sample_rate)
        wanted = sphinx_pool.helper_count() if helpers is None else helpers
        # One chunk (up to CHUNK_S of audio) decodes faster here than a helper starts.
        count = min(wanted, len(self.bounds)) if len(self.bounds) > 1 else 0
        self._pool = sphinx_pool.Pool({"loop": decoder_settings()}, count) if count else None
        self._batch = (self._pool.submit([({"kind": "loop"}, functools.partial(self.pcm, k))
                                          for k in range(len(self.bounds))]) if self._pool else None)

    @property
    def helpers(self) -> int:
        """Helper processes still running."""
        return self._pool.alive if self._pool else 0

    def pcm(self, k: int) -> bytes:
        a, b = self.bounds[k]
        return to_pcm16(self.audio.samples[a:b]).tobytes()

    def _close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def cancel(self) -> None:
        """Stop: nothing more is decoded and the helper processes end (the caller failed)."""
        if self._batch is not None:
            self._batch.cancel()
        self._close()

    def result(self) -> list[Phone]:
        segments = self._batch.results() if self._batch else [sphinx_pool.NOT_RUN] * len(self.bounds)
        self._close()
        for k, seg in enumerate(segments):
            if seg is sphinx_pool.NOT_RUN:
                segments[k] = sphinx_helper.loop_chunk(_decoders(), self.pcm(k))
        phones: list[Phone] = []
        for (a, _), chunk in zip(self.bounds, segments):
            t0 = a / self.audio.sample_rate
            for word, start, end in chunk:
                name = word.upper()
                name = name if name in _CLASS_OF else "SIL"
                phones.append(Phone(name, t0 + start * FRAME_S, t0 + (end + 1) * FRAME_S))
        return phones


def recognise_phones(audio: Audio, helpers: int | None = None) -> list[Phone]:
    """Free phone-loop recognition (no transcript) over the whole recording, in chunks."""
    return Recognition(audio, helpers).result()


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


def evidence_for(audio: Audio, n_frames: int, fps: float) -> np.ndarray:
    """Recognise and convert in one step (what the network's front end calls)."""
    return phone_evidence(recognise_phones(audio), n_frames, fps)
